import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { dirname, join } from 'node:path';
import type * as z from 'zod';
import { RotatorError } from '../../shared/errors.js';
import { formatFailure, parseFailure } from '../../shared/schedule.js';
import { checkSecretId as checkIdWith, type SecretIdGrammar } from '../../shared/secret-id.js';
import { checkStage, checkValue, type Lease, type RotationFailure, type RotationSettings, type SecretInfo, type SecretStore, type VersionSelector, type StoreHints } from '../../shared/store.js';
import { AuthenticationError, assertKey, createKeyCheck, keyMatches, openValue, sealValue, type Sealed } from './crypto.js';
import {
  DESCRIPTION_MAX,
  SECRET_ID_RULE,
  TAG_RULE,
  parseSecretFile,
  parseStoreFile,
  rotationInputSchema,
  serializeManifest,
  serializeSecret,
  tagsSchema,
  versionIdSchema,
  type LegacyDocument,
  type ParseFailure,
  type StoredSecret,
  type StoredVersion,
} from './format.js';
import { ensureDir, errnoCode, fsyncDir, ioError, listNames, readIfExists, removeAbandonedTemps, removeIfExists, writeFileAtomic } from './io.js';
import { KEY_ENV } from './key.js';
import {
  isSecretFileName,
  rotationLockPath,
  secretFileName,
  secretFilePath,
  secretLockPath,
  secretTempPath,
  secretsDir,
  storeLockPath,
} from './layout.js';
import { isProcessAlive, tryLock, waitForLock, type LockHolder } from './lock.js';
import { migrateLegacyStore } from './migrate.js';
import { mapBounded } from '../../shared/fleet.js';
import { byCreation, findVersion, labels, moveStage, pruneStubs, removeStage, withStage } from './stages.js';

export { rotationLockPath, secretFilePath, secretLockPath, secretsDir, storeLockPath } from './layout.js';

export interface FileStoreLockOptions {
  /** How long a write waits for another writer of the same secret (or the store lock) before STORE_LOCKED (default 10 s). */
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
  /** The store's manifest (format.ts has the layout). Missing is an empty store; the first write creates it, its
   * directory and the directory of secret files beside it. */
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

/** Secret files read at once by the fleet views (list, describeAll): enough to overlap the reads, few enough for any
 * file-descriptor limit. */
const READS_IN_FLIGHT = 32;

/** What is at the store path: nothing yet, a version-1 store, or the manifest of a version-2 one. */
type StoreState = { kind: 'missing' } | { kind: 'legacy'; doc: LegacyDocument } | { kind: 'current' };

/** What a write does with the secret: replace its file, delete it, or nothing (false). */
type Change = StoredSecret | 'delete' | false;

/**
 * The embedded store: a manifest and one JSON file per secret (format.ts), versions with stage labels, values sealed
 * with AES-256-GCM (crypto.ts). A write of a secret is a read-modify-write of that secret's file under that secret's
 * short lock, replacing the file atomically (io.ts), so concurrent CLI runs and cron jobs never lose an update, writes
 * to different secrets run in parallel, and readers, which take no lock, always see a whole file. A read of one secret
 * reads the manifest (the key check) and that secret's file only, and authenticates every value in it before using
 * any. A file that fails to parse, validate or authenticate is refused before anything is written and left exactly as
 * it was for a person to restore; a damaged secret file stops only the operations on that secret, and the fleet views
 * (`list`, `listSecretIds`, `describeAll`), which read every file but decrypt no value, fail closed naming it, so that
 * no sweep or status silently leaves a secret out. A version-1 store is read as it is and migrated by the first write.
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
  /** The text of the manifest whose key check this key passed: the same text needs no second check. */
  #verifiedManifest: string | undefined;

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
    return describeSecret(requireSecret((await this.#readSecret(secretId))?.secret, secretId, this.path));
  }

  /** Every secret's description, from one listing of the store; no value is decrypted (see the class comment). */
  async describeAll(): Promise<SecretInfo[]> {
    return (await this.#readAll()).map(describeSecret);
  }

  async getValue(secretId: string, selector: VersionSelector): Promise<string> {
    checkSecretId(secretId);
    const stage = checkStage(selector.stage);
    const versionId = 'versionId' in selector ? checkVersionId(selector.versionId) : undefined;
    if (stage === undefined && versionId === undefined) throw new RotatorError('INVALID_INPUT', 'a version selector needs a stage or a versionId');
    const found = await this.#readSecret(secretId);
    const secret = requireSecret(found?.secret, secretId, this.path);
    const version = versionId === undefined ? withStage(secret, stage ?? 'CURRENT') : findVersion(secret, versionId);
    const what = versionId === undefined ? `no version labelled ${stage ?? 'CURRENT'}` : `no version ${versionId}`;
    if (version === undefined) throw new RotatorError('VERSION_NOT_FOUND', `secret ${secretId} has ${what}`);
    if (stage !== undefined && !version.stages.includes(stage)) {
      throw new RotatorError('VERSION_NOT_FOUND', `version ${version.versionId} of secret ${secretId} is not labelled ${stage}`);
    }
    if (version.value === undefined) {
      throw new RotatorError('VERSION_NOT_FOUND', `version ${version.versionId} of secret ${secretId} has no value yet (a rotation started but did not store one)`);
    }
    return this.#decrypt(secret, version, found?.file ?? this.path);
  }

  async startRotation(secretId: string, token: string): Promise<void> {
    checkSecretId(secretId);
    checkVersionId(token);
    await this.#update(secretId, (secret) => {
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
    await this.#update(secretId, (secret) => {
      let version = findVersion(secret, token);
      if (version?.value !== undefined) {
        if (this.#decrypt(secret, version, secretFilePath(this.path, secretId)) === value) return false;
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
    await this.#update(secretId, (secret) => {
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
    await this.#update(secretId, (secret) => {
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
    await this.#mutate(secretId, false, (existing) => {
      if (existing !== undefined) {
        throw new RotatorError('SECRET_EXISTS', `secret ${secretId} already exists in ${this.path}; store a new value with putValue instead`);
      }
      const createdAt = this.#now();
      const versionId = checkVersionId(this.#newVersionId());
      return {
        secretId,
        ...(description === undefined ? {} : { description }),
        rotation,
        ...(Object.keys(tags).length === 0 ? {} : { tags }),
        createdAt,
        versions: [{ versionId, createdAt, stages: ['CURRENT'], value: sealValue(this.#key, secretId, versionId, value), promotedAt: createdAt }],
      };
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
    await this.#update(secretId, (secret) => {
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
    await this.#update(secretId, (secret) => {
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
    await this.#update(secretId, (secret) => {
      if (secret.lastError === text) return false;
      if (text === undefined) delete secret.lastError;
      else secret.lastError = text;
      return true;
    });
  }

  async updateRotation(secretId: string, settings: RotationSettings): Promise<void> {
    checkSecretId(secretId);
    const rotation = checkRotation(settings);
    await this.#update(secretId, (secret) => {
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
    await this.#update(secretId, (secret) => {
      const before = secret.tags ?? {};
      const same = Object.keys(before).length === Object.keys(next).length && Object.entries(next).every(([k, v]) => Object.hasOwn(before, k) && before[k] === v);
      if (same) return false;
      if (Object.keys(next).length === 0) delete secret.tags;
      else secret.tags = next;
      return true;
    });
  }

  async listSecretIds(): Promise<string[]> {
    return (await this.#readAll()).map((s) => s.secretId);
  }

  /** Every secret, sorted by id; no value is decrypted (see the class comment). */
  async list(): Promise<SecretSummary[]> {
    return (await this.#readAll()).map((s) => ({
      secretId: s.secretId,
      rotation: { ...s.rotation },
      versionCount: s.versions.length,
      ...(s.description === undefined ? {} : { description: s.description }),
    }));
  }

  async deleteSecret(secretId: string): Promise<void> {
    checkSecretId(secretId);
    await this.#mutate(secretId, true, (secret) => {
      requireSecret(secret, secretId, this.path);
      return 'delete';
    });
  }

  // ---- reading ----

  #now(): string {
    return this.#clock().toISOString();
  }

  /**
   * What is at the store path, verified: the manifest's key check, or a whole version-1 store (its key check and every
   * value, as version 1 always did). A manifest already verified is recognised by its text and not checked again.
   */
  async #state(): Promise<StoreState> {
    const raw = await readIfExists(this.path);
    if (raw === undefined) return { kind: 'missing' };
    if (raw === this.#verifiedManifest) return { kind: 'current' };
    const parsed = parseStoreFile(raw);
    if (!parsed.ok) throw this.#unreadable(this.path, parsed);
    if ('legacy' in parsed) {
      this.#checkKey(parsed.legacy.keyCheck);
      for (const secret of parsed.legacy.secrets) this.#verifyValues(secret, this.path);
      return { kind: 'legacy', doc: parsed.legacy };
    }
    this.#checkKey(parsed.manifest.keyCheck);
    this.#verifiedManifest = raw;
    return { kind: 'current' };
  }

  /** One secret, every value authenticated, and the file it is in; undefined when it does not exist. */
  async #readSecret(secretId: string): Promise<{ secret: StoredSecret; file: string } | undefined> {
    const file = secretFilePath(this.path, secretId);
    // Both files at once; the store file's error (a wrong key, say) is the one reported.
    const reading = readIfExists(file);
    reading.catch(() => undefined);
    const state = await this.#state();
    if (state.kind === 'legacy') {
      const secret = state.doc.secrets.find((s) => s.secretId === secretId);
      return secret === undefined ? undefined : { secret, file: this.path };
    }
    const raw = await reading;
    if (state.kind === 'missing') {
      if (raw !== undefined) throw this.#orphaned();
      return undefined;
    }
    return raw === undefined ? undefined : { secret: this.#verifySecret(raw, file, secretId), file };
  }

  /** Every secret, sorted by id: each file parsed, validated and checked against its name, no value decrypted. */
  async #readAll(): Promise<StoredSecret[]> {
    const state = await this.#state();
    if (state.kind === 'legacy') return state.doc.secrets;
    const dir = secretsDir(this.path);
    const names = (await listNames(dir)).filter(isSecretFileName);
    if (state.kind === 'missing') {
      if (names.length > 0) throw this.#orphaned();
      return [];
    }
    const secrets = await mapBounded(names, READS_IN_FLIGHT, async (name) => {
      const file = join(dir, name);
      const raw = await readIfExists(file);
      if (raw === undefined) return undefined; // deleted since the listing
      const secret = this.#parseSecret(raw, file);
      const own = secretFileName(secret.secretId);
      if (own !== name) throw this.#corrupt(file, `it holds secret ${secret.secretId}, whose file is ${own} (copied or renamed from another secret's file?)`);
      return secret;
    });
    return secrets.filter((s) => s !== undefined).sort((a, b) => (a.secretId < b.secretId ? -1 : a.secretId > b.secretId ? 1 : 0));
  }

  #parseSecret(raw: string, file: string): StoredSecret {
    const parsed = parseSecretFile(raw);
    if (!parsed.ok) throw this.#unreadable(file, parsed);
    return parsed.secret;
  }

  /** The file must be the secret's own (a file copied over it names another secret), and every value must open. */
  #verifySecret(raw: string, file: string, secretId: string): StoredSecret {
    const secret = this.#parseSecret(raw, file);
    if (secret.secretId !== secretId) {
      throw this.#corrupt(file, `it holds secret ${secret.secretId}, not ${secretId} (copied or renamed from another secret's file?)`);
    }
    this.#verifyValues(secret, file);
    return secret;
  }

  /** Authenticating every value of a secret costs microseconds each, and means no operation proceeds on a damaged one. */
  #verifyValues(secret: StoredSecret, file: string): void {
    for (const version of secret.versions) if (version.value !== undefined) this.#decrypt(secret, version, file);
  }

  #checkKey(keyCheck: Sealed): void {
    if (!keyMatches(this.#key, keyCheck)) {
      throw new RotatorError(
        'STORE_KEY_MISMATCH',
        `the key does not decrypt the store file ${this.path}: check ${this.#keySource}; it must be the key the store was created with ` +
          '(if the key file was lost, restore it from your backup). The store was left untouched',
      );
    }
  }

  #decrypt(secret: StoredSecret, version: StoredVersion, file: string): string {
    if (version.value === undefined) throw new RotatorError('INTERNAL', `version ${version.versionId} of ${secret.secretId} has no value`);
    try {
      return openValue(this.#key, secret.secretId, version.versionId, version.value);
    } catch (error) {
      if (error instanceof AuthenticationError) {
        throw this.#corrupt(file, `the value of version ${version.versionId} of secret ${secret.secretId} fails authentication (altered, or moved from another slot)`);
      }
      throw error;
    }
  }

  #unreadable(file: string, failure: ParseFailure): RotatorError {
    if (failure.reason === 'newer-version') {
      return new RotatorError('STORE_CORRUPT', `cannot use the ${file === this.path ? 'store' : 'secret'} file ${file}: ${failure.detail}. Upgrade Rotator; the file was left untouched`);
    }
    return this.#corrupt(file, failure.detail);
  }

  #corrupt(file: string, detail: string): RotatorError {
    if (file === this.path) {
      return new RotatorError('STORE_CORRUPT', `the store file ${file} is corrupt: ${detail}. It was left untouched; restore it from a backup`);
    }
    return new RotatorError(
      'STORE_CORRUPT',
      `the secret file ${file} is corrupt: ${detail}. It was left untouched, and no other secret is affected; restore it from a backup, ` +
        `or move it out of ${dirname(file)} to drop that secret`,
    );
  }

  #orphaned(): RotatorError {
    const dir = secretsDir(this.path);
    return new RotatorError(
      'STORE_CORRUPT',
      `the store file ${this.path} does not exist, but ${dir} holds secret files; restore the store file from a backup (its key check ` +
        `goes with them), or move ${dir} aside to start an empty store. Nothing was changed`,
    );
  }

  // ---- writing ----

  /** A change to an existing secret; `edit` says whether it changed anything (a no-op leaves the file as it is). */
  async #update(secretId: string, edit: (secret: StoredSecret) => boolean): Promise<void> {
    await this.#mutate(secretId, true, (secret) => {
      const existing = requireSecret(secret, secretId, this.path);
      return edit(existing) ? existing : false;
    });
  }

  /**
   * Read-modify-write of one secret's file under that secret's lock. `change` gets the secret (verified) or undefined
   * and says what to write; a throw discards the edit. A store that does not exist yet is created, and a version-1
   * store migrated, first (under the store lock) unless the secret must exist and does not, so a failing write creates
   * nothing.
   */
  async #mutate(secretId: string, mustExist: boolean, change: (secret: StoredSecret | undefined) => Change): Promise<void> {
    const file = secretFilePath(this.path, secretId);
    await this.#prepareWrite(secretId, file, mustExist);
    const lockPath = secretLockPath(this.path, secretId);
    const attempt = await this.#waitForLock(lockPath, `secret ${secretId}`);
    try {
      const raw = await readIfExists(file);
      const next = change(raw === undefined ? undefined : this.#verifySecret(raw, file, secretId));
      if (next === 'delete') {
        await removeIfExists(secretTempPath(file));
        await removeIfExists(file);
        await fsyncDir(dirname(file));
      } else if (next !== false) {
        await writeFileAtomic(file, serializeSecret(next), secretTempPath(file));
      }
    } catch (error) {
      await attempt.release().catch(() => undefined); // the change's error is the one worth reporting
      throw error;
    }
    await attempt.release();
  }

  async #prepareWrite(secretId: string, file: string, mustExist: boolean): Promise<void> {
    const state = await this.#state();
    if (state.kind === 'current') {
      // Nothing to change in a secret that does not exist: fail before creating its lock file.
      if (mustExist && !(await fileExists(file))) throw secretNotFound(secretId, this.path);
      if (!mustExist) await ensureDir(dirname(file));
      return;
    }
    if (mustExist) {
      if (state.kind === 'missing') await this.#refuseOrphans();
      if (state.kind === 'missing' || !state.doc.secrets.some((s) => s.secretId === secretId)) throw secretNotFound(secretId, this.path);
    }
    await this.#upgrade();
  }

  /** Creates the store (manifest and directory), or migrates a version-1 one, under the store lock. */
  async #upgrade(): Promise<void> {
    await ensureDir(dirname(this.path));
    const lock = await this.#waitForLock(storeLockPath(this.path), `the store file ${this.path}`);
    try {
      const state = await this.#state(); // again, holding the lock: another process may have done it meanwhile
      if (state.kind !== 'current') {
        if (state.kind === 'missing') await this.#refuseOrphans();
        // Under the store lock no live writer of ours has a temp file of the store file open, so what is there was left
        // by a writer that died between its write and its rename: a copy of the store file.
        await removeAbandonedTemps(this.path, { isAlive: this.#lock.isAlive ?? isProcessAlive });
        if (state.kind === 'legacy') await migrateLegacyStore(this.path, state.doc);
        else {
          await ensureDir(secretsDir(this.path));
          await writeFileAtomic(this.path, serializeManifest(createKeyCheck(this.#key)));
        }
      }
    } catch (error) {
      await lock.release().catch(() => undefined);
      throw error;
    }
    await lock.release();
  }

  async #refuseOrphans(): Promise<void> {
    if ((await listNames(secretsDir(this.path))).some(isSecretFileName)) throw this.#orphaned();
  }

  async #waitForLock(lockPath: string, what: string): Promise<Lease> {
    const timeoutMs = this.#lock.timeoutMs ?? DEFAULT_STORE_LOCK_TIMEOUT_MS;
    const attempt = await waitForLock(lockPath, { ...this.#lock, timeoutMs });
    if (attempt.acquired) return attempt.lock;
    throw new RotatorError(
      'STORE_LOCKED',
      `${what} stayed locked for ${timeoutMs} ms (by ${holderText(attempt.holder)}); retry, or if that process is gone, delete ${lockPath}`,
      { retryable: true },
    );
  }
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return false;
    throw ioError('read', path, error);
  }
}

function describeSecret(secret: StoredSecret): SecretInfo {
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

// ---- lookups and input checks ----

function requireSecret(secret: StoredSecret | undefined, secretId: string, path: string): StoredSecret {
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

