import { RotatorError, type ErrorCode } from '../shared/errors.js';

/**
 * What every store adapter's error mapping shares: the context a call hands its mapper, the first answers before
 * any cloud-specific reading of the error, and the scrubbing of request values out of a service's text.
 */

/** Node's codes for a network failure; each mapper adds its SDK's own (e.g. Azure's REQUEST_SEND_ERROR). */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);

/** Azure's core-rest-pipeline reports a request it could not send as REQUEST_SEND_ERROR. */
export const AZURE_NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([...NETWORK_ERROR_CODES, 'REQUEST_SEND_ERROR']);

export interface SpecialMeaning {
  code: ErrorCode;
  message: string;
  retryable?: boolean;
}

export interface CallErrorContext {
  /** Service error codes with a meaning specific to this call. */
  special?: Record<string, SpecialMeaning>;
  /** Values the request carried, removed from any text that reaches the message. */
  scrub?: readonly string[];
  /** The caller's signal: a call it aborted fails with the caller's own reason (e.g. a deadline that is near). */
  signal?: AbortSignal | undefined;
}

/**
 * An error that needs no cloud-specific reading: one already typed, or the caller's own reason when the caller
 * aborted the call; then the meaning the call gave one of `codes`, in order. Undefined when the mapper must read it.
 */
export function mappedAlready(error: unknown, ctx: CallErrorContext, codes: ReadonlyArray<string | undefined> = []): RotatorError | undefined {
  if (error instanceof RotatorError) return error;
  if (ctx.signal?.aborted === true && ctx.signal.reason instanceof RotatorError) return ctx.signal.reason;
  for (const code of codes) {
    const special = code === undefined ? undefined : ctx.special?.[code];
    if (special !== undefined) return new RotatorError(special.code, special.message, { retryable: special.retryable ?? false, cause: error });
  }
  return undefined;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Removes every value the request carried from a text, should a service or proxy ever echo one. */
export function scrub(text: string, values: readonly string[] = []): string {
  let out = text;
  for (const value of values) if (value.length > 0) out = out.split(value).join('[redacted]');
  return out;
}
