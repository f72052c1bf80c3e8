import type { KeyVaultSecret, SecretClient, SecretProperties } from '@azure/keyvault-secrets';
import { RotatorError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { formatFailure, scheduleState } from '../../shared/schedule.js';
import { checkSecretId, type SecretIdGrammar } from '../../shared/secret-id.js';
import {
  checkStage,
  checkValue,
  type CallOptions,
  type DescribeOptions,
  type Lease,
  type RotationFailure,
  type RotationSchedule,
  type SecretInfo,
  type SecretStore,
  type Stage,
  type VersionInfo,
  type VersionSelector,
  type StoreHints,
} from '../../shared/store.js';
import { isSecretDisabled, mapKeyVaultError, type KeyVaultMapContext } from './errors.js';
import {
  BOOKKEEPING_TAGS,
  KV_TAG,
  MARKER_TAG_COUNT,
  PROMOTION_TAG_COUNT,
  carriedTags,
  failureFromTags,
  hasSettings,
  keyVaultSchedule,
  settingTags,
  settingsFromTags,
  tagTime,
  userTags,
  withoutMarker,
  withoutTag,
  type KeyVaultRotationSettings,
  type Tags,
} from './key-vault-tags.js';
import type { BlobLeaseLock } from './lease-lock.js';
import { KEY_VAULT_MAX_NAME, KEY_VAULT_MAX_TAGS, KEY_VAULT_MAX_VALUE_BYTES } from './limits.js';

/** The companion secret of `<name>` that holds PENDING values: `<name>-rotator-pending`. No consumer reads it. */
export const PENDING_SECRET_SUFFIX = '-rotator-pending';
/** Key Vault emits SecretNearExpiry this long before a version's `exp`. */
export const NEAR_EXPIRY_MS = 30 * 86_400_000;

/** Main secret names leave room for the companion's suffix within Key Vault's 127 characters. */
const KEY_VAULT_SECRET_ID: SecretIdGrammar = {
  maxLength: KEY_VAULT_MAX_NAME - PENDING_SECRET_SUFFIX.length,
  chars: /^[0-9A-Za-z-]+$/,
  rule: `a Key Vault secret name: 1 to ${KEY_VAULT_MAX_NAME - PENDING_SECRET_SUFFIX.length} characters of 0-9 a-z A-Z and - (the rest of Key Vault's 127 is the companion's "${PENDING_SECRET_SUFFIX}")`,
};
/** Tokens fit a tag value and can never be mistaken for Key Vault's own 32-hex version ids. */
const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;
const KV_VERSION = /^[0-9a-f]{32}$/;

const ACTIONS = {
  get: 'secrets/getSecret/action',
  list: 'secrets/readMetadata/action',
  set: 'secrets/setSecret/action',
  update: 'secrets/update/action',
} as const;

export interface KeyVaultSecretStoreOptions {
  /** Built with createKeyVaultClient, one per vault. */
  client: SecretClient;
  /**
   * The rotation lock: a blob lease in the Function App's storage account (createBlobLeaseLock). Absent in a process
   * that only reads (an application, `rotator status`): then whatever needs the lock (a rotation, a purge) is refused.
   */
  lock?: BlobLeaseLock;
  /** Only secrets whose name starts with this (case-insensitive, as Key Vault names are) are listed and swept. */
  namePrefix?: string;
  clock?: () => Date;
  /** Where best-effort cleanup failures are reported (warn); silent by default. */
  logger?: Logger;
}

/** Where a port version lives: a version of the main secret or of its companion. */
interface Location {
  secret: string;
  version: string;
}

/** One look at a secret: its latest version (with value) and the properties of every version of it and its companion. */
interface Snapshot {
  latest: KeyVaultSecret;
  main: SecretProperties[];
  companion: SecretProperties[];
}

interface Mapped {
  info: SecretInfo;
  settings: KeyVaultRotationSettings;
  /** Port version id -> where its value is, for every version `info` lists with a value. */
  where: Map<string, Location>;
  /** Tokens of versions in the main secret (promoted), enabled or not. */
  mainTokens: Set<string>;
  /** Port ids of disabled (retired) versions. */
  retired: Set<string>;
}

/**
 * The SecretStore port on Azure Key Vault. Consumers read the main secret's latest version, so only a value that
 * passed testSecret is ever written there; everything else is arranged around that (docs/architecture.md has the
 * mapping table):
 *
 * - **PENDING** values live in a companion secret, `<name>-rotator-pending`, one version per value with the token in
 *   its `rotator-token` tag. The rotation marker is a `rotator-pending` tag (plus `rotator-pending-at`, its start) on
 *   the main secret's latest version, set by PATCH: tags only, no new version, nothing a consumer sees changes.
 * - **Version ids**: the token for a version Rotator wrote (its `rotator-token` tag), Key Vault's 32-hex id for a
 *   version someone else wrote (the first value, one set in the portal). A token is never 32 hex, so the two never
 *   collide.
 * - **promote** is one write: the tested value as the main secret's new version, its tags carrying the token,
 *   `rotator-previous` (the old CURRENT's port id), `rotator-promoted-at`, and the settings and the user's tags
 *   (tags are per version and not inherited). With a `rotator-interval` (the schedule, a rate) it expires at
 *   promotion + interval + 30 days, so SecretNearExpiry fires when the interval is up. A crash after that write leaves the latest version
 *   carrying the token: promote again is a no-op. The cleanup after it (disable the companion's copy, drop the stale
 *   marker from the old version) is best effort and idempotent; `describe` never shows a leftover twice.
 * - **CURRENT** is the latest version; **PREVIOUS** the version its `rotator-previous` tag names.
 * - **retire** disables a version (Key Vault cannot delete one). Disabled versions are not described again.
 * - **Dates**: `created` has 1-second resolution and lists come unordered, so versions are sorted here, and ties
 *   within a second are broken by the tags (the latest last; a version after the one it names as previous).
 *   `promotedAt` is the `rotator-promoted-at` tag, or the creation of a version written by someone else (it was
 *   the latest from then on). A token's `createdAt` is when its value was stored (the companion version), or the
 *   marker's start while it has none.
 * - **Settings** are `rotator-*` tags of the latest version (see key-vault-tags.ts). A value set by hand, whose
 *   version has none of them, keeps the settings of the newest version that has, and the next promotion writes them
 *   back.
 * - **Schedule**: the `rotator-interval` tag as a rate (updateSchedule writes it, and the expiry that goes with it);
 *   `nextRotationAt` is when SecretNearExpiry fires for the latest version (its `exp` less 30 days).
 * - **Last failure**: the `rotator-last-error` tag on the latest version, patched like the marker (no new version);
 *   a promotion writes a version without it, which is how a success clears it.
 * - **Lock**: an exclusive blob lease (lease-lock.ts), whose `signal` aborts when it is lost.
 * - Every SDK call carries the caller's signal; every failure is a RotatorError (mapKeyVaultError); no message
 *   carries a value.
 */
export class KeyVaultSecretStore implements SecretStore {
  readonly maxValueBytes = KEY_VAULT_MAX_VALUE_BYTES;
  readonly rotationLock = 'exclusive';
  readonly hints: StoreHints = {
    cancelRotation: (secretId) =>
      `Key Vault: remove the tags ${KV_TAG.pending} and ${KV_TAG.pendingAt} from the latest version of ${secretId}, keeping its other tags (portal: the version's Tags)`,
    enableRotation: (secretId) => `Key Vault: set the tag ${KV_TAG.enabled}=true on the latest version of ${secretId}, keeping its other tags`,
  };
  readonly #client: SecretClient;
  readonly #lock: BlobLeaseLock | undefined;
  readonly #prefix: string | undefined;
  readonly #clock: () => Date;
  readonly #logger: Logger | undefined;

  constructor(options: KeyVaultSecretStoreOptions) {
    this.#client = options.client;
    this.#lock = options.lock;
    this.#prefix = options.namePrefix?.toLowerCase();
    this.#clock = options.clock ?? (() => new Date());
    this.#logger = options.logger;
  }

  /** The secrets this deployment rotates: rotation enabled by tag, names under the prefix, companions left out. */
  async listSecretIds(): Promise<string[]> {
    return (await this.#attached()).map((s) => s.name);
  }

  /**
   * The secrets the timer sweep rotates at `now`, from one listing of the vault (the latest version's tags and dates),
   * rotation enabled and:
   * - due by the schedule, as shared/schedule.ts scheduleState computes it for every store (the `rotator-interval`
   *   rate counted from CURRENT's promotion, or its creation for a value written by hand): what `status` shows;
   * - or Key Vault's own trigger has come: the latest version expires within 30 days, so SecretNearExpiry has fired
   *   (the store sets `exp` so that this is the same time; an `exp` set by hand, or left by a schedule removed since,
   *   also counts, because Event Grid acts on it whatever the tags say);
   * - or a rotation was left PENDING (its marker is on the latest version): the sweep resumes it.
   */
  async dueSecretIds(now: Date): Promise<string[]> {
    const due: string[] = [];
    for (const { name, properties, settings } of await this.#attached()) {
      const tags = properties.tags ?? {};
      const expires = properties.expiresOn;
      const nearExpiry = expires !== undefined && expires.getTime() - NEAR_EXPIRY_MS <= now.getTime();
      if (nearExpiry || Object.hasOwn(tags, KV_TAG.pending) || scheduleState(latestOnly(name, properties, settings), now).due) due.push(name);
    }
    return due;
  }

  async describe(secretId: string, options: DescribeOptions = {}): Promise<SecretInfo> {
    checkId(secretId);
    return (await this.#mapped(secretId, options.signal)).info;
  }

  async getValue(secretId: string, selector: VersionSelector, options: CallOptions = {}): Promise<string> {
    checkId(secretId);
    const { signal } = options;
    const stage = checkStage(selector.stage);
    const versionId = 'versionId' in selector ? checkVersionId(selector.versionId) : undefined;
    if (stage === undefined && versionId === undefined) throw new RotatorError('INVALID_INPUT', 'a version selector needs a stage or a versionId');
    // What consumers read, read as they read it.
    if (versionId === undefined && stage === 'CURRENT') return valueOf(await this.#latest(secretId, signal), secretId);
    const { info, where } = await this.#mapped(secretId, signal);
    const version = info.versions.find((v) => (versionId === undefined ? v.stages.includes(stage as Stage) : v.versionId === versionId));
    const what = versionId === undefined ? `no version labelled ${stage ?? ''}` : `no readable version ${versionId}${stage === undefined ? '' : ` labelled ${stage}`}`;
    const location = version === undefined ? undefined : where.get(version.versionId);
    if (version === undefined || (stage !== undefined && !version.stages.includes(stage)) || !version.hasValue || location === undefined) {
      throw new RotatorError('VERSION_NOT_FOUND', `secret ${secretId} has ${what} (no such version, a retired one, or a rotation that stored no value yet)`);
    }
    return this.#read(secretId, location, version.versionId, signal);
  }

  async startRotation(secretId: string, token: string): Promise<void> {
    checkId(secretId);
    checkToken(token);
    const snapshot = await this.#snapshot(secretId, undefined);
    const { info, mainTokens } = mapSnapshot(secretId, snapshot);
    const tags = snapshot.latest.properties.tags ?? {};
    const marker = tags[KV_TAG.pending];
    const known = info.versions.find((v) => v.versionId === token);
    if (known?.stages.includes('PENDING') === true) return;
    if (known !== undefined || mainTokens.has(token)) {
      throw new RotatorError('VERSION_CONFLICT', `version ${token} of secret ${secretId} already exists and is not PENDING; start a rotation with a new token`);
    }
    if (marker !== undefined && pendingRotationOf(info) !== undefined) {
      throw new RotatorError(
        'ROTATION_IN_PROGRESS',
        `a rotation of secret ${secretId} is already under way (version ${marker} is PENDING); resume it, or cancel it before starting another`,
        { retryable: true },
      );
    }
    const base = withoutMarker(tags);
    // Checked before anything changes: a promotion that could not be written would strand a tested credential.
    checkTagRoom(secretId, carriedTags(this.#effectiveTags(snapshot, secretId)));
    await this.#patch(secretId, snapshot.latest, { tags: { ...base, [KV_TAG.pending]: token, [KV_TAG.pendingAt]: this.#clock().toISOString() } }, undefined);
  }

  async putPending(secretId: string, token: string, value: string, options: CallOptions = {}): Promise<void> {
    checkId(secretId);
    checkToken(token);
    checkValue(value, secretId, KEY_VAULT_MAX_VALUE_BYTES, 'Azure Key Vault');
    const { signal } = options;
    const conflict = () =>
      new RotatorError('VERSION_CONFLICT', `version ${token} of secret ${secretId} already holds a different value; a version's value never changes, so a new value needs a new token`);
    const latest = await this.#latest(secretId, signal);
    const tags = latest.properties.tags ?? {};
    if (tags[KV_TAG.token] === token) {
      if (latest.value === value) return; // promoted already, with this value
      throw conflict();
    }
    const companion = await this.#companionLatest(secretId, signal);
    if (companion?.properties.tags?.[KV_TAG.token] === token) {
      if (companion.value === value) return;
      throw conflict();
    }
    if (tags[KV_TAG.pending] !== token) {
      throw new RotatorError('NOT_PENDING', `version ${token} of secret ${secretId} is not the rotation under way; start a rotation before storing its value`);
    }
    const name = companionName(secretId);
    await this.#call({ operation: 'setSecret', dataAction: ACTIONS.set, secretName: name, scrub: [value], signal }, () =>
      this.#client.setSecret(name, value, {
        tags: { [KV_TAG.token]: token },
        ...(latest.properties.contentType === undefined ? {} : { contentType: latest.properties.contentType }),
        abortSignal: signal,
      }),
    );
  }

  async promote(secretId: string, token: string, options: CallOptions = {}): Promise<void> {
    checkId(secretId);
    checkToken(token);
    const { signal } = options;
    const snapshot = await this.#snapshot(secretId, signal);
    const { latest } = snapshot;
    const tags = latest.properties.tags ?? {};
    if (tags[KV_TAG.token] === token) {
      // Done before, perhaps by a call that died before its cleanup: finish that, write nothing.
      await this.#tidy(secretId, snapshot, signal);
      return;
    }
    const mapped = mapSnapshot(secretId, snapshot);
    const effective = this.#effectiveTags(snapshot, secretId);
    const settings = this.#settings(effective, secretId);
    const version = mapped.info.versions.find((v) => v.versionId === token);
    if (version !== undefined && !version.stages.includes('PENDING')) {
      throw new RotatorError('NOT_PENDING', `version ${token} of secret ${secretId} is not PENDING; only the rotation under way can be promoted`);
    }
    const location = mapped.where.get(token);
    if (version === undefined || !version.hasValue || location === undefined) {
      throw new RotatorError('VERSION_NOT_FOUND', `version ${token} of secret ${secretId} does not exist or has no value yet, so it cannot become CURRENT`);
    }
    const value = await this.#read(secretId, location, token, signal);
    const now = this.#clock();
    const current = versionWithStageOf(mapped.info, 'CURRENT')?.versionId ?? latest.properties.version ?? '';
    const expiresOn = settings.schedule === undefined ? undefined : new Date(now.getTime() + settings.schedule.everyMs + NEAR_EXPIRY_MS);
    const newTags = {
      ...carriedTags(effective),
      [KV_TAG.token]: token,
      [KV_TAG.previous]: current,
      [KV_TAG.promotedAt]: now.toISOString(),
    };
    // The one write that makes the value what consumers read, carrying everything a resumed promote needs.
    const written = await this.#call({ operation: 'setSecret', dataAction: ACTIONS.set, secretName: secretId, scrub: [value], signal }, () =>
      this.#client.setSecret(secretId, value, {
        tags: newTags,
        ...(latest.properties.contentType === undefined ? {} : { contentType: latest.properties.contentType }),
        ...(expiresOn === undefined ? {} : { expiresOn }),
        abortSignal: signal,
      }),
    );
    await this.#tidy(secretId, { ...snapshot, latest: written, main: [...snapshot.main, written.properties] }, signal);
  }

  async retire(secretId: string, versionId: string): Promise<void> {
    checkId(secretId);
    checkVersionId(versionId);
    const snapshot = await this.#snapshot(secretId, undefined);
    const mapped = mapSnapshot(secretId, snapshot);
    const version = mapped.info.versions.find((v) => v.versionId === versionId);
    if (version === undefined) {
      if (mapped.retired.has(versionId)) return; // disabled already
      throw new RotatorError('VERSION_NOT_FOUND', `secret ${secretId} has no version ${versionId}`);
    }
    const live = version.stages.filter((s) => s === 'CURRENT' || s === 'PENDING');
    if (live.length > 0) throw new RotatorError('INVALID_INPUT', `version ${versionId} of secret ${secretId} is ${live.join(' and ')}; only superseded versions can be retired`);
    const targets: Location[] = [];
    const location = mapped.where.get(versionId);
    if (location !== undefined) targets.push(location);
    // A promoted token's leftover copy in the companion goes too: its value must not stay readable there.
    for (const p of snapshot.companion) {
      if (p.enabled !== false && p.tags?.[KV_TAG.token] === versionId && p.version !== undefined) targets.push({ secret: companionName(secretId), version: p.version });
    }
    for (const target of targets) await this.#disable(target, undefined);
  }

  async lockRotation(secretId: string): Promise<Lease> {
    checkId(secretId);
    if (this.#lock === undefined) {
      throw new RotatorError(
        'INVALID_INPUT',
        `rotating or purging ${secretId} takes its rotation lock, a blob lease in the Function App's storage, and this store was opened without one: ` +
          'give it the lock container (ROTATOR_LOCK_CONTAINER_URL, https://<account>.blob.core.windows.net/<container>, the Function App\'s setting of the same name)',
      );
    }
    return this.#lock.lock(secretId);
  }

  async cancelRotation(secretId: string, versionId?: string): Promise<string | undefined> {
    checkId(secretId);
    if (versionId !== undefined) checkVersionId(versionId);
    const latest = await this.#latest(secretId, undefined);
    const tags = latest.properties.tags ?? {};
    const marker = tags[KV_TAG.pending];
    if (marker === undefined || (versionId !== undefined && marker !== versionId)) return undefined;
    // The marker goes; a stored value stays in the companion, unlabelled, until the purger retires it (the target may
    // already accept its credential).
    await this.#patch(secretId, latest, { tags: withoutMarker(tags) }, undefined);
    return marker;
  }

  /**
   * Records the last failed rotation as the `rotator-last-error` tag of the latest version, or removes it, by PATCH
   * as the marker is written (tags only: no new version, nothing consumers read changes). Room for it is kept by
   * startRotation. A promotion that lands between the read and the PATCH would leave the record on the version it
   * superseded, so the latest version is read again after the write, and the record follows it if it moved (at most
   * three times; the engine's lock makes even one move rare).
   */
  async recordRotationError(secretId: string, failure: RotationFailure | undefined, options: CallOptions = {}): Promise<void> {
    checkId(secretId);
    const value = failure === undefined ? undefined : formatFailure(failure);
    const { signal } = options;
    let latest = await this.#latest(secretId, signal);
    for (let attempt = 0; attempt < 3; attempt++) {
      const tags = latest.properties.tags ?? {};
      if (value === undefined && !Object.hasOwn(tags, KV_TAG.lastError)) return;
      const next = { ...withoutTag(tags, KV_TAG.lastError), ...(value === undefined ? {} : { [KV_TAG.lastError]: value }) };
      if (Object.keys(next).length > KEY_VAULT_MAX_TAGS) {
        throw new RotatorError('INVALID_INPUT', `the latest version of secret ${secretId} has no room for ${KV_TAG.lastError} among Key Vault's ${KEY_VAULT_MAX_TAGS} tags`);
      }
      await this.#patch(secretId, latest, { tags: next }, signal);
      const after = await this.#latest(secretId, signal);
      if (after.properties.version === latest.properties.version) return;
      latest = after;
    }
    throw new RotatorError('STORE_IO', `secret ${secretId} kept getting new versions while Rotator recorded the outcome of its rotation; retry later`, { retryable: true });
  }

  /**
   * Sets the schedule (a rate: the `rotator-interval` tag) or removes it, on the latest version by PATCH (no new
   * version). Key Vault has no native cron or window, so those are refused (INVALID_INPUT). With a rate, the version's
   * `exp` moves to CURRENT's last rotation + the rate + 30 days, so that SecretNearExpiry fires when the schedule says
   * it is due (never earlier than now + 30 days: an `exp` already past would fire nothing). Removing the schedule
   * cannot unset `exp` (the SDK sends no null), so one more SecretNearExpiry may fire at that date; the next promotion
   * writes a version without expiry.
   */
  async updateSchedule(secretId: string, schedule: RotationSchedule | undefined, options: CallOptions = {}): Promise<void> {
    checkId(secretId);
    const rate = schedule === undefined ? undefined : keyVaultSchedule(schedule);
    const { signal } = options;
    const snapshot = await this.#snapshot(secretId, signal);
    const tags = snapshot.latest.properties.tags ?? {};
    // A latest version without settings (written by hand) takes the effective ones, or its tag alone would disable it.
    const settings = { ...this.#settings(this.#effectiveTags(snapshot, secretId), secretId) };
    if (rate === undefined) delete settings.schedule;
    else settings.schedule = rate;
    const next = { ...withoutTag(tags, KV_TAG.interval), ...settingTags(settings) };
    checkTagRoom(secretId, carriedTags(next));
    let expiresOn: Date | undefined;
    if (rate !== undefined) {
      const now = this.#clock().getTime();
      const { lastRotatedAt } = scheduleState(mapSnapshot(secretId, snapshot).info, this.#clock());
      const due = (lastRotatedAt?.getTime() ?? now) + rate.everyMs;
      expiresOn = new Date(Math.max(due, now) + NEAR_EXPIRY_MS);
    }
    await this.#patch(secretId, snapshot.latest, { tags: next, ...(expiresOn === undefined ? {} : { expiresOn }) }, signal);
  }

  // ---- reading ----

  async #mapped(secretId: string, signal: AbortSignal | undefined): Promise<Mapped> {
    const snapshot = await this.#snapshot(secretId, signal);
    const mapped = mapSnapshot(secretId, snapshot);
    const settings = this.#settings(this.#effectiveTags(snapshot, secretId), secretId);
    const { properties } = snapshot.latest;
    const lastError = failureFromTags(properties.tags ?? {});
    const nextRotationAt = properties.expiresOn === undefined ? undefined : new Date(properties.expiresOn.getTime() - NEAR_EXPIRY_MS);
    return {
      ...mapped,
      settings,
      info: { ...mapped.info, rotation: settings, ...(lastError === undefined ? {} : { lastError }), ...(nextRotationAt === undefined ? {} : { nextRotationAt }) },
    };
  }

  /** The settings the tags name (settingsFromTags), with a bad schedule tag reported as a warning. */
  #settings(tags: Tags, secretId: string): KeyVaultRotationSettings {
    return settingsFromTags(tags, secretId, (message) => this.#logger?.warn(message, { secretId }));
  }

  /**
   * The latest version's tags, with the settings of the newest version that has any when the latest has none (a value
   * set by hand in the portal or with `az keyvault secret set`, which writes a version without tags).
   */
  #effectiveTags(snapshot: Snapshot, secretId: string): Record<string, string> {
    const tags = snapshot.latest.properties.tags ?? {};
    if (hasSettings(tags)) return { ...tags };
    const donor = settingsDonor(snapshot.main);
    if (donor === undefined) return { ...tags };
    return { ...tags, ...settingTags(this.#settings(donor, secretId)) };
  }

  async #snapshot(secretId: string, signal: AbortSignal | undefined): Promise<Snapshot> {
    const [latest, main, companion] = await Promise.all([
      this.#latest(secretId, signal),
      this.#versions(secretId, signal),
      this.#versions(companionName(secretId), signal).catch((error: unknown) => {
        if (error instanceof RotatorError && error.code === 'SECRET_NOT_FOUND') return []; // never rotated yet
        throw error;
      }),
    ]);
    return { latest, main, companion };
  }

  /** The main secret's latest version, as a consumer reads it. A disabled one is an error: every consumer is broken. */
  async #latest(secretId: string, signal: AbortSignal | undefined): Promise<KeyVaultSecret> {
    try {
      return await this.#client.getSecret(secretId, { abortSignal: signal });
    } catch (error) {
      if (isSecretDisabled(error)) {
        throw new RotatorError(
          'VERSION_NOT_FOUND',
          `the latest version of secret ${secretId} is disabled, so Key Vault refuses it to every consumer and Rotator will not rotate or purge it: ` +
            `enable it again (az keyvault secret set-attributes --name ${secretId} --version <id> --enabled true) or set a new value`,
          { cause: error },
        );
      }
      throw mapKeyVaultError(error, { operation: 'getSecret', dataAction: ACTIONS.get, secretName: secretId, signal });
    }
  }

  /** The companion's latest version, or undefined when there is none or it is disabled (a finished rotation's). */
  async #companionLatest(secretId: string, signal: AbortSignal | undefined): Promise<KeyVaultSecret | undefined> {
    const name = companionName(secretId);
    try {
      return await this.#client.getSecret(name, { abortSignal: signal });
    } catch (error) {
      if (isSecretDisabled(error)) return undefined;
      const mapped = mapKeyVaultError(error, { operation: 'getSecret', dataAction: ACTIONS.get, secretName: name, signal });
      if (mapped.code === 'SECRET_NOT_FOUND') return undefined;
      throw mapped;
    }
  }

  async #versions(name: string, signal: AbortSignal | undefined): Promise<SecretProperties[]> {
    return this.#call({ operation: 'listPropertiesOfSecretVersions', dataAction: ACTIONS.list, secretName: name, signal }, async () => {
      const out: SecretProperties[] = [];
      for await (const p of this.#client.listPropertiesOfSecretVersions(name, { abortSignal: signal })) out.push(p);
      return out;
    });
  }

  async #read(secretId: string, location: Location, versionId: string, signal: AbortSignal | undefined): Promise<string> {
    try {
      return valueOf(await this.#client.getSecret(location.secret, { version: location.version, abortSignal: signal }), secretId);
    } catch (error) {
      if (isSecretDisabled(error)) {
        throw new RotatorError('VERSION_NOT_FOUND', `version ${versionId} of secret ${secretId} is retired (disabled), so its value cannot be read`, { cause: error });
      }
      throw mapKeyVaultError(error, { operation: 'getSecret', dataAction: ACTIONS.get, secretName: secretId, version: versionId, signal });
    }
  }

  /** Every secret of the vault with rotation enabled, under the prefix, companions left out. */
  async #attached(): Promise<{ name: string; properties: SecretProperties; settings: KeyVaultRotationSettings }[]> {
    const all = await this.#call({ operation: 'listPropertiesOfSecrets', dataAction: ACTIONS.list }, async () => {
      const out: SecretProperties[] = [];
      for await (const p of this.#client.listPropertiesOfSecrets()) out.push(p);
      return out;
    });
    const rotatedBefore = new Set(all.map((p) => p.name.toLowerCase()).filter((n) => n.endsWith(PENDING_SECRET_SUFFIX)));
    const out: { name: string; properties: SecretProperties; settings: KeyVaultRotationSettings }[] = [];
    for (const properties of all) {
      const { name } = properties;
      const lower = name.toLowerCase();
      if (lower.endsWith(PENDING_SECRET_SUFFIX) || (this.#prefix !== undefined && !lower.startsWith(this.#prefix))) continue;
      let settings: KeyVaultRotationSettings;
      try {
        let tags = properties.tags ?? {};
        // A value set by hand over a secret Rotator has rotated (it has a companion) keeps its settings, as in describe.
        if (!hasSettings(tags) && rotatedBefore.has(`${lower}${PENDING_SECRET_SUFFIX}`)) tags = settingsDonor(await this.#versions(name, undefined)) ?? tags;
        settings = this.#settings(tags, name);
      } catch (error) {
        // One secret's bad tag must not hide the others; describe names the problem when it is rotated or purged.
        this.#logger?.warn('skipping a secret whose rotation tags are invalid', { secretId: name, error });
        continue;
      }
      if (settings.enabled) out.push({ name, properties, settings });
    }
    return out;
  }

  // ---- writing ----

  /**
   * PATCH of one version's tags (and expiry): attributes only, never the value, never a new version. The one path for
   * the marker, the recorded failure, the schedule and the cleanup after a promotion.
   */
  async #patch(secretId: string, version: KeyVaultSecret | string, change: { tags: Tags; expiresOn?: Date }, signal: AbortSignal | undefined): Promise<void> {
    const id = typeof version === 'string' ? version : (version.properties.version ?? '');
    await this.#call({ operation: 'updateSecretProperties', dataAction: ACTIONS.update, secretName: secretId, version: id, signal }, () =>
      this.#client.updateSecretProperties(secretId, id, { tags: { ...change.tags }, ...(change.expiresOn === undefined ? {} : { expiresOn: change.expiresOn }), abortSignal: signal }),
    );
  }

  async #disable(location: Location, signal: AbortSignal | undefined): Promise<void> {
    await this.#call({ operation: 'updateSecretProperties', dataAction: ACTIONS.update, secretName: location.secret, version: location.version, signal }, () =>
      this.#client.updateSecretProperties(location.secret, location.version, { enabled: false, abortSignal: signal }),
    );
  }

  /**
   * The bookkeeping after a promotion, best effort and idempotent: the companion's copies of promoted values are
   * disabled (the value lives in the main secret now), and old versions lose a marker whose rotation finished. What
   * fails is logged and done by the next promotion; `describe` is right either way.
   */
  async #tidy(secretId: string, snapshot: Snapshot, signal: AbortSignal | undefined): Promise<void> {
    const promoted = new Set(snapshot.main.flatMap((p) => p.tags?.[KV_TAG.token] ?? []));
    const companion = companionName(secretId);
    const work: (() => Promise<unknown>)[] = [];
    for (const p of snapshot.companion) {
      const token = p.tags?.[KV_TAG.token];
      if (p.enabled !== false && token !== undefined && promoted.has(token) && p.version !== undefined) {
        const version = p.version;
        work.push(() => this.#disable({ secret: companion, version }, signal));
      }
    }
    for (const p of snapshot.main) {
      const marker = p.tags?.[KV_TAG.pending];
      if (marker !== undefined && promoted.has(marker) && p.version !== undefined && p.enabled !== false) {
        const { version } = p;
        const tags = withoutMarker(p.tags ?? {});
        work.push(() => this.#patch(secretId, version, { tags }, signal));
      }
    }
    for (const step of work) {
      try {
        await step();
      } catch (error) {
        this.#logger?.warn('could not clean up after a promotion; the next one does', { secretId, error });
        return;
      }
    }
  }

  async #call<T>(ctx: KeyVaultMapContext, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw mapKeyVaultError(error, ctx);
    }
  }
}

// ---- the mapping, pure ----

function companionName(secretId: string): string {
  return `${secretId}${PENDING_SECRET_SUFFIX}`;
}

function byCreation(a: SecretProperties, b: SecretProperties): number {
  return (a.createdOn?.getTime() ?? 0) - (b.createdOn?.getTime() ?? 0);
}

/** The tags of the newest enabled version that has rotation settings. */
function settingsDonor(versions: readonly SecretProperties[]): Tags | undefined {
  return [...versions].filter((p) => p.enabled !== false && hasSettings(p.tags ?? {})).sort(byCreation).at(-1)?.tags;
}

function seconds(date: Date | undefined): number {
  return Math.floor((date?.getTime() ?? 0) / 1000);
}

/** The port's view of a snapshot: versions with stages, oldest first, and where each value is. */
function mapSnapshot(secretId: string, snapshot: Snapshot): Omit<Mapped, 'settings'> {
  const { latest } = snapshot;
  const latestId = latest.properties.version;
  const latestTags = latest.properties.tags ?? {};
  const portId = (p: SecretProperties): string => p.tags?.[KV_TAG.token] ?? p.version ?? '';
  const mainTokens = new Set(snapshot.main.flatMap((p) => p.tags?.[KV_TAG.token] ?? []));
  const retired = new Set<string>();
  const where = new Map<string, Location>();

  // When each token's value was first stored (its companion version, whatever its state now).
  const stored = new Map<string, Date>();
  for (const p of snapshot.companion) {
    const token = p.tags?.[KV_TAG.token];
    if (token === undefined || p.createdOn === undefined) continue;
    const seen = stored.get(token);
    if (seen === undefined || p.createdOn < seen) stored.set(token, p.createdOn);
  }

  // The main secret: enabled versions, the latest last within its second, a version after the one it names previous.
  const main = snapshot.main.filter((p) => {
    if (p.enabled === false && p.version !== latestId) retired.add(portId(p));
    return p.enabled !== false || p.version === latestId;
  });
  if (!main.some((p) => p.version === latestId)) main.push(latest.properties); // listed before it was written
  // A total order (a comparator that is not one sorts unpredictably): the second, then the latest last within it,
  // then how many `rotator-previous` links lead back from a version (a promoted version comes after the one it
  // names, whatever the second), then the promotion time, the creation time and the id.
  const generation = generations(main, portId);
  const key = (p: SecretProperties): [number, number, number, number, number] => [
    seconds(p.createdOn),
    p.version === latestId ? 1 : 0,
    generation.get(portId(p)) ?? 0,
    tagTime(p.tags ?? {}, KV_TAG.promotedAt)?.getTime() ?? p.createdOn?.getTime() ?? 0,
    p.createdOn?.getTime() ?? 0,
  ];
  main.sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return (ka[i] ?? 0) - (kb[i] ?? 0);
    return (a.version ?? '') < (b.version ?? '') ? -1 : (a.version ?? '') > (b.version ?? '') ? 1 : 0;
  });
  const previous = latestTags[KV_TAG.previous];
  const entries: { version: VersionInfo; second: number; group: number }[] = main.map((p) => {
    const id = portId(p);
    where.set(id, { secret: secretId, version: p.version ?? '' });
    const isCurrent = p.version === latestId;
    const stages: Stage[] = isCurrent ? ['CURRENT'] : previous !== undefined && id === previous ? ['PREVIOUS'] : [];
    const createdAt = (p.tags?.[KV_TAG.token] === undefined ? undefined : stored.get(id)) ?? p.createdOn;
    const promotedAt = tagTime(p.tags ?? {}, KV_TAG.promotedAt) ?? p.createdOn;
    return {
      version: { versionId: id, stages, ...(createdAt === undefined ? {} : { createdAt }), hasValue: true, ...(promotedAt === undefined ? {} : { promotedAt }) },
      second: seconds(p.createdOn),
      group: 0,
    };
  });

  // The companion: a value not promoted (PENDING, or left by a cancelled rotation) is a version of its own.
  const companion = companionName(secretId);
  const unpromoted = new Map<string, SecretProperties>();
  for (const p of [...snapshot.companion].sort(byCreation)) {
    const token = p.tags?.[KV_TAG.token];
    if (token === undefined || mainTokens.has(token)) continue;
    if (p.enabled === false) {
      retired.add(token);
      continue;
    }
    unpromoted.set(token, p); // the newest copy wins
  }
  const marker = latestTags[KV_TAG.pending];
  const pendingToken = marker !== undefined && !mainTokens.has(marker) ? marker : undefined;
  for (const [token, p] of unpromoted) {
    retired.delete(token);
    where.set(token, { secret: companion, version: p.version ?? '' });
    if (token === pendingToken) continue;
    entries.push({
      version: { versionId: token, stages: [], ...(p.createdOn === undefined ? {} : { createdAt: p.createdOn }), hasValue: true },
      second: seconds(p.createdOn),
      group: 1,
    });
  }
  entries.sort((a, b) => a.second - b.second || a.group - b.group);
  const versions = entries.map((e) => e.version);
  if (pendingToken !== undefined) {
    const value = unpromoted.get(pendingToken);
    const createdAt = value?.createdOn ?? tagTime(latestTags, KV_TAG.pendingAt) ?? latest.properties.updatedOn;
    versions.push({ versionId: pendingToken, stages: ['PENDING'], ...(createdAt === undefined ? {} : { createdAt }), hasValue: value !== undefined });
  }
  return { info: { secretId, rotation: { enabled: false }, tags: userTags(latestTags), versions }, where, mainTokens, retired };
}

/** What one listing of the vault says of a secret: its settings and CURRENT (the latest version), for scheduleState. */
function latestOnly(secretId: string, properties: SecretProperties, settings: KeyVaultRotationSettings): SecretInfo {
  const tags = properties.tags ?? {};
  const promotedAt = tagTime(tags, KV_TAG.promotedAt) ?? properties.createdOn;
  const current: VersionInfo = {
    versionId: tags[KV_TAG.token] ?? properties.version ?? '',
    stages: ['CURRENT'],
    hasValue: true,
    ...(properties.createdOn === undefined ? {} : { createdAt: properties.createdOn }),
    ...(promotedAt === undefined ? {} : { promotedAt }),
  };
  return { secretId, rotation: settings, tags: userTags(tags), versions: [current] };
}

/**
 * Refuses (INVALID_INPUT) `carried` tags (what every version carries forward: the user's and the settings) that leave
 * no room for a rotation within Key Vault's 15 per version. The version a rotation marks holds them, the 3 a promotion
 * wrote on it, and the marker with room for a recorded failure: so not only the next rotation fits, every one after it.
 */
function checkTagRoom(secretId: string, carried: Tags): void {
  const count = Object.keys(carried).filter((k) => !BOOKKEEPING_TAGS.has(k)).length;
  if (count + PROMOTION_TAG_COUNT + MARKER_TAG_COUNT > KEY_VAULT_MAX_TAGS) {
    throw new RotatorError(
      'INVALID_INPUT',
      `secret ${secretId} has ${count} tags to carry forward; Key Vault allows ${KEY_VAULT_MAX_TAGS} per version and a rotation needs ` +
        `${PROMOTION_TAG_COUNT + MARKER_TAG_COUNT} of them (${PROMOTION_TAG_COUNT} for a promotion, ${MARKER_TAG_COUNT} for its marker and a recorded failure), ` +
        `so at most ${KEY_VAULT_MAX_TAGS - PROMOTION_TAG_COUNT - MARKER_TAG_COUNT}: remove some tags of its latest version first`,
    );
  }
}

function pendingRotationOf(info: SecretInfo): VersionInfo | undefined {
  return info.versions.find((v) => v.stages.includes('PENDING'));
}

function versionWithStageOf(info: SecretInfo, stage: Stage): VersionInfo | undefined {
  return info.versions.find((v) => v.stages.includes(stage));
}

function valueOf(secret: KeyVaultSecret, secretId: string): string {
  if (secret.value === undefined) throw new RotatorError('STORE_IO', `Azure Key Vault returned no value for secret ${secretId}`);
  return secret.value;
}

// ---- checks ----

function checkId(secretId: string): void {
  checkSecretId(secretId, 'the secret id', KEY_VAULT_SECRET_ID);
  if (secretId.toLowerCase().endsWith(PENDING_SECRET_SUFFIX)) {
    throw new RotatorError('INVALID_INPUT', `the secret id is invalid: names ending in "${PENDING_SECRET_SUFFIX}" are the companions that hold PENDING values`);
  }
}

function checkToken(token: unknown): asserts token is string {
  if (typeof token !== 'string' || !TOKEN.test(token) || KV_VERSION.test(token)) {
    throw new RotatorError('INVALID_INPUT', 'a rotation token on Key Vault must be 1-128 characters of A-Z a-z 0-9 _ and -, and not 32 hex digits (a UUID fits)');
  }
}

function checkVersionId(versionId: unknown): string {
  if (typeof versionId !== 'string' || !TOKEN.test(versionId)) {
    throw new RotatorError('INVALID_INPUT', 'a version id on Key Vault is a rotation token or a 32-hex Key Vault version id');
  }
  return versionId;
}



/** For each version, how many `rotator-previous` links lead back from it (0 for a version that names none). */
function generations(versions: readonly SecretProperties[], portId: (p: SecretProperties) => string): Map<string, number> {
  const previousOf = new Map(versions.map((p) => [portId(p), p.tags?.[KV_TAG.previous]] as const));
  const out = new Map<string, number>();
  for (const id of previousOf.keys()) {
    let depth = 0;
    // Bounded by the number of versions, so a cycle of tags written by hand cannot loop forever.
    for (let at = previousOf.get(id); at !== undefined && previousOf.has(at) && depth < versions.length; at = previousOf.get(at)) depth += 1;
    out.set(id, depth);
  }
  return out;
}
