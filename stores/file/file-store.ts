import { createHash, randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { dirname, join } from 'node:path';
import type * as z from 'zod';
import { RotatorError } from '../../shared/errors.js';
import { formatFailure, parseFailure } from '../../shared/schedule.js';
import { checkSecretId as checkIdWith, type SecretIdGrammar } from '../../shared/secret-id.js';
import { checkStage, checkValue, STAGES, type Lease, type RotationFailure, type RotationSettings, type SecretInfo, type SecretStore, type Stage, type VersionSelector, type StoreHints } from '../../shared/store.js';
import { AuthenticationError, assertKey, createKeyCheck, keyMatches, openValue, sealValue } from './crypto.js';
import {
  DESCRIPTION_MAX,
  SECRET_ID_RULE,
  TAG_RULE,
  emptyDocument,
  parseDocument,
  rotationInputSchema,
  serializeDocument,
  tagsSchema,
  versionIdSchema,
  type StoreDocument,
  type StoredSecret,
  type StoredVersion,
} from './format.js';
import { ensureDir, errnoCode, ioError, readIfExists, removeAbandonedTemps, writeFileAtomic } from './io.js';
import { KEY_ENV } from './key.js';
import { isProcessAlive, tryLock, waitForLock, type LockHolder } from './lock.js';

export interface FileStoreLockOptions {
  /** How long a write waits for another writer's store lock before STORE_LOCKED (default 10 s). */
  timeoutMs?: number;
  /** Backoff between attempts: starts at minDelayMs, doubles with jitter up to maxDelayMs. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** How old an empty or unreadable lock file must be before it is treated as abandoned (default 2 s). */
  unreadableStaleMs?: number;
  /** Liveness check for lock holders on this host; defaults to `process.kill(pid, 0)`. */
  isAlive?: (pid: number) => boolean;
}

export interface FileStoreOptions {
  /** The store file. Missing is an empty store; the first write creates it (and its directory). */
  path: string;
  /** 32 bytes, e.g. from `loadOrCreateKey`. */
  key: Buffer;
  clock?: () => Date;
  newVersionId?: () => string;
  /** Where the key came from, named when it does not match; defaults to what `loadOrCreateKey` recorded. */
  keySource?: string;
  lock?: FileStoreLockOptions;
}

export interface CreateSecretOptions {
  /** Defaults to rotation disabled, as a secret starts in AWS Secrets Manager. */
  rotation?: RotationSettings;
  description?: string;
  /** The secret's tags (SecretInfo.tags); see format.ts for the limits. */
  tags?: Record<string, string>;
}

export interface SecretSummary {
  secretId: string;
  rotation: RotationSettings;
  versionCount: number;
  description?: string;
}

export const DEFAULT_STORE_LOCK_TIMEOUT_MS = 10_000;

/** 64 KiB, as on AWS Secrets Manager, so a secret moves between the stores either way. */
export const FILE_STORE_MAX_VALUE_BYTES = 65_536;

/** The lock file a write holds while it reads, changes and replaces the store file. */
export function storeLockPath(storePath: string): string {
  return `${storePath}.lock`;
}

/** The lock file held for a whole rotation of one secret; named by a hash, since ids may contain "/". */
export function rotationLockPath(storePath: string, secretId: string): string {
  return join(`${storePath}.locks`, `${createHash('sha256').update(secretId, 'utf8').digest('hex')}.lock`);
}

/**
 * The embedded store: one JSON file of versions with stage labels (format.ts), values sealed with AES-256-GCM
 * (crypto.ts). Every write is a read-modify-write under a short store lock, replacing the file atomically
 * (io.ts), so concurrent CLI runs and cron jobs never lose an update and readers, which take no lock, always
 * see a whole file. Any file that fails to parse, validate or authenticate is refused before anything is
 * written, so a damaged store stays exactly as it was for a person to restore.
 */
export class FileStore implements SecretStore {
  /** Lock files exclude a second rotation (and a purge) of the same secret on this host. */
  readonly rotationLock = 'exclusive';
  readonly hints: StoreHints = {
    cancelRotation: (secretId) => `rotator secrets cancel-rotation ${secretId}`,
    enableRotation: (secretId) => `rotator secrets rotation ${secretId} --enable`,
  };
  readonly path: string;
  readonly maxValueBytes = FILE_STORE_MAX_VALUE_BYTES;
  readonly #key: Buffer;
  readonly #clock: () => Date;
  readonly #newVersionId: () => string;
  readonly #keySource: string;
  readonly #lock: FileStoreLockOptions;

  constructor(options: FileStoreOptions) {
    assertKey(options.key);
    this.path = options.path;
    this.#key = Buffer.from(options.key); // our own copy: a caller zeroing or reusing theirs changes nothing here
    this.#clock = options.clock ?? (() => new Date());
    this.#newVersionId = options.newVersionId ?? randomUUID;
    this.#keySource = options.keySource ?? `${KEY_ENV} if it is set, else the key file ${options.path}.key`;
    this.#lock = options.lock ?? {};
  }

  // ---- the SecretStore port ----

  async describe(secretId: string): Promise<SecretInfo> {
    checkSecretId(secretId);
    const secret = requireSecret(await this.#read(), secretId, this.path);
    return {
      secretId: secret.secretId,
      rotation: { ...secret.rotation, ...(secret.rotation.schedule === undefined ? {} : { schedule: { ...secret.rotation.schedule } }) },
      tags: { ...secret.tags },
      ...lastErrorOf(secret),
      versions: byCreation(secret.versions).map((v) => ({
        versionId: v.versionId,
        stages: [...v.stages],
        createdAt: new Date(v.createdAt),
        hasValue: v.value !== undefined,
        ...(v.promotedAt === undefined ? {} : { promotedAt: new Date(v.promotedAt) }),
      })),
    };
  }

  async getValue(secretId: string, selector: VersionSelector): Promise<string> {
    checkSecretId(secretId);
    const stage = checkStage(selector.stage);
    const versionId = 'versionId' in selector ? checkVersionId(selector.versionId) : undefined;
    if (stage === undefined && versionId === undefined) throw new RotatorError('INVALID_INPUT', 'a version selector needs a stage or a versionId');
    const secret = requireSecret(await this.#read(), secretId, this.path);
    const version = versionId === undefined ? withStage(secret, stage ?? 'CURRENT') : findVersion(secret, versionId);
    const what = versionId === undefined ? `no version labelled ${stage ?? 'CURRENT'}` : `no version ${versionId}`;
    if (version === undefined) throw new RotatorError('VERSION_NOT_FOUND', `secret ${secretId} has ${what}`);
    if (stage !== undefined && !version.stages.includes(stage)) {
      throw new RotatorError('VERSION_NOT_FOUND', `version ${version.versionId} of secret ${secretId} is not labelled ${stage}`);
    }
    if (version.value === undefined) {
      throw new RotatorError('VERSION_NOT_FOUND', `version ${version.versionId} of secret ${secretId} has no value yet (a rotation started but did not store one)`);
    }
    return this.#decrypt(secret, version);
  }

  async startRotation(secretId: string, token: string): Promise<void> {
    checkSecretId(secretId);
    checkVersionId(token);
    await this.#mutate(secretId, (doc) => {
      const secret = requireSecret(doc, secretId, this.path);
      const existing = findVersion(secret, token);
      if (existing !== undefined) {
        if (existing.stages.includes('PENDING')) return false;
        throw new RotatorError(
          'VERSION_CONFLICT',
          `version ${token} of secret ${secretId} already exists and is not PENDING (${labels(existing)}); start a rotation with a new token`,
        );
      }
      const stub: StoredVersion = { versionId: token, createdAt: this.#now(), stages: [] };
      secret.versions.push(stub);
      moveStage(secret, 'PENDING', stub);
      return true;
    });
  }

  async putPending(secretId: string, token: string, value: string): Promise<void> {
    checkSecretId(secretId);
    checkVersionId(token);
    checkValue(value, secretId, FILE_STORE_MAX_VALUE_BYTES, 'the file store');
    await this.#mutate(secretId, (doc) => {
      const secret = requireSecret(doc, secretId, this.path);
      let version = findVersion(secret, token);
      if (version?.value !== undefined) {
        if (this.#decrypt(secret, version) === value) return false;
        throw new RotatorError(
          'VERSION_CONFLICT',
          `version ${token} of secret ${secretId} already holds a different value; a version's value never changes, so a new value needs a new token`,
        );
      }
      if (version === undefined) {
        version = { versionId: token, createdAt: this.#now(), stages: [] };
        secret.versions.push(version);
      }
      version.value = sealValue(this.#key, secretId, token, value);
      moveStage(secret, 'PENDING', version);
      return true;
    });
  }

  async promote(secretId: string, token: string): Promise<void> {
    checkSecretId(secretId);
    checkVersionId(token);
    await this.#mutate(secretId, (doc) => {
      const secret = requireSecret(doc, secretId, this.path);
      const version = findVersion(secret, token);
      if (version === undefined) throw new RotatorError('VERSION_NOT_FOUND', `secret ${secretId} has no version ${token} to promote`);
      if (version.value === undefined) {
        throw new RotatorError('VERSION_NOT_FOUND', `version ${token} of secret ${secretId} has no value yet, so it cannot become CURRENT`);
      }
      if (version.stages.includes('CURRENT')) {
        if (!version.stages.includes('PENDING')) return false;
        removeStage(secret, 'PENDING');
        return true;
      }
      const current = withStage(secret, 'CURRENT');
      if (current !== undefined) moveStage(secret, 'PREVIOUS', current);
      else removeStage(secret, 'PREVIOUS');
      if (version.stages.includes('PENDING')) removeStage(secret, 'PENDING');
      moveStage(secret, 'CURRENT', version);
      version.promotedAt = this.#now();
      return true;
    });
  }

  async retire(secretId: string, versionId: string): Promise<void> {
    checkSecretId(secretId);
    checkVersionId(versionId);
    await this.#mutate(secretId, (doc) => {
      const secret = requireSecret(doc, secretId, this.path);
      const version = findVersion(secret, versionId);
      if (version === undefined) throw new RotatorError('VERSION_NOT_FOUND', `secret ${secretId} has no version ${versionId}`);
      const live = version.stages.filter((s) => s === 'CURRENT' || s === 'PENDING');
      if (live.length > 0) {
        throw new RotatorError('INVALID_INPUT', `version ${versionId} of secret ${secretId} is ${live.join(' and ')}; only superseded versions can be retired`);
      }
      secret.versions = secret.versions.filter((v) => v !== version);
      return true;
    });
  }

  async lockRotation(secretId: string): Promise<Lease> {
    checkSecretId(secretId);
    const lockPath = rotationLockPath(this.path, secretId);
    await ensureDir(dirname(lockPath));
    const attempt = await tryLock(lockPath, this.#lock);
    if (attempt.acquired) return attempt.lock;
    throw new RotatorError(
      'ROTATION_IN_PROGRESS',
      `a rotation of secret ${secretId} is already in progress (lock held by ${holderText(attempt.holder)}); ` +
        `retry when it has finished, or if that process is gone, delete ${lockPath}`,
      { retryable: true },
    );
  }

  // ---- administration (the CLI), not part of the port ----

  async createSecret(secretId: string, value: string, options: CreateSecretOptions = {}): Promise<void> {
    checkSecretId(secretId);
    checkValue(value, secretId, FILE_STORE_MAX_VALUE_BYTES, 'the file store');
    const rotation = options.rotation === undefined ? { enabled: false } : checkRotation(options.rotation);
    const tags = options.tags === undefined ? {} : checkTags(options.tags, secretId);
    const description = options.description;
    if (description !== undefined && (typeof description !== 'string' || description.length > DESCRIPTION_MAX)) {
      throw new RotatorError('INVALID_INPUT', `the description of ${secretId} must be a string of at most ${DESCRIPTION_MAX} characters`);
    }
    await this.#mutate(undefined, (doc) => {
      if (findSecret(doc, secretId) !== undefined) {
        throw new RotatorError('SECRET_EXISTS', `secret ${secretId} already exists in ${this.path}; store a new value with putValue instead`);
      }
      const createdAt = this.#now();
      const versionId = checkVersionId(this.#newVersionId());
      const secret: StoredSecret = {
        secretId,
        ...(description === undefined ? {} : { description }),
        rotation,
        ...(Object.keys(tags).length === 0 ? {} : { tags }),
        createdAt,
        versions: [{ versionId, createdAt, stages: ['CURRENT'], value: sealValue(this.#key, secretId, versionId, value), promotedAt: createdAt }],
      };
      doc.secrets.push(secret);
      doc.secrets.sort((a, b) => (a.secretId < b.secretId ? -1 : a.secretId > b.secretId ? 1 : 0));
      return true;
    });
  }

  /**
   * Stores a new CURRENT version directly (PutSecretValue with the default stage): the old CURRENT becomes
   * PREVIOUS. A rotation under way is cancelled in the same write, exactly as `cancelRotation` does: its PENDING
   * value was derived from the CURRENT just replaced, so resuming it would set and promote a credential for the old
   * value. Returns the new version id and the cancelled PENDING version's id, if any.
   */
  async putValue(secretId: string, value: string): Promise<{ versionId: string; cancelled?: string }> {
    checkSecretId(secretId);
    checkValue(value, secretId, FILE_STORE_MAX_VALUE_BYTES, 'the file store');
    let result: { versionId: string; cancelled?: string } | undefined;
    await this.#mutate(secretId, (doc) => {
      const secret = requireSecret(doc, secretId, this.path);
      const versionId = checkVersionId(this.#newVersionId());
      if (findVersion(secret, versionId) !== undefined) {
        throw new RotatorError('INTERNAL', `the generated version id ${versionId} already exists in secret ${secretId}`);
      }
      const cancelled = withStage(secret, 'PENDING');
      if (cancelled !== undefined) removeStage(secret, 'PENDING');
      const version: StoredVersion = { versionId, createdAt: this.#now(), stages: [], value: sealValue(this.#key, secretId, versionId, value) };
      secret.versions.push(version);
      const current = withStage(secret, 'CURRENT');
      if (current !== undefined) moveStage(secret, 'PREVIOUS', current);
      moveStage(secret, 'CURRENT', version);
      version.promotedAt = version.createdAt;
      result = { versionId, ...(cancelled === undefined || cancelled.stages.includes('CURRENT') ? {} : { cancelled: cancelled.versionId }) };
      return true;
    });
    if (result === undefined) throw new RotatorError('INTERNAL', `storing a new value of ${secretId} reported no version`);
    return result;
  }

  /**
   * Abandons the rotation under way: PENDING leaves its version. A stub is dropped; a version with a value stays
   * (unlabelled, until the purger retires it), because the target may already accept its credential. With
   * `versionId`, only when that version is the PENDING one. Returns the abandoned version id, or undefined when
   * nothing (or another version) was PENDING.
   */
  async cancelRotation(secretId: string, versionId?: string): Promise<string | undefined> {
    checkSecretId(secretId);
    if (versionId !== undefined) checkVersionId(versionId);
    let cancelled: string | undefined;
    await this.#mutate(secretId, (doc) => {
      const secret = requireSecret(doc, secretId, this.path);
      const pending = withStage(secret, 'PENDING');
      if (pending === undefined || (versionId !== undefined && pending.versionId !== versionId)) return false;
      cancelled = pending.versionId;
      removeStage(secret, 'PENDING');
      pruneStubs(secret);
      return true;
    });
    return cancelled;
  }

  async recordRotationError(secretId: string, failure: RotationFailure | undefined): Promise<void> {
    checkSecretId(secretId);
    const text = failure === undefined ? undefined : formatFailure(failure);
    await this.#mutate(secretId, (doc) => {
      const secret = requireSecret(doc, secretId, this.path);
      if (secret.lastError === text) return false;
      if (text === undefined) delete secret.lastError;
      else secret.lastError = text;
      return true;
    });
  }

  async updateRotation(secretId: string, settings: RotationSettings): Promise<void> {
    checkSecretId(secretId);
    const rotation = checkRotation(settings);
    await this.#mutate(secretId, (doc) => {
      const secret = requireSecret(doc, secretId, this.path);
      if (isDeepStrictEqual(secret.rotation, rotation)) return false;
      secret.rotation = rotation;
      return true;
    });
  }

  /**
   * Replaces the secret's tags (the description's `tags`) with `tags`; an empty record removes them all. Tags are
   * plaintext metadata, like the description: never put a secret in one.
   */
  async setTags(secretId: string, tags: Record<string, string>): Promise<void> {
    checkSecretId(secretId);
    const next = checkTags(tags, secretId);
    await this.#mutate(secretId, (doc) => {
      const secret = requireSecret(doc, secretId, this.path);
      const before = secret.tags ?? {};
      const same = Object.keys(before).length === Object.keys(next).length && Object.entries(next).every(([k, v]) => Object.hasOwn(before, k) && before[k] === v);
      if (same) return false;
      if (Object.keys(next).length === 0) delete secret.tags;
      else secret.tags = next;
      return true;
    });
  }

  async listSecretIds(): Promise<string[]> {
    return (await this.list()).map((s) => s.secretId);
  }

  async list(): Promise<SecretSummary[]> {
    const doc = await this.#read();
    return (doc?.secrets ?? []).map((s) => ({
      secretId: s.secretId,
      rotation: { ...s.rotation },
      versionCount: s.versions.length,
      ...(s.description === undefined ? {} : { description: s.description }),
    }));
  }

  async deleteSecret(secretId: string): Promise<void> {
    checkSecretId(secretId);
    await this.#mutate(secretId, (doc) => {
      requireSecret(doc, secretId, this.path);
      doc.secrets = doc.secrets.filter((s) => s.secretId !== secretId);
      return true;
    });
  }

  // ---- file handling ----

  #now(): string {
    return this.#clock().toISOString();
  }

  /** The store as it is on disk, verified; undefined when the file does not exist yet. */
  async #read(): Promise<StoreDocument | undefined> {
    const raw = await readIfExists(this.path);
    return raw === undefined ? undefined : this.#verify(raw);
  }

  /**
   * Parses, validates and authenticates the whole file: the key check first (a wrong key is not corruption),
   * then every value. Checking every value on each load costs microseconds per value and means no operation,
   * read or write, proceeds on a file that has been damaged anywhere.
   */
  #verify(raw: string): StoreDocument {
    const parsed = parseDocument(raw);
    if (!parsed.ok) {
      if (parsed.reason === 'newer-version') {
        throw new RotatorError('STORE_CORRUPT', `cannot use the store file ${this.path}: ${parsed.detail}. Upgrade Rotator; the file was left untouched`);
      }
      throw this.#corrupt(parsed.detail);
    }
    const doc = parsed.document;
    if (!keyMatches(this.#key, doc.keyCheck)) {
      throw new RotatorError(
        'STORE_KEY_MISMATCH',
        `the key does not decrypt the store file ${this.path}: check ${this.#keySource}; it must be the key the store was created with ` +
          '(if the key file was lost, restore it from your backup). The store was left untouched',
      );
    }
    for (const secret of doc.secrets) for (const version of secret.versions) if (version.value !== undefined) this.#decrypt(secret, version);
    return doc;
  }

  #decrypt(secret: StoredSecret, version: StoredVersion): string {
    if (version.value === undefined) throw new RotatorError('INTERNAL', `version ${version.versionId} of ${secret.secretId} has no value`);
    try {
      return openValue(this.#key, secret.secretId, version.versionId, version.value);
    } catch (error) {
      if (error instanceof AuthenticationError) {
        throw this.#corrupt(`the value of version ${version.versionId} of secret ${secret.secretId} fails authentication (altered, or moved from another slot)`);
      }
      throw error;
    }
  }

  #corrupt(detail: string): RotatorError {
    return new RotatorError(
      'STORE_CORRUPT',
      `the store file ${this.path} is corrupt: ${detail}. It was left untouched; restore it from a backup, or move it aside to start an empty store`,
    );
  }

  /**
   * Read-modify-write under the store lock. `change` edits the document in memory and says whether anything
   * changed; a no-op (idempotent retries) leaves the file as it is, and a throw discards the edit.
   */
  async #mutate(mustExist: string | undefined, change: (doc: StoreDocument) => boolean): Promise<void> {
    // Nothing to change in a store that does not exist: fail before creating its directory or lock file.
    if (mustExist !== undefined && !(await this.#exists())) throw secretNotFound(mustExist, this.path);
    await ensureDir(dirname(this.path));
    const lockPath = storeLockPath(this.path);
    const timeoutMs = this.#lock.timeoutMs ?? DEFAULT_STORE_LOCK_TIMEOUT_MS;
    const attempt = await waitForLock(lockPath, { ...this.#lock, timeoutMs });
    if (!attempt.acquired) {
      throw new RotatorError(
        'STORE_LOCKED',
        `the store file ${this.path} stayed locked for ${timeoutMs} ms (by ${holderText(attempt.holder)}); retry, ` +
          `or if that process is gone, delete ${lockPath}`,
        { retryable: true },
      );
    }
    try {
      const raw = await readIfExists(this.path);
      const doc = raw === undefined ? emptyDocument(createKeyCheck(this.#key)) : this.#verify(raw);
      if (change(doc)) {
        // Under the store lock no live writer of ours has a temp file open, so what is there was left by a writer
        // that died between its write and its rename: a copy of the store, with values the purger may have retired.
        await removeAbandonedTemps(this.path, { isAlive: this.#lock.isAlive ?? isProcessAlive });
        await writeFileAtomic(this.path, serializeDocument(doc));
      }
    } catch (error) {
      await attempt.lock.release().catch(() => undefined); // the change's error is the one worth reporting
      throw error;
    }
    await attempt.lock.release();
  }

  async #exists(): Promise<boolean> {
    try {
      await stat(this.path);
      return true;
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return false;
      throw ioError('read', this.path, error);
    }
  }
}

// ---- stage labels ----

function withStage(secret: StoredSecret, stage: Stage): StoredVersion | undefined {
  return secret.versions.find((v) => v.stages.includes(stage));
}

function findVersion(secret: StoredSecret, versionId: string): StoredVersion | undefined {
  return secret.versions.find((v) => v.versionId === versionId);
}

/** Takes `stage` off whichever version has it. */
function removeStage(secret: StoredSecret, stage: Stage): void {
  for (const v of secret.versions) v.stages = v.stages.filter((s) => s !== stage);
  pruneStubs(secret);
}

/** Puts `stage` on `target` (already in the secret's versions) and on no other: label uniqueness lives here. */
function moveStage(secret: StoredSecret, stage: Stage, target: StoredVersion): void {
  for (const v of secret.versions) if (v !== target) v.stages = v.stages.filter((s) => s !== stage);
  if (!target.stages.includes(stage)) target.stages = STAGES.filter((s) => s === stage || target.stages.includes(s));
  pruneStubs(secret);
}

/** A value-less stub that lost PENDING to another rotation holds nothing and no operation can use it: drop it. */
function pruneStubs(secret: StoredSecret): void {
  secret.versions = secret.versions.filter((v) => v.value !== undefined || v.stages.includes('PENDING'));
}

function labels(version: StoredVersion): string {
  return version.stages.length === 0 ? 'no stage label' : `labelled ${version.stages.join(', ')}`;
}

function byCreation(versions: StoredVersion[]): StoredVersion[] {
  // Array.prototype.sort is stable: versions created in the same millisecond keep their insertion order.
  return [...versions].sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
}

// ---- lookups and input checks ----

function findSecret(doc: StoreDocument | undefined, secretId: string): StoredSecret | undefined {
  return doc?.secrets.find((s) => s.secretId === secretId);
}

function requireSecret(doc: StoreDocument | undefined, secretId: string, path: string): StoredSecret {
  const secret = findSecret(doc, secretId);
  if (secret === undefined) throw secretNotFound(secretId, path);
  return secret;
}

function secretNotFound(secretId: string, path: string): RotatorError {
  return new RotatorError('SECRET_NOT_FOUND', `secret ${secretId} does not exist in ${path}`);
}

function holderText(holder: LockHolder | undefined): string {
  return holder === undefined ? 'a process whose lock file cannot be read' : `pid ${holder.pid} on ${holder.hostname} since ${holder.createdAt}`;
}

function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  // Messages only, never the input: a mistyped argument may be a secret pasted in the wrong place.
  throw new RotatorError('INVALID_INPUT', `${what} is invalid: ${result.error.issues.map((i) => i.message).join('; ')}`);
}

/** The shared id check, narrowed to what the store file's format holds (format.ts's secretIdSchema). */
const FILE_STORE_IDS: SecretIdGrammar = { maxLength: 512, chars: /^[A-Za-z0-9/_+=.@:-]+$/, rule: SECRET_ID_RULE };

function checkSecretId(secretId: unknown): string {
  return checkIdWith(secretId, 'the secret id', FILE_STORE_IDS);
}

function checkVersionId(versionId: unknown): string {
  return parseInput(versionIdSchema, versionId, 'the version id');
}


function lastErrorOf(secret: StoredSecret): { lastError?: RotationFailure } {
  const lastError = parseFailure(secret.lastError);
  return lastError === undefined ? {} : { lastError };
}

function checkRotation(settings: unknown): RotationSettings {
  return parseInput(rotationInputSchema, settings, 'the rotation settings');
}

function checkTags(tags: unknown, secretId: string): Record<string, string> {
  // zod's record drops a `__proto__` key without a word; a tag the caller set must not vanish silently.
  if (tags !== null && typeof tags === 'object' && Object.hasOwn(tags, '__proto__')) {
    throw new RotatorError('INVALID_INPUT', `the tags of ${secretId} are invalid: tags need ${TAG_RULE}`);
  }
  return parseInput(tagsSchema, tags, `the tags of ${secretId}`);
}

