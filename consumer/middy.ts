import type { MiddlewareObj, Request } from '@middy/core';
import { RotatorError, toRotatorError } from '../shared/errors.js';
import type { SecretObject } from '../shared/secret.js';
import { createSecretReader, isAuthenticationError, type SecretReader, type SecretReaderOptions } from './reader.js';

/**
 * A middy middleware for Lambda consumers: the secret, parsed, on the handler's context, read through a SecretReader.
 *
 * - The reader is made once, with the middleware (at module scope, during the cold start), so its cache lasts as long
 *   as the warm container: one store read per TTL, not per invocation.
 * - `before` puts `await reader.getJson()` on `context[contextKey]` (default `secret`). When the store cannot be read
 *   and nothing usable is cached, the invocation fails there, before the handler runs.
 * - `onError`: when the handler (or a later middleware) failed because the credential was refused
 *   (isAuthenticationError, also when wrapped as another error's `cause`), the reader reads the secret again at once,
 *   so the next invocation, or Lambda's retry of this one, has the new value. The invocation's error is left as it is:
 *   middy cannot run the handler again, and a handler that wants this invocation to succeed uses
 *   `reader.withSecret` itself.
 */
export type RotatorSecretOptions<K extends string = 'secret'> = ({ reader: SecretReader } | SecretReaderOptions) & {
  /** Where on the context the parsed secret goes (default `secret`): an identifier the Lambda context does not use. */
  contextKey?: K;
  /** Told when the refresh after a refused credential failed (the invocation's own error is what Lambda sees). */
  onRefreshError?: (error: RotatorError) => void;
};

/** Lambda's context as middy types it (so these declarations name no package the application may lack). */
type LambdaContext = Request['context'];

/** The context the handler receives: Lambda's, with the secret under `contextKey`. */
export type ContextWithSecret<K extends string = 'secret'> = LambdaContext & { readonly [key in K]: Readonly<SecretObject> };

/** Names the Lambda runtime or middy put on the context, and names that reach prototypes. */
const RESERVED_KEYS: ReadonlySet<string> = new Set([
  'callbackWaitsForEmptyEventLoop',
  'functionName',
  'functionVersion',
  'invokedFunctionArn',
  'memoryLimitInMB',
  'awsRequestId',
  'logGroupName',
  'logStreamName',
  'identity',
  'clientContext',
  'tenantId',
  'getRemainingTimeInMillis',
  'done',
  'fail',
  'succeed',
  '__proto__',
  'constructor',
  'prototype',
]);
const CONTEXT_KEY = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/;

export function rotatorSecret<K extends string = 'secret'>(options: RotatorSecretOptions<K>): MiddlewareObj<unknown, unknown, Error, ContextWithSecret<K>> {
  const contextKey = options.contextKey ?? 'secret';
  if (typeof contextKey !== 'string' || !CONTEXT_KEY.test(contextKey) || RESERVED_KEYS.has(contextKey)) {
    throw new RotatorError(
      'INVALID_INPUT',
      'contextKey must be an identifier of at most 64 characters that the Lambda context does not already use (such as "secret" or "dbSecret")',
    );
  }
  const reader = 'reader' in options ? options.reader : createSecretReader(options);
  return {
    name: 'rotatorSecret',
    before: async (request) => {
      // Defined, not assigned: a plain assignment could land on a setter of the context object.
      Object.defineProperty(request.context, contextKey, { value: await reader.getJson(), enumerable: true, configurable: true, writable: false });
    },
    onError: async (request) => {
      if (!isAuthenticationError(request.error)) return;
      try {
        await reader.refresh();
      } catch (error) {
        options.onRefreshError?.(toRotatorError(error));
      }
    },
  };
}
