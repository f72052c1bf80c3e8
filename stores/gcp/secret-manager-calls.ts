import type { SecretManagerServiceClient, protos } from '@google-cloud/secret-manager';
import { RotatorError } from '../../shared/errors.js';
import { checkProjectId } from './client.js';
import { mapSecretManagerError, type SecretManagerMapContext } from './errors.js';
import { SECRET_MANAGER_ID_CHARS, SECRET_MANAGER_MAX_ID, SECRET_MANAGER_MAX_VALUE_BYTES } from './limits.js';

export type Secret = protos.google.cloud.secretmanager.v1.ISecret;
export type SecretVersion = protos.google.cloud.secretmanager.v1.ISecretVersion;
export type VersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED';

/** A version of a secret as the store reads it: its number, state, creation and etag, checked. */
export interface VersionFacts {
  n: number;
  state: VersionState;
  createdAt: Date;
  etag: string;
}

/** What a Google time or duration field decodes to (int64 as a number, a string or a Long). */
type Int64 = number | string | { toNumber(): number } | null | undefined;

/** A protobuf int64 as a safe integer, or undefined. */
export function int64(value: Int64): number | undefined {
  let n: number | undefined;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^-?\d{1,19}$/.test(value)) n = Number(value);
  else if (value !== null && typeof value === 'object') n = value.toNumber();
  return n !== undefined && Number.isSafeInteger(n) ? n : undefined;
}

/** A protobuf Timestamp as a Date, or undefined when absent or malformed. */
export function timestampDate(ts: { seconds?: Int64; nanos?: number | null } | null | undefined): Date | undefined {
  const seconds = int64(ts?.seconds);
  if (seconds === undefined) return undefined;
  const nanos = typeof ts?.nanos === 'number' && ts.nanos >= 0 && ts.nanos < 1e9 ? ts.nanos : 0;
  const date = new Date(seconds * 1000 + Math.floor(nanos / 1e6));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** A protobuf Duration in ms, or undefined when absent or malformed. */
export function durationMs(d: { seconds?: Int64; nanos?: number | null } | null | undefined): number | undefined {
  const seconds = int64(d?.seconds);
  if (seconds === undefined || seconds < 0) return undefined;
  const nanos = typeof d?.nanos === 'number' && d.nanos >= 0 && d.nanos < 1e9 ? d.nanos : 0;
  return seconds * 1000 + Math.floor(nanos / 1e6);
}

/** The version aliases of a secret as numbers; an alias whose value is not a version number is left out. */
export function aliasesOf(secret: Secret): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(secret.versionAliases ?? {})) {
    const n = int64(value);
    if (n !== undefined && n > 0) Object.defineProperty(out, name, { value: n, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * Every Secret Manager RPC the store makes goes through here: resource names built from checked parts, what the
 * server sends back checked before it is used, each failure mapped to a RotatorError (mapSecretManagerError), and the
 * caller's signal honoured.
 *
 * google-gax 5's CallOptions take no AbortSignal, and the client's promise hides the call's own `cancel()`. So a
 * signal that is already aborted stops a call before it is sent, and one that aborts while a call is under way
 * rejects it at once with the signal's reason; the RPC itself then runs out on its own deadline (60 s, the client's
 * default), its answer ignored.
 */
export class SecretManagerCalls {
  readonly projectId: string;
  readonly #client: SecretManagerServiceClient;

  constructor(client: SecretManagerServiceClient, projectId: string) {
    this.#client = client;
    this.projectId = checkProjectId(projectId);
  }

  /** `projects/<project>/secrets/<id>`; ids are checked by the caller against the store's grammar first. */
  secretName(secretId: string): string {
    return `projects/${this.projectId}/secrets/${secretId}`;
  }

  versionName(secretId: string, version: number | string): string {
    return `${this.secretName(secretId)}/versions/${version}`;
  }

  /**
   * The project part of a resource name the service answered with: Secret Manager names the project by its number in
   * answers and notifications, whatever the request said, so this project's id or any project number is accepted
   * (the answer is to a request for this project; the number is not known to the store).
   */
  #ownProject(project: string | undefined): boolean {
    return project === this.projectId || (project !== undefined && /^[1-9][0-9]{0,19}$/.test(project));
  }

  /** The id of a secret from its resource name, if it is one of this project's. */
  secretIdOf(name: string | null | undefined): string | undefined {
    const match = typeof name === 'string' ? /^projects\/([^/]+)\/secrets\/([^/]+)$/.exec(name) : null;
    const id = match?.[2];
    if (id === undefined || !this.#ownProject(match?.[1])) return undefined;
    return id.length <= SECRET_MANAGER_MAX_ID && SECRET_MANAGER_ID_CHARS.test(id) ? id : undefined;
  }

  /** The version number in a version's resource name, if it names a version of `secretId`. */
  versionOf(secretId: string, name: string | null | undefined): number | undefined {
    const match = typeof name === 'string' ? /^projects\/([^/]+)\/secrets\/([^/]+)\/versions\/([^/]+)$/.exec(name) : null;
    const tail = match?.[3];
    if (tail === undefined || match?.[2] !== secretId || !this.#ownProject(match[1])) return undefined;
    return /^[1-9]\d{0,15}$/.test(tail) && Number.isSafeInteger(Number(tail)) ? Number(tail) : undefined;
  }

  async getSecret(secretId: string, signal?: AbortSignal): Promise<Secret> {
    const [secret] = await this.#call({ operation: 'GetSecret', secretId, signal }, () => this.#client.getSecret({ name: this.secretName(secretId) }));
    return this.#checkSecret(secretId, secret);
  }

  /** Every secret of the project matching `filter` (labels only: Secret Manager filters nothing else reliably), all pages. */
  async listSecrets(filter: string, signal?: AbortSignal): Promise<Secret[]> {
    return this.#call({ operation: 'ListSecrets', signal }, async () => {
      const out: Secret[] = [];
      for await (const secret of this.#client.listSecretsAsync({ parent: `projects/${this.projectId}`, filter }, { autoPaginate: false })) {
        this.#throwIfAborted(signal);
        out.push(secret);
      }
      return out;
    });
  }

  async createSecret(secretId: string, secret: Secret): Promise<Secret> {
    const [created] = await this.#call({ operation: 'CreateSecret', secretId }, () =>
      this.#client.createSecret({ parent: `projects/${this.projectId}`, secretId, secret }),
    );
    return this.#checkSecret(secretId, created);
  }

  /** UpdateSecret of `paths` (snake_case field names) with the secret's etag in `secret`: a mismatch is FAILED_PRECONDITION. */
  async updateSecret(secretId: string, secret: Secret, paths: readonly string[], signal?: AbortSignal): Promise<Secret> {
    const [updated] = await this.#call({ operation: 'UpdateSecret', secretId, signal }, () =>
      this.#client.updateSecret({ secret: { ...secret, name: this.secretName(secretId) }, updateMask: { paths: [...paths] } }),
    );
    return this.#checkSecret(secretId, updated);
  }

  /** Every version of the secret, newest first as the service lists them, checked. */
  async listVersions(secretId: string, signal?: AbortSignal): Promise<VersionFacts[]> {
    return this.#call({ operation: 'ListSecretVersions', secretId, signal }, async () => {
      const out: VersionFacts[] = [];
      for await (const version of this.#client.listSecretVersionsAsync({ parent: this.secretName(secretId) }, { autoPaginate: false })) {
        this.#throwIfAborted(signal);
        out.push(this.#checkVersion(secretId, version));
      }
      return out;
    });
  }

  async getVersion(secretId: string, version: number | string, signal?: AbortSignal): Promise<VersionFacts> {
    const [got] = await this.#call({ operation: 'GetSecretVersion', secretId, version: String(version), signal }, () =>
      this.#client.getSecretVersion({ name: this.versionName(secretId, version) }),
    );
    return this.#checkVersion(secretId, got);
  }

  /**
   * The value of a version (a number, `latest` or an alias) and the number it resolved to. A version that is not
   * ENABLED is refused by the service with FAILED_PRECONDITION: VERSION_NOT_FOUND here, as it is retired for the port.
   */
  async access(secretId: string, version: number | string, signal?: AbortSignal): Promise<{ n: number; value: string }> {
    const label = String(version);
    const [response] = await this.#call(
      {
        operation: 'AccessSecretVersion',
        secretId,
        version: label,
        signal,
        special: {
          FAILED_PRECONDITION: {
            code: 'VERSION_NOT_FOUND',
            message: `version ${label} of secret ${secretId} is disabled or destroyed in Google Secret Manager, so its value cannot be read (enable it again, or add a new value)`,
          },
        },
      },
      () => this.#client.accessSecretVersion({ name: this.versionName(secretId, version) }),
    );
    const n = this.versionOf(secretId, response.name);
    if (n === undefined) throw new RotatorError('STORE_IO', `Google Secret Manager answered AccessSecretVersion on secret ${secretId} with another resource's name`);
    return { n, value: decodePayload(response.payload?.data, secretId) };
  }

  /** Adds `value` as the secret's newest version and returns its number. The value is scrubbed from any error text. */
  async addVersion(secretId: string, value: string, signal?: AbortSignal): Promise<number> {
    const [added] = await this.#call({ operation: 'AddSecretVersion', secretId, scrub: [value], signal }, () =>
      this.#client.addSecretVersion({ parent: this.secretName(secretId), payload: { data: Buffer.from(value, 'utf8') } }),
    );
    const n = this.versionOf(secretId, added.name);
    if (n === undefined) throw new RotatorError('STORE_IO', `Google Secret Manager answered AddSecretVersion on secret ${secretId} with another resource's name`);
    return n;
  }

  /** Destroys version n if its etag is still `etag` (with the secret's version_destroy_ttl the service disables it and destroys it later). */
  async destroyVersion(secretId: string, n: number, etag: string, signal?: AbortSignal): Promise<VersionFacts> {
    const [destroyed] = await this.#call({ operation: 'DestroySecretVersion', secretId, version: String(n), signal }, () =>
      this.#client.destroySecretVersion({ name: this.versionName(secretId, n), etag }),
    );
    return this.#checkVersion(secretId, destroyed);
  }

  #checkSecret(secretId: string, secret: Secret | undefined): Secret {
    if (secret === undefined || this.secretIdOf(secret.name) !== secretId || typeof secret.etag !== 'string' || secret.etag === '') {
      throw new RotatorError('STORE_IO', `Google Secret Manager answered for secret ${secretId} with another resource, or without an etag`);
    }
    return secret;
  }

  #checkVersion(secretId: string, version: SecretVersion | undefined): VersionFacts {
    const n = this.versionOf(secretId, version?.name);
    const state = version?.state;
    const createdAt = timestampDate(version?.createTime);
    if (n === undefined || (state !== 'ENABLED' && state !== 'DISABLED' && state !== 'DESTROYED') || createdAt === undefined) {
      throw new RotatorError('STORE_IO', `Google Secret Manager described a version of secret ${secretId} without a valid name, state or creation time`);
    }
    return { n, state, createdAt, etag: typeof version?.etag === 'string' ? version.etag : '' };
  }

  #throwIfAborted(signal: AbortSignal | undefined): void {
    if (signal?.aborted === true) throw signal.reason;
  }

  async #call<T>(ctx: SecretManagerMapContext, run: () => Promise<T>): Promise<T> {
    try {
      this.#throwIfAborted(ctx.signal);
      return await raced(run(), ctx.signal);
    } catch (error) {
      throw mapSecretManagerError(error, ctx);
    }
  }
}

/** `promise`, or the signal's reason as soon as it aborts; the abandoned promise's own failure is swallowed. */
function raced<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  promise.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    if (signal.aborted) {
      onAbort(); // aborted while the call was being made
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    promise.finally(() => signal.removeEventListener('abort', onAbort)).then(resolve, reject);
  });
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A payload as text: bytes within the service's limit that are valid UTF-8 (a value written by hand may be neither). */
function decodePayload(data: Uint8Array | string | null | undefined, secretId: string): string {
  if (!(data instanceof Uint8Array)) throw new RotatorError('STORE_IO', `Google Secret Manager returned no payload for secret ${secretId}`);
  if (data.byteLength > SECRET_MANAGER_MAX_VALUE_BYTES) {
    throw new RotatorError('STORE_IO', `Google Secret Manager returned a payload of ${data.byteLength} bytes for secret ${secretId}, over its own limit`);
  }
  try {
    return UTF8.decode(data);
  } catch {
    throw new RotatorError('INVALID_SECRET', `a version of secret ${secretId} is not UTF-8 text, so it cannot be a Rotator secret`);
  }
}
