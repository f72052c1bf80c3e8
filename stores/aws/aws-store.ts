import { AsyncLocalStorage } from 'node:async_hooks';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretVersionStageCommand,
  paginateListSecrets,
  type DescribeSecretResponse,
  type GetSecretValueResponse,
  type SecretListEntry,
  type Tag,
} from '@aws-sdk/client-secrets-manager';
import { RotatorError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { formatFailure, parseFailure } from '../../shared/schedule.js';
import { checkSecretId } from '../../shared/secret-id.js';
import {
  checkStage,
  checkValue,
  STAGES,
  STRATEGIES,
  type CallOptions,
  type DescribeOptions,
  type Lease,
  type RotationFailure,
  type RotationSchedule,
  type RotationSettings,
  type SecretInfo,
  type SecretStore,
  type Stage,
  type Strategy,
  type VersionInfo,
  type VersionSelector,
  type StoreHints,
} from '../../shared/store.js';
import { awsClientConfig, type AwsClientOptions } from './client-config.js';
import { awsErrorName, mapAwsError, type MapContext } from './errors.js';
import { RequestPacer, type RequestRates } from './request-pacer.js';
import { rulesFromSchedule, scheduleFromRules } from './rotation-rules.js';

/** The port's stages and the labels Secrets Manager uses for them. Other labels are kept but not shown as stages. */
export const AWS_STAGES: Readonly<Record<Stage, string>> = { CURRENT: 'AWSCURRENT', PENDING: 'AWSPENDING', PREVIOUS: 'AWSPREVIOUS' };

/** A tag on the secret naming its rotation strategy (single-user, alternating-users, dual-password). */
export const STRATEGY_TAG = 'rotator:strategy';

/**
 * The tag holding the last failed rotation (shared/schedule.ts formatFailure: `CODE step ISO-time`), until one
 * succeeds. Bookkeeping: `describe` shows it as `lastError`, never among the tags.
 */
export const LAST_ERROR_TAG = 'rotator:last-error';

/** How many secrets with a rotation under way `describeAll` looks at once (a ListSecretVersionIds and a probe each). */
const DESCRIBE_ALL_CONCURRENCY = 8;

/** Where a local or test endpoint for Secrets Manager may be given (e.g. the fake under test/fakes/). */
export const SECRETS_MANAGER_ENDPOINT_ENV = 'SECRETS_MANAGER_ENDPOINT';

const TOKEN_MIN = 32;
const TOKEN_MAX = 64;
const DEFAULT_CACHE_SIZE = 256;

export type SecretsManagerClientOptions = AwsClientOptions;

/** The client the AWS store expects (adaptive retry, SECRETS_MANAGER_ENDPOINT honoured): see awsClientConfig. */
export function createSecretsManagerClient(options: SecretsManagerClientOptions = {}): SecretsManagerClient {
  return new SecretsManagerClient(awsClientConfig(options, SECRETS_MANAGER_ENDPOINT_ENV));
}

export interface AwsSecretStoreOptions {
  /** Injected, never created here: see createSecretsManagerClient for how it should be built. */
  client: SecretsManagerClient;
  /** How many version values the read cache keeps (default 256, oldest dropped first). */
  cacheSize?: number;
  /** Which secrets `listSecretIds` (the purger's sweep) and `describeAll` return; default: every secret whose rotation is on. */
  sweep?: SweepFilter;
  /**
   * Calls per second per quota group (see request-pacer.ts); default: half of each of Secrets Manager's quotas.
   * `'unpaced'`: no pacing, for a rotation function. Its few calls belong to one secret's steps, a warm container
   * would otherwise wait out the write group's spacing between two steps' writes (about 35 ms a rotation, billed),
   * and a throttle is left to the SDK's retry. Sweeps (the purger, `status`, the CLI) keep the pacing.
   */
  requestRates?: RequestRates | 'unpaced';
  /** Where a rotation schedule the store cannot read, or a secret `describeAll` leaves out, is reported (warn). */
  logger?: Logger;
}

/**
 * The secrets this deployment looks after, out of every secret in the account: the purger must not retire
 * versions of secrets someone else rotates (RDS-managed secrets, other teams' functions).
 */
export interface SweepFilter {
  /** Only names starting with this (ListSecrets' `name` filter; match it to the IAM policy's ARN pattern). */
  namePrefix?: string;
  /** Only secrets rotated by one of these functions (an alias or version of one counts). */
  rotationLambdaArns?: readonly string[];
}

/**
 * The SecretStore port on AWS Secrets Manager, whose model it is: stages are the labels AWSCURRENT, AWSPENDING
 * and AWSPREVIOUS, a version id is the rotation token.
 *
 * Decisions (see also the README's AWS section):
 * - **Version ids are the service's own**: Secrets Manager takes the rotation token as the version id
 *   (ClientRequestToken), so the port's version id and the service's are the same string, with no mapping.
 * - **Starting a rotation is the service's job.** Only RotateSecret creates the value-less AWSPENDING version (the
 *   port's rotation marker), and it invokes the rotation function, which then drives the steps itself. So
 *   `startRotation` succeeds only when the token is already AWSPENDING, and otherwise says to run
 *   `aws secretsmanager rotate-secret`. A self-driven run (`engine.rotate`) on AWS can still resume a rotation the service left
 *   PENDING.
 * - **The RotationToken stays here.** Each step's event carries a RotationToken that PutSecretValue takes as proof
 *   that the call belongs to that rotation (needed when the function works through an assumed role). It is no part
 *   of the port: the handler scopes it with `withRotationToken(token, () => engine.runStep(...))`, and putPending
 *   inside that scope sends it. It is scrubbed from every error this store raises (the caller registers it with the
 *   redactor too).
 * - **Tags** (DescribeSecret's Tags, fetched with every description anyway) are the description's `tags`; the
 *   `rotator:strategy` tag also gives the rotation strategy.
 * - **PENDING on the CURRENT version means "finished".** `promote` moves AWSCURRENT with RemoveFromVersionId
 *   (AWSPREVIOUS follows on the service side) and leaves AWSPENDING where it is, exactly as
 *   AWS's own rotation templates do; RotateSecret treats that state as complete. The port therefore reports
 *   PENDING only on a version that is not also CURRENT, and a read of PENDING there is VERSION_NOT_FOUND.
 * - **promote is usually one call.** RemoveFromVersionId is a compare-and-swap: the service refuses it unless it
 *   names the version AWSCURRENT is on. So when this instance knows the token's value and saw the CURRENT version
 *   last (the engine describes the secret at the start of every step), promote sends UpdateSecretVersionStage
 *   straight away; a refusal means someone moved AWSCURRENT meanwhile, and it describes and tries again.
 * - **hasValue** is false only for the AWSPENDING stub: DescribeSecret cannot tell, so for the one version that is
 *   PENDING (and not CURRENT) `describe` tries GetSecretValue; a value found is cached (it is read next anyway),
 *   ResourceNotFoundException means the stub. Every other labelled version was written by PutSecretValue or
 *   CreateSecret, so it has a value. createSecret asks for no probe (`pendingValue: false`): it writes its value under
 *   the token, and ResourceExistsException says a value was already there, so a rotation costs one read less.
 * - **Versions are immutable**, so values read or written by version id are cached for the life of the instance
 *   (one Lambda container), as are creation dates. Reads by stage always go to the service: labels move. The
 *   engine reads CURRENT by the id its DescribeSecret just returned, so the steps after createSecret read nothing.
 * - **Creation dates cost a ListSecretVersionIds call** (DescribeSecret has none per version), made only when
 *   `describe` is asked for dates (the port's read mask: every description but `dates: false`) and a version id is
 *   new to this instance. The rotation steps' guards ask for none.
 * - `describe` lists labelled versions only. A version without labels is "deprecated": the service deletes it on
 *   its own, so on AWS `retire` (remove every label) is where the purger's work ends.
 * - `promotedAt` (CURRENT only) is the later of its creation and the secret's LastRotatedDate: the service keeps
 *   no label history, and the later estimate can only make the purger wait longer.
 * - **The caller's signal** goes to every SDK call (`abortSignal`), so a step near Lambda's deadline stops waiting
 *   on the service too.
 * - `lockRotation` is a no-op lease, and the store says so (`rotationLock: 'service-enforced'`). What the service
 *   enforces is this and no more: RotateSecret is refused while AWSPENDING is on another version than AWSCURRENT, and
 *   the service invokes one rotation's steps one at a time. The lease excludes nothing, so a self-driven run
 *   (`engine.rotate`) resuming a rotation can overlap the service's own invocation of the same rotation (same
 *   token, idempotent steps: they converge), and the purger stays out of a secret by seeing its AWSPENDING version,
 *   not by taking the lease.
 * - `cancelRotation` removes AWSPENDING from the rotation's version (the CLI's equivalent:
 *   `aws secretsmanager update-secret-version-stage --version-stage AWSPENDING --remove-from-version-id <id>`).
 * - **The schedule is RotationRules** (see rotation-rules.ts), and NextRotationDate is `nextRotationAt`. What the
 *   service returns is read as hostile: rules that do not parse are shown as no schedule, with a warning that never
 *   repeats them. `updateSchedule` writes them with RotateSecret (RotateImmediately false).
 * - **The last failed rotation is the tag `rotator:last-error`** (TagResource / UntagResource), hidden from `tags`;
 *   a tag value that is not one `formatFailure` writes is not believed (no `lastError`).
 * - **Every call waits for its slot** under this instance's share of Secrets Manager's request quotas
 *   (request-pacer.ts), so a sweep over thousands of secrets is paced instead of throttled.
 */
/** Secrets Manager's limit on SecretString: 65,536 bytes. */
export const AWS_MAX_VALUE_BYTES = 65_536;

export class AwsSecretStore implements SecretStore {
  readonly maxValueBytes = AWS_MAX_VALUE_BYTES;
  readonly rotationLock = 'service-enforced';
  readonly hints: StoreHints = {
    cancelRotation: (secretId, versionId) =>
      `aws secretsmanager update-secret-version-stage --secret-id ${secretId} --version-stage AWSPENDING --remove-from-version-id ${versionId}`,
    enableRotation: (secretId) => `aws secretsmanager rotate-secret --secret-id ${secretId} --rotation-lambda-arn <the rotate function's ARN>`,
  };
  readonly #client: SecretsManagerClient;
  readonly #cacheSize: number;
  readonly #sweep: SweepFilter;
  readonly #pacer: RequestPacer | undefined;
  readonly #logger: Logger | undefined;
  /** Values by [secretId, versionId]. Versions are immutable, so an entry never goes stale. */
  readonly #values = new Map<string, string>();
  readonly #created = new Map<string, Date>();
  /** The AWSCURRENT version id last seen per secret: only a hint for promote's RemoveFromVersionId. */
  readonly #lastCurrent = new Map<string, string>();
  /** The RotationToken of the service-driven step under way (see withRotationToken). */
  readonly #rotationToken = new AsyncLocalStorage<string | undefined>();

  constructor(options: AwsSecretStoreOptions) {
    this.#client = options.client;
    this.#cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;
    this.#sweep = options.sweep ?? {};
    this.#pacer = options.requestRates === 'unpaced' ? undefined : new RequestPacer(options.requestRates);
    this.#logger = options.logger;
  }

  /**
   * Runs `run` (one service-driven step) with the step's RotationToken in scope: every PutSecretValue made inside it
   * carries the token, as the service requires of a function that reaches Secrets Manager through an assumed role.
   * The token is sensitive: it is scrubbed from this store's errors, and the caller registers it with its redactor.
   */
  withRotationToken<T>(rotationToken: string | undefined, run: () => Promise<T>): Promise<T> {
    return this.#rotationToken.run(rotationToken, run);
  }

  /** The names of the secrets whose rotation is on, narrowed by the sweep filter. */
  async listSecretIds(): Promise<string[]> {
    return (await this.#listOurs()).map((secret) => secret.Name);
  }

  /**
   * Every secret of `listSecretIds`, described from ListSecrets pages (100 secrets a call: stages, rotation rules,
   * tags, LastRotatedDate). Only a secret with a rotation under way costs more: its PENDING version is dated (one
   * ListSecretVersionIds) and probed for a value, as `describe` does. As with `dates: false`, other versions have
   * `createdAt` only when this instance has dated them before; CURRENT's `promotedAt` is then the service's
   * LastRotatedDate (or the secret's creation, when it never rotated): ListSecrets dates no version, so a value put
   * by hand since the last rotation is not seen. The purger and the rotation steps describe with `describe`.
   * A secret whose metadata is refused (an unknown `rotator:strategy`) is left out with a warning, one deleted since
   * the listing silently; any other failure fails the call (a role without ListSecretVersionIds fails every time).
   */
  async describeAll(options: CallOptions = {}): Promise<SecretInfo[]> {
    const { signal } = options;
    const entries = await this.#listOurs(signal);
    const out: Array<SecretInfo | undefined> = new Array<SecretInfo | undefined>(entries.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < entries.length; i = next++) {
        const entry = entries[i];
        if (entry !== undefined) out[i] = await this.#describeEntry(entry, signal);
      }
    };
    await Promise.all(Array.from({ length: Math.min(DESCRIBE_ALL_CONCURRENCY, entries.length) }, worker));
    return out.filter((info): info is SecretInfo => info !== undefined);
  }

  async #describeEntry(entry: SecretListEntry & { Name: string }, signal: AbortSignal | undefined): Promise<SecretInfo | undefined> {
    const secretId = entry.Name;
    const labelled = Object.entries(entry.SecretVersionsToStages ?? {});
    const pending = labelled.find(([, labels]) => isPending(labels))?.[0];
    try {
      if (pending !== undefined) await this.#learnCreationDates(secretId, [pending], signal);
    } catch (error) {
      if (error instanceof RotatorError && error.code === 'SECRET_NOT_FOUND') return undefined; // deleted since the listing
      throw error;
    }
    const lastRotated = entry.LastRotatedDate ?? entry.CreatedDate;
    const versions = await this.#versions(secretId, labelled, (createdAt) => (createdAt === undefined ? lastRotated : promotionTime(createdAt, entry.LastRotatedDate)), signal);
    try {
      return this.#info(secretId, entry, versions);
    } catch (error) {
      this.#logger?.warn('leaving out a secret whose rotation settings are refused; describe it to see why', { secretId, error });
      return undefined;
    }
  }

  /** ListSecrets through the SDK's paginator, narrowed as `listSecretIds` says. */
  async #listOurs(signal?: AbortSignal): Promise<Array<SecretListEntry & { Name: string }>> {
    const { namePrefix, rotationLambdaArns } = this.#sweep;
    const ours = (arn: string | undefined): boolean =>
      rotationLambdaArns === undefined || (arn !== undefined && rotationLambdaArns.some((fn) => arn === fn || arn.startsWith(`${fn}:`)));
    const found: Array<SecretListEntry & { Name: string }> = [];
    const pages = paginateListSecrets(
      { client: this.#client, pageSize: 100 },
      namePrefix === undefined ? {} : { Filters: [{ Key: 'name', Values: [namePrefix] }] },
      { abortSignal: signal },
    );
    try {
      // The paginator sends the next page's request when the loop asks for it: each waits for its slot first.
      await this.#pacer?.take('ListSecrets', signal);
      for await (const page of pages) {
        for (const secret of page.SecretList ?? []) {
          const name = secret.Name;
          // The name filter is a case-insensitive prefix match on the service; the IAM pattern is case-sensitive.
          if (name === undefined || (namePrefix !== undefined && !name.startsWith(namePrefix))) continue;
          if (secret.RotationEnabled === true && ours(secret.RotationLambdaARN)) found.push({ ...secret, Name: name });
        }
        if (page.NextToken !== undefined) await this.#pacer?.take('ListSecrets', signal);
      }
    } catch (error) {
      throw mapAwsError(error, { operation: 'ListSecrets', signal });
    }
    return found;
  }

  async describe(secretId: string, options: DescribeOptions = {}): Promise<SecretInfo> {
    checkSecretId(secretId);
    const { signal } = options;
    const out = await this.#describeSecret(secretId, signal);
    const labelled = Object.entries(out.VersionIdsToStages ?? {});
    if (options.dates !== false) await this.#learnCreationDates(secretId, labelled.map(([id]) => id), signal);
    const versions = await this.#versions(secretId, labelled, (createdAt) => promotionTime(createdAt, out.LastRotatedDate), signal, options.pendingValue !== false);
    return this.#info(secretId, out, versions);
  }

  /** The versions of a description, oldest first, from their labels; `promoted` dates CURRENT from its creation. */
  async #versions(
    secretId: string,
    labelled: ReadonlyArray<[string, string[]]>,
    promoted: (createdAt: Date | undefined) => Date | undefined,
    signal: AbortSignal | undefined,
    probePending = true,
  ): Promise<VersionInfo[]> {
    const versions = await Promise.all(
      labelled.map(async ([versionId, labels]): Promise<VersionInfo> => {
        const stages = toStages(labels);
        const createdAt = this.#created.get(cacheKey(secretId, versionId));
        const promotedAt = stages.includes('CURRENT') ? promoted(createdAt) : undefined;
        return {
          versionId,
          stages,
          ...(createdAt === undefined ? {} : { createdAt }),
          ...(promotedAt === undefined ? {} : { promotedAt }),
          hasValue: !stages.includes('PENDING') || (probePending ? await this.#hasValue(secretId, versionId, signal) : this.#values.has(cacheKey(secretId, versionId))),
        };
      }),
    );
    return versions.sort((a, b) => (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0));
  }

  /** What DescribeSecret and a ListSecrets entry both say of a secret, as the port's description. */
  #info(secretId: string, meta: SecretMeta, versions: VersionInfo[]): SecretInfo {
    const lastError = parseFailure(meta.Tags?.find((t) => t.Key === LAST_ERROR_TAG)?.Value);
    const next = meta.NextRotationDate;
    return {
      secretId,
      rotation: this.#rotationSettings(meta, secretId),
      tags: tagRecord(meta.Tags),
      versions,
      ...(lastError === undefined ? {} : { lastError }),
      ...(next instanceof Date && !Number.isNaN(next.getTime()) ? { nextRotationAt: next } : {}),
    };
  }

  #rotationSettings(meta: SecretMeta, secretId: string): RotationSettings {
    const settings = rotationSettings(meta, secretId);
    let schedule: RotationSchedule | undefined;
    try {
      schedule = scheduleFromRules(meta.RotationRules, `the rotation rules of secret ${secretId}`);
    } catch {
      // Never repeated: the rules may hold anything. The secret is shown without a schedule.
      this.#logger?.warn('ignoring rotation rules that do not parse; the secret is shown without a schedule', { secretId });
    }
    return schedule === undefined ? settings : { ...settings, schedule };
  }

  /**
   * Sets the secret's rotation schedule: RotateSecret with RotationRules and RotateImmediately false, which changes
   * the rules and starts no rotation (the service tests the rotation function's testSecret step on a throwaway
   * version). AWS sets rules only on a secret whose rotation is configured and on: otherwise INVALID_INPUT naming
   * `aws secretsmanager rotate-secret --rotation-lambda-arn ...`. A rotation under way is ROTATION_IN_PROGRESS
   * (the service refuses RotateSecret then). AWS has no rotation without a schedule, so `undefined` is refused:
   * `aws secretsmanager cancel-rotate-secret` turns rotation off altogether (and cancels a rotation under way, which
   * can leave AWSPENDING behind: see `cancelRotation`).
   */
  async updateSchedule(secretId: string, schedule: RotationSchedule | undefined, options: CallOptions = {}): Promise<void> {
    checkSecretId(secretId);
    const { signal } = options;
    if (schedule === undefined) {
      throw new RotatorError(
        'INVALID_INPUT',
        `AWS Secrets Manager has no rotation without a schedule; to stop rotating secret ${secretId}, run "aws secretsmanager cancel-rotate-secret --secret-id ${secretId}" ` +
          '(it also cancels a rotation under way; "aws secretsmanager rotate-secret" turns rotation on again)',
      );
    }
    const RotationRules = rulesFromSchedule(schedule, `the rotation schedule of secret ${secretId}`);
    const out = await this.#describeSecret(secretId, signal);
    if (out.RotationEnabled !== true || out.RotationLambdaARN === undefined) {
      throw new RotatorError(
        'INVALID_INPUT',
        `rotation of secret ${secretId} is not configured and on in AWS Secrets Manager, which sets a schedule only then; turn it on first with ` +
          `"aws secretsmanager rotate-secret --secret-id ${secretId} --rotation-lambda-arn <the rotate function's ARN> --rotation-rules '{...}'"`,
      );
    }
    const pending = Object.entries(out.VersionIdsToStages ?? {}).find(([, labels]) => isPending(labels))?.[0];
    if (pending !== undefined) throw inProgress(secretId, pending);
    const special = { InvalidRequestException: { code: 'ROTATION_IN_PROGRESS' as const, message: `a rotation of secret ${secretId} is under way; set the schedule once it finishes`, retryable: true } };
    await this.#call({ operation: 'RotateSecret', secretId, signal, special }, () =>
      this.#client.send(new RotateSecretCommand({ SecretId: secretId, RotationRules, RotateImmediately: false }), { abortSignal: signal }),
    );
  }

  /** Records (TagResource) or clears (UntagResource) the `rotator:last-error` tag; see SecretStore.recordRotationError. */
  async recordRotationError(secretId: string, failure: RotationFailure | undefined, options: CallOptions = {}): Promise<void> {
    checkSecretId(secretId);
    const { signal } = options;
    if (failure === undefined) {
      await this.#call({ operation: 'UntagResource', secretId, signal }, () =>
        this.#client.send(new UntagResourceCommand({ SecretId: secretId, TagKeys: [LAST_ERROR_TAG] }), { abortSignal: signal }),
      );
      return;
    }
    const Value = formatFailure(failure);
    await this.#call({ operation: 'TagResource', secretId, signal }, () =>
      this.#client.send(new TagResourceCommand({ SecretId: secretId, Tags: [{ Key: LAST_ERROR_TAG, Value }] }), { abortSignal: signal }),
    );
  }

  async getValue(secretId: string, selector: VersionSelector, options: CallOptions = {}): Promise<string> {
    checkSecretId(secretId);
    const stage = checkStage(selector.stage);
    const versionId = 'versionId' in selector ? checkVersionId(selector.versionId) : undefined;
    if (stage === undefined && versionId === undefined) throw new RotatorError('INVALID_INPUT', 'a version selector needs a stage or a versionId');
    if (versionId !== undefined && stage === undefined) {
      const cached = this.#values.get(cacheKey(secretId, versionId));
      if (cached !== undefined) return cached;
    }
    const what = versionId === undefined ? `no readable version labelled ${stage ?? 'CURRENT'}` : `no readable version ${versionId}${stage === undefined ? '' : ` labelled ${stage}`}`;
    const out = await this.#getSecretValue(secretId, versionId, stage, what, options.signal);
    if (out === undefined) throw await this.#notFound(secretId, options.signal, `secret ${secretId} has ${what} (no such version, or a rotation started but stored no value yet)`);
    const value = this.#remember(secretId, out);
    // PENDING that sits on CURRENT is a finished rotation (see the class comment): there is no pending value.
    if (stage === 'PENDING' && (out.VersionStages ?? []).includes(AWS_STAGES.CURRENT)) {
      throw new RotatorError('VERSION_NOT_FOUND', `secret ${secretId} has no version labelled PENDING (its last rotation finished)`);
    }
    return value;
  }

  /** DescribeSecret only: the version AWSCURRENT is on (no value read, not even a PENDING one's as `describe` does). */
  async currentVersionStamp(secretId: string, options: CallOptions = {}): Promise<string> {
    checkSecretId(secretId);
    const out = await this.#describeSecret(secretId, options.signal);
    const current = Object.entries(out.VersionIdsToStages ?? {}).find(([, labels]) => labels.includes(AWS_STAGES.CURRENT))?.[0];
    if (current === undefined) throw new RotatorError('VERSION_NOT_FOUND', `secret ${secretId} has no version labelled CURRENT`);
    return current;
  }

  async startRotation(secretId: string, token: string): Promise<void> {
    checkSecretId(secretId);
    checkToken(token);
    const map = (await this.#describeSecret(secretId)).VersionIdsToStages ?? {};
    const labels = map[token];
    if (labels !== undefined) {
      if (isPending(labels)) return; // the service created the stub: nothing to do
      throw new RotatorError(
        'VERSION_CONFLICT',
        `version ${token} of secret ${secretId} already exists and is not PENDING (${labels.join(', ') || 'no label'}); start a rotation with a new token`,
      );
    }
    const other = Object.entries(map).find(([, l]) => isPending(l));
    if (other !== undefined) throw inProgress(secretId, other[0]);
    throw new RotatorError(
      'INVALID_INPUT',
      `AWS Secrets Manager starts rotations itself: run "aws secretsmanager rotate-secret --secret-id ${secretId}" (or "Rotate secret immediately" in the ` +
        'console); the service creates the PENDING version and invokes the rotation function for each step',
    );
  }

  async putPending(secretId: string, token: string, value: string, options: CallOptions = {}): Promise<void> {
    checkSecretId(secretId);
    checkToken(token);
    checkValue(value, secretId, AWS_MAX_VALUE_BYTES, 'AWS Secrets Manager');
    const conflict = {
      code: 'VERSION_CONFLICT' as const,
      message: `version ${token} of secret ${secretId} already holds a different value; a version's value never changes, so a new value needs a new token`,
    };
    const known = this.#values.get(cacheKey(secretId, token));
    if (known === value) return; // the service would ignore the call: same token, same value
    if (known !== undefined) throw new RotatorError(conflict.code, conflict.message);
    const rotationToken = this.#rotationToken.getStore();
    await this.#call(
      { operation: 'PutSecretValue', secretId, special: { ResourceExistsException: conflict }, scrub: [value, ...(rotationToken === undefined ? [] : [rotationToken])], signal: options.signal },
      () =>
        this.#client.send(
          new PutSecretValueCommand({
            SecretId: secretId,
            ClientRequestToken: token,
            SecretString: value,
            VersionStages: [AWS_STAGES.PENDING],
            ...(rotationToken === undefined ? {} : { RotationToken: rotationToken }),
          }),
          { abortSignal: options.signal },
        ),
    );
    this.#store(secretId, token, value);
  }

  async promote(secretId: string, token: string, options: CallOptions = {}): Promise<void> {
    const { signal } = options;
    checkSecretId(secretId);
    checkToken(token);
    // The fast path, one call: the value is known (so the version exists and is no stub) and the CURRENT version
    // this instance saw last (the engine described the secret just before) is what RemoveFromVersionId names.
    // The service refuses a stale one with InvalidParameterException, and then we look, below.
    const seen = this.#lastCurrent.get(secretId);
    if (seen !== undefined && seen !== token && this.#values.has(cacheKey(secretId, token))) {
      try {
        await this.#pacer?.take('UpdateSecretVersionStage', signal);
        await this.#client.send(
          new UpdateSecretVersionStageCommand({ SecretId: secretId, VersionStage: AWS_STAGES.CURRENT, MoveToVersionId: token, RemoveFromVersionId: seen }),
          { abortSignal: signal },
        );
        this.#lastCurrent.set(secretId, token);
        return;
      } catch (error) {
        if (awsErrorName(error) !== 'InvalidParameterException') throw mapAwsError(error, { operation: 'UpdateSecretVersionStage', secretId, signal });
      }
    }
    // Two attempts: RemoveFromVersionId is a compare-and-swap on AWSCURRENT, so if another writer moved it between
    // our DescribeSecret and the update, the service refuses and we look again.
    for (let attempt = 1; ; attempt++) {
      const map = (await this.#describeSecret(secretId, signal)).VersionIdsToStages ?? {};
      const labels = map[token];
      if (labels?.includes(AWS_STAGES.CURRENT) === true) return;
      if (!(await this.#readable(secretId, token, signal))) {
        throw new RotatorError('VERSION_NOT_FOUND', `version ${token} of secret ${secretId} does not exist or has no value yet, so it cannot become CURRENT`);
      }
      const current = Object.entries(map).find(([, l]) => l.includes(AWS_STAGES.CURRENT))?.[0];
      try {
        await this.#pacer?.take('UpdateSecretVersionStage', signal);
        await this.#client.send(
          new UpdateSecretVersionStageCommand({
            SecretId: secretId,
            VersionStage: AWS_STAGES.CURRENT,
            MoveToVersionId: token,
            ...(current === undefined ? {} : { RemoveFromVersionId: current }),
          }),
          { abortSignal: signal },
        );
        this.#lastCurrent.set(secretId, token);
        return;
      } catch (error) {
        if (attempt < 2 && awsErrorName(error) === 'InvalidParameterException') continue;
        throw mapAwsError(error, { operation: 'UpdateSecretVersionStage', secretId, signal });
      }
    }
  }

  async retire(secretId: string, versionId: string): Promise<void> {
    checkSecretId(secretId);
    checkVersionId(versionId);
    const labels = (await this.#describeSecret(secretId)).VersionIdsToStages?.[versionId];
    if (labels === undefined) {
      // Unlabelled already (the service will delete it), or no such version.
      if (await this.#versionExists(secretId, versionId)) return;
      throw new RotatorError('VERSION_NOT_FOUND', `secret ${secretId} has no version ${versionId}`);
    }
    const live = toStages(labels).filter((s) => s === 'CURRENT' || s === 'PENDING');
    if (live.length > 0) {
      throw new RotatorError('INVALID_INPUT', `version ${versionId} of secret ${secretId} is ${live.join(' and ')}; only superseded versions can be retired`);
    }
    // Every label, custom ones too: a version keeps existing (and is never deleted) while any label is on it.
    for (const label of labels) {
      await this.#call({ operation: 'UpdateSecretVersionStage', secretId, notFound: { code: 'VERSION_NOT_FOUND', message: `secret ${secretId} has no version ${versionId}` } }, () =>
        this.#client.send(new UpdateSecretVersionStageCommand({ SecretId: secretId, VersionStage: label, RemoveFromVersionId: versionId })),
      );
    }
  }

  lockRotation(secretId: string): Promise<Lease> {
    checkSecretId(secretId);
    // The service is the lock (see the class comment); nothing to take or release.
    return Promise.resolve({ release: () => Promise.resolve() });
  }

  async cancelRotation(secretId: string, versionId?: string): Promise<string | undefined> {
    checkSecretId(secretId);
    if (versionId !== undefined) checkVersionId(versionId);
    const map = (await this.#describeSecret(secretId)).VersionIdsToStages ?? {};
    const pending = Object.entries(map).find(([, labels]) => isPending(labels))?.[0];
    if (pending === undefined || (versionId !== undefined && pending !== versionId)) return undefined;
    await this.#call({ operation: 'UpdateSecretVersionStage', secretId, notFound: { code: 'VERSION_NOT_FOUND', message: `secret ${secretId} has no version ${pending}` } }, () =>
      this.#client.send(new UpdateSecretVersionStageCommand({ SecretId: secretId, VersionStage: AWS_STAGES.PENDING, RemoveFromVersionId: pending })),
    );
    return pending;
  }

  // ---- calls ----

  /** One call: its request slot (see request-pacer.ts), then the call, its errors mapped. */
  async #call<T>(ctx: MapContext, run: () => Promise<T>): Promise<T> {
    try {
      await this.#pacer?.take(ctx.operation, ctx.signal);
      return await run();
    } catch (error) {
      throw mapAwsError(error, ctx);
    }
  }

  async #describeSecret(secretId: string, signal?: AbortSignal): Promise<DescribeSecretResponse> {
    const out = await this.#call({ operation: 'DescribeSecret', secretId, signal }, () =>
      this.#client.send(new DescribeSecretCommand({ SecretId: secretId }), { abortSignal: signal }),
    );
    const current = Object.entries(out.VersionIdsToStages ?? {}).find(([, labels]) => labels.includes(AWS_STAGES.CURRENT))?.[0];
    if (current !== undefined) this.#lastCurrent.set(secretId, current);
    this.#trim(this.#lastCurrent);
    return out;
  }

  /** GetSecretValue; undefined for ResourceNotFoundException (no secret, no such version, or a stub). */
  async #getSecretValue(
    secretId: string,
    versionId: string | undefined,
    stage: Stage | undefined,
    what: string,
    signal: AbortSignal | undefined,
  ): Promise<GetSecretValueResponse | undefined> {
    try {
      await this.#pacer?.take('GetSecretValue', signal);
      return await this.#client.send(
        new GetSecretValueCommand({
          SecretId: secretId,
          ...(versionId === undefined ? {} : { VersionId: versionId }),
          ...(stage === undefined ? {} : { VersionStage: AWS_STAGES[stage] }),
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      if (awsErrorName(error) === 'ResourceNotFoundException') return undefined;
      throw mapAwsError(error, { operation: 'GetSecretValue', secretId, notFound: { code: 'VERSION_NOT_FOUND', message: `secret ${secretId} has ${what}` }, signal });
    }
  }

  /** ResourceNotFoundException from GetSecretValue means no secret or no version: one DescribeSecret tells which. */
  async #notFound(secretId: string, signal: AbortSignal | undefined, versionMessage: string): Promise<RotatorError> {
    await this.#describeSecret(secretId, signal); // SECRET_NOT_FOUND when the secret itself is missing
    return new RotatorError('VERSION_NOT_FOUND', versionMessage);
  }

  /** Whether the version has a value: the cache, else one GetSecretValue of the PENDING version. */
  async #hasValue(secretId: string, versionId: string, signal: AbortSignal | undefined): Promise<boolean> {
    if (this.#values.has(cacheKey(secretId, versionId))) return true;
    const out = await this.#getSecretValue(secretId, versionId, 'PENDING', `no readable PENDING version ${versionId}`, signal);
    if (out === undefined) return false;
    this.#remember(secretId, out);
    return true;
  }

  /** Whether the version exists with a value, whatever its labels (promote may also roll back to PREVIOUS). */
  async #readable(secretId: string, versionId: string, signal: AbortSignal | undefined): Promise<boolean> {
    if (this.#values.has(cacheKey(secretId, versionId))) return true;
    const out = await this.#getSecretValue(secretId, versionId, undefined, `no readable version ${versionId}`, signal);
    if (out === undefined) return false;
    this.#remember(secretId, out);
    return true;
  }

  async #versionExists(secretId: string, versionId: string): Promise<boolean> {
    let next: string | undefined;
    do {
      const token = next;
      const page = await this.#call({ operation: 'ListSecretVersionIds', secretId }, () =>
        this.#client.send(new ListSecretVersionIdsCommand({ SecretId: secretId, IncludeDeprecated: true, MaxResults: 100, ...(token === undefined ? {} : { NextToken: token }) })),
      );
      if ((page.Versions ?? []).some((v) => v.VersionId === versionId)) return true;
      next = page.NextToken;
    } while (next !== undefined);
    return false;
  }

  /** Creation dates never change: list versions only when one we have not seen appears (once per rotation). */
  async #learnCreationDates(secretId: string, versionIds: readonly string[], signal: AbortSignal | undefined): Promise<void> {
    if (versionIds.every((id) => this.#created.has(cacheKey(secretId, id)))) return;
    let next: string | undefined;
    do {
      const token = next;
      const page = await this.#call({ operation: 'ListSecretVersionIds', secretId, signal }, () =>
        this.#client.send(new ListSecretVersionIdsCommand({ SecretId: secretId, MaxResults: 100, ...(token === undefined ? {} : { NextToken: token }) }), {
          abortSignal: signal,
        }),
      );
      for (const v of page.Versions ?? []) {
        if (v.VersionId !== undefined && v.CreatedDate !== undefined) this.#created.set(cacheKey(secretId, v.VersionId), v.CreatedDate);
      }
      next = page.NextToken;
    } while (next !== undefined);
    this.#trim(this.#created);
  }

  // ---- the cache ----

  #remember(secretId: string, out: GetSecretValueResponse): string {
    if (out.SecretString === undefined || out.VersionId === undefined) {
      throw new RotatorError('INVALID_SECRET', `secret ${secretId} holds a binary value (SecretBinary); Rotator rotates JSON kept in SecretString`);
    }
    this.#store(secretId, out.VersionId, out.SecretString);
    if ((out.VersionStages ?? []).includes(AWS_STAGES.CURRENT)) this.#lastCurrent.set(secretId, out.VersionId);
    if (out.CreatedDate !== undefined) this.#created.set(cacheKey(secretId, out.VersionId), out.CreatedDate);
    return out.SecretString;
  }

  #store(secretId: string, versionId: string, value: string): void {
    this.#values.set(cacheKey(secretId, versionId), value);
    this.#trim(this.#values);
  }

  #trim(map: Map<string, unknown>): void {
    while (map.size > this.#cacheSize) {
      const oldest = map.keys().next();
      if (oldest.done === true) return;
      map.delete(oldest.value);
    }
  }
}

// ---- mapping and checks ----

function cacheKey(secretId: string, versionId: string): string {
  return JSON.stringify([secretId, versionId]);
}

/**
 * When CURRENT was promoted. The service keeps no label history, but LastRotatedDate is when its rotation last
 * completed, and a version cannot have become CURRENT before it existed; the later of the two never shortens the
 * purger's safe window (a value put straight to AWSCURRENT was promoted when it was created).
 */
function promotionTime(createdAt: Date | undefined, lastRotated: Date | undefined): Date | undefined {
  if (createdAt === undefined) return undefined; // described without dates: unknown, and never guessed early
  return lastRotated !== undefined && lastRotated > createdAt ? lastRotated : createdAt;
}

function inProgress(secretId: string, pending: string): RotatorError {
  return new RotatorError('ROTATION_IN_PROGRESS', `a rotation of secret ${secretId} is already in progress (version ${pending} is PENDING); let it finish or retry later`, {
    retryable: true,
  });
}

function isPending(labels: readonly string[]): boolean {
  return labels.includes(AWS_STAGES.PENDING) && !labels.includes(AWS_STAGES.CURRENT);
}

/** The port's stages of a version, in STAGES order; PENDING on the CURRENT version is a finished rotation. */
function toStages(labels: readonly string[]): Stage[] {
  return STAGES.filter((stage) => labels.includes(AWS_STAGES[stage]) && !(stage === 'PENDING' && labels.includes(AWS_STAGES.CURRENT)));
}

/** What DescribeSecret and a ListSecrets entry share, that a description is made of. */
type SecretMeta = Pick<DescribeSecretResponse, 'RotationEnabled' | 'RotationRules' | 'NextRotationDate' | 'Tags'>;

/**
 * The secret's tags as the port's record (own properties only: a key such as `__proto__` stays a plain key), without
 * the store's own bookkeeping (`rotator:last-error`, shown as `lastError`).
 */
function tagRecord(tags: readonly Tag[] | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).flatMap(({ Key, Value }) => (Key === undefined || Key === LAST_ERROR_TAG ? [] : [[Key, Value ?? '']])));
}

function rotationSettings(out: SecretMeta, secretId: string): RotationSettings {
  const tag = out.Tags?.find((t) => t.Key === STRATEGY_TAG)?.Value;
  if (tag === undefined) return { enabled: out.RotationEnabled === true };
  if (!(STRATEGIES as readonly string[]).includes(tag)) {
    throw new RotatorError('INVALID_INPUT', `secret ${secretId} has tag ${STRATEGY_TAG}="${tag}"; use one of ${STRATEGIES.join(', ')}`);
  }
  return { enabled: out.RotationEnabled === true, strategy: tag as Strategy };
}


function checkVersionId(versionId: unknown): string {
  if (typeof versionId !== 'string' || versionId.length === 0 || versionId.length > TOKEN_MAX) {
    throw new RotatorError('INVALID_INPUT', `a version id must be a string of 1-${TOKEN_MAX} characters`);
  }
  return versionId;
}

/** Secrets Manager's ClientRequestToken: 32-64 characters. Checked here so a bad token costs no call. */
function checkToken(token: unknown): asserts token is string {
  if (typeof token !== 'string' || token.length < TOKEN_MIN || token.length > TOKEN_MAX) {
    throw new RotatorError('INVALID_INPUT', `a rotation token on AWS Secrets Manager must be ${TOKEN_MIN}-${TOKEN_MAX} characters (a UUID fits)`);
  }
}


