import { describe, expect, it } from 'vitest';
import { RotatorError } from '../../shared/errors.js';
import { isSecretDisabled, keyVaultErrorFacts, mapKeyVaultError } from '../../stores/azure/errors.js';

/**
 * The mapping of Key Vault errors, on errors shaped as @azure/keyvault-secrets raises them: a RestError with the
 * HTTP status, the service's `error.code` as `code`, and the body deserialized into `details` (inner error under
 * `innerError`). test/integration/key-vault-fake.test.ts maps the real SDK's errors from the fake.
 */
function restError(statusCode: number | undefined, code: string | undefined, message: string, innerCode?: string): Error {
  return Object.assign(new Error(message), {
    name: 'RestError',
    ...(statusCode === undefined ? {} : { statusCode }),
    ...(code === undefined ? {} : { code }),
    details: { error: { code, message, ...(innerCode === undefined ? {} : { innerError: { code: innerCode } }) } },
  });
}

const ctx = { operation: 'getSecret', dataAction: 'secrets/getSecret/action', secretName: 'db-app' };

describe('mapKeyVaultError', () => {
  it('reads status, code and inner code (either spelling of the inner error)', () => {
    expect(keyVaultErrorFacts(restError(403, 'Forbidden', 'x', 'SecretDisabled'))).toEqual({ name: 'RestError', statusCode: 403, code: 'Forbidden', innerCode: 'SecretDisabled' });
    const rawBody = Object.assign(new Error('x'), { statusCode: 409, code: 'Conflict', details: { error: { innererror: { code: 'ObjectIsDeletedButRecoverable' } } } });
    expect(keyVaultErrorFacts(rawBody).innerCode).toBe('ObjectIsDeletedButRecoverable');
    expect(keyVaultErrorFacts('text')).toEqual({ name: 'Error' });
    expect(keyVaultErrorFacts(null)).toEqual({ name: 'Error' });
  });

  it('maps 404 SecretNotFound to SECRET_NOT_FOUND, or VERSION_NOT_FOUND when a version was asked for', () => {
    const e = restError(404, 'SecretNotFound', 'A secret with (name/id) db-app was not found in this key vault.');
    expect(mapKeyVaultError(e, ctx)).toMatchObject({ code: 'SECRET_NOT_FOUND', retryable: false });
    const v = mapKeyVaultError(e, { ...ctx, version: 'a'.repeat(32) });
    expect(v.code).toBe('VERSION_NOT_FOUND');
    expect(v.message).toContain('a'.repeat(32));
    expect(v.cause).toBe(e);
  });

  it('maps 403 SecretDisabled to VERSION_NOT_FOUND naming the disabled version, and other 403s to STORE_IO naming the data action', () => {
    const disabled = restError(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled');
    expect(isSecretDisabled(disabled)).toBe(true);
    expect(mapKeyVaultError(disabled, ctx)).toMatchObject({ code: 'VERSION_NOT_FOUND', message: expect.stringMatching(/latest version is disabled/) as unknown });
    expect(mapKeyVaultError(disabled, { ...ctx, version: 'b'.repeat(32) }).message).toContain(`version ${'b'.repeat(32)} is disabled`);

    const rbac = restError(403, 'Forbidden', 'Caller is not authorized to perform action on resource.', 'ForbiddenByRbac');
    expect(isSecretDisabled(rbac)).toBe(false);
    const mapped = mapKeyVaultError(rbac, ctx);
    expect(mapped).toMatchObject({ code: 'STORE_IO', retryable: false });
    expect(mapped.message).toContain('Microsoft.KeyVault/vaults/secrets/getSecret/action');
    expect(mapKeyVaultError(restError(403, 'Forbidden', 'Client address is not authorized', 'ForbiddenByConnection'), ctx).message).toMatch(/firewall/);
    expect(mapKeyVaultError(restError(401, 'Unauthorized', 'AKV10032: Invalid issuer.'), ctx)).toMatchObject({ code: 'STORE_IO', retryable: false });
  });

  it('maps 409 ObjectIsDeletedButRecoverable to SECRET_EXISTS saying how to recover, and a passing conflict to a retryable STORE_IO', () => {
    const deleted = restError(409, 'Conflict', 'Secret db-app is currently in a deleted but recoverable state', 'ObjectIsDeletedButRecoverable');
    const mapped = mapKeyVaultError(deleted, { ...ctx, operation: 'setSecret' });
    expect(mapped.code).toBe('SECRET_EXISTS');
    expect(mapped.message).toMatch(/az keyvault secret recover --name db-app/);
    expect(mapKeyVaultError(restError(409, 'Conflict', 'being deleted', 'ObjectIsBeingDeleted'), ctx)).toMatchObject({ code: 'STORE_IO', retryable: true });
    expect(mapKeyVaultError(restError(409, 'Conflict', 'other'), ctx)).toMatchObject({ code: 'INTERNAL', retryable: false });
  });

  it('maps throttling, 5xx and network failures to a retryable STORE_IO', () => {
    for (const e of [
      restError(429, 'Throttled', 'Request was not processed because too many requests were received.'),
      restError(500, 'InternalServerError', 'x'),
      restError(503, 'ServiceUnavailable', 'x'),
      restError(undefined, 'ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:443'),
      restError(undefined, 'REQUEST_SEND_ERROR', 'socket hang up'),
    ]) {
      expect(mapKeyVaultError(e, ctx), e.message).toMatchObject({ code: 'STORE_IO', retryable: true });
    }
  });

  it('maps 400 BadParameter to INVALID_INPUT and scrubs any value the request carried', () => {
    const value = 'hunter2-very-secret-value';
    const e = restError(400, 'BadParameter', `Property value has invalid value ${value}`);
    const mapped = mapKeyVaultError(e, { ...ctx, operation: 'setSecret', scrub: [value] });
    expect(mapped.code).toBe('INVALID_INPUT');
    expect(mapped.message).not.toContain(value);
    expect(mapped.message).toContain('[redacted]');
  });

  it('names credential failures without echoing their text, and the SDK’s challenge mismatch', () => {
    const unavailable = Object.assign(new Error('ManagedIdentityCredential: no endpoint; AzureCliCredential: token=abc'), { name: 'CredentialUnavailableError' });
    const mapped = mapKeyVaultError(unavailable, ctx);
    expect(mapped).toMatchObject({ code: 'STORE_IO', retryable: false });
    expect(mapped.message).not.toContain('token=abc');
    const mismatch = new Error("The challenge resource 'vault.azure.net' does not match the requested domain. Set disableChallengeResourceVerification to true");
    expect(mapKeyVaultError(mismatch, ctx).message).toMatch(/challenge named another resource .* no token was sent/);
  });

  it('keeps RotatorErrors, honours call-specific codes and the caller’s abort reason', () => {
    const own = new RotatorError('STALE_PENDING', 'x');
    expect(mapKeyVaultError(own, ctx)).toBe(own);
    const special = mapKeyVaultError(restError(403, 'Forbidden', 'x', 'SecretDisabled'), {
      ...ctx,
      special: { SecretDisabled: { code: 'NOT_PENDING', message: 'the pending companion is disabled' } },
    });
    expect(special).toMatchObject({ code: 'NOT_PENDING', message: 'the pending companion is disabled' });
    const controller = new AbortController();
    const reason = new RotatorError('TARGET_UNREACHABLE', 'deadline near');
    controller.abort(reason);
    expect(mapKeyVaultError(restError(undefined, 'AbortError', 'aborted'), { ...ctx, signal: controller.signal })).toBe(reason);
  });

  it('escapes control characters a service message could carry', () => {
    const mapped = mapKeyVaultError(restError(418, 'Teapot', 'line one\nforged: line'), ctx);
    expect(mapped.code).toBe('INTERNAL');
    expect(mapped.message).not.toContain('\n');
  });
});
