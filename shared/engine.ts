import { createHash, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { RotatorError, isRotatorError, toRotatorError } from './errors.js';
import type { Logger } from './logger.js';
import { generatePassword, passwordOptionsFromEnv, type RandomInt } from './password.js';
import {
  masterFields,
  runCheck,
  skipCheck,
  storedMaster,
  type CreatePendingInput,
  type MasterCredential,
  type MasterResolver,
  type PreflightCheck,
  type Rotator,
  type RotatorContext,
  type TestInput,
} from './rotator.js';
import { parseSecretJson, type SecretObject } from './secret.js';
import { alternateUsername } from './alternate-user.js';
import { chooseStrategy, pinStrategyHint } from './strategy.js';
import {
  STRATEGIES,
  pendingRotation,
  versionWithStage,
  type CallOptions,
  type Lease,
  type RotationFailure,
  type SecretInfo,
  type SecretStore,
  type Stage,
  type Strategy,
  type StoreHints,
  type VersionInfo,
} from './store.js';

/**
 * The rotation engine joins a SecretStore and the Rotators with the four steps of the rotation protocol.
 * Every step is idempotent and resumable: all state lives in the store and the target, never in memory, so a
 * crash at any point is repaired by running the same step (service-driven) or the whole rotation
 * (self-driven) again.
 */
export const STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;
export type Step = (typeof STEPS)[number];

export type StepOutcome =
  | 'done' // the step did its work
  | 'already-done' // the store or target already showed the step's effect
  | 'already-current'; // the token is CURRENT: the rotation finished earlier

export interface StepResult {
  step: Step;
  outcome: StepOutcome;
  ms: number;
}

export interface RotationReport {
  secretId: string;
  /** The version that is CURRENT after the rotation. */
  versionId: string;
  engine: string;
  strategy: Strategy;
  /** True when the run continued a rotation that an earlier run left PENDING. */
  resumed: boolean;
  steps: StepResult[];
  totalMs: number;
}

/** What `preflight` found: the engine and strategy once the CURRENT value loaded, and every check in order. */
export interface PreflightReport {
  secretId: string;
  engine?: string;
  strategy?: Strategy;
  checks: PreflightCheck[];
}

export interface EngineOptions {
  store: SecretStore;
  rotators: readonly Rotator[];
  logger: Logger;
  /** The strategy for secrets whose rotation settings name none (ROTATION_STRATEGY); single-user otherwise. */
  defaultStrategy?: Strategy;
  /** Where the password policy env vars of AWS's templates are read (PASSWORD_LENGTH, EXCLUDE_*). */
  env?: NodeJS.ProcessEnv;
  random?: RandomInt;
  newToken?: () => string;
  /** Completes master secrets before rotators see them (on AWS: RDS-managed secrets). Default: as stored. */
  resolveMaster?: MasterResolver;
  /** A monotonic clock in ms, for how old a passed step or a master read is (see MOMENTS_AGO_MS). Default: performance.now. */
  now?: () => number;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Called after each step of a self-driven rotation, for progress output. */
  onStep?: (result: StepResult) => void;
}

interface StepOptions extends RunOptions {
  /** Service-driven: nothing proves testSecret ran before finishSecret, so finishSecret tests again. */
  testBeforePromote?: boolean;
  /**
   * The level of the step's outcome line. Self-driven, it is the step's one INFO line; service-driven, the caller
   * logs each invocation's outcome itself (success or failure, with its runtime's context: functions/aws/rotate.ts),
   * so the engine's line would be a second copy and goes to DEBUG.
   */
  outcomeLevel: 'info' | 'debug';
}

/** How far a self-driven rotation got, for the failure it records: the step, and the secret as first described. */
interface Progress {
  step: string;
  info?: SecretInfo;
  token?: string;
}

/** Errors that are not the secret's rotation failing (see #recordOutcome). */
const UNRECORDED: ReadonlySet<string> = new Set(['ROTATION_IN_PROGRESS', 'ROTATION_DISABLED', 'SECRET_NOT_FOUND', 'NOT_PENDING', 'VERSION_NOT_FOUND', 'INVALID_INPUT']);

interface Loaded {
  info: SecretInfo;
  current: SecretObject;
  rotator: Rotator;
  engine: string;
  strategy: Strategy;
}

const MAX_REMEMBERED_VALUES = 256;

/**
 * How long what this process did for a rotation stands in for doing it again in a later step of the same rotation: a
 * testSecret that passed (finishSecret's own test, service-driven), a setSecret that passed (TestInput.setMomentsAgo),
 * and the master secret as read (#readMaster). AWS invokes each step right after the one before returns, in the same
 * warm container, so a minute covers the normal path with room to spare, while a step invoked later (a retry, a
 * hand-run step) does its own work again.
 */
const MOMENTS_AGO_MS = 60_000;

/** A step that passed in this process: when, and a hash of the inputs it was given (testFingerprint). */
interface Passed {
  at: number;
  fingerprint: string;
}

/** The master secret as one rotation read it (see #readMaster): the raw value too, to register it with the redactor
 * on every use. */
interface RememberedMaster {
  token: string;
  masterId: string;
  at: number;
  raw: string;
  master: MasterCredential;
}

export class RotationEngine {
  readonly #store: SecretStore;
  readonly #rotators: readonly Rotator[];
  readonly #logger: Logger;
  readonly #defaultStrategy: Strategy;
  readonly #env: NodeJS.ProcessEnv;
  readonly #random: RandomInt | undefined;
  readonly #newToken: () => string;
  readonly #resolveMaster: MasterResolver;
  readonly #hints: StoreHints;
  /** Values by secret and version id. Versions are immutable, so a value once read or written stays true. */
  readonly #values = new Map<string, string>();
  /** The CURRENT version id each PENDING value this engine stored was derived from (by secret and token): in a warm
   * container the later steps check it without asking the store for creation dates. */
  readonly #derivedFrom = new Map<string, string>();
  /** When testSecret last passed in this process, by secret and token, for the test's exact inputs (testFingerprint). */
  readonly #tested = new Map<string, Passed>();
  /** When setSecret last passed in this process, by secret and token, for the same inputs (TestInput.setMomentsAgo). */
  readonly #set = new Map<string, Passed>();
  /** The master each secret's rotation under way in this process read, by secret id (one rotation at a time each). */
  readonly #masters = new Map<string, RememberedMaster>();
  readonly #now: () => number;

  constructor(options: EngineOptions) {
    this.#store = options.store;
    this.#rotators = options.rotators;
    this.#logger = options.logger;
    this.#defaultStrategy = options.defaultStrategy ?? 'single-user';
    this.#env = options.env ?? process.env;
    this.#random = options.random;
    this.#newToken = options.newToken ?? randomUUID;
    this.#resolveMaster = options.resolveMaster ?? storedMaster;
    this.#hints = options.store.hints ?? DEFAULT_HINTS;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Service-driven: runs exactly one step for `token`, after the guards of AWS's templates, in their order:
   * rotation enabled, token a known version, token already CURRENT (succeed without work), token PENDING.
   */
  async runStep(secretId: string, token: string, step: Step, options: RunOptions = {}): Promise<StepResult> {
    // createSecret writes first (#createSecret), so it does not need to know whether PENDING already holds a value.
    const info = await this.#store.describe(secretId, { dates: false, pendingValue: step !== 'createSecret', signal: options.signal });
    // Steps arrive one by one, and anyone may invoke finishSecret: it tests the value again before promoting it.
    // Each step also checks that a stored PENDING value still fits CURRENT: on AWS a PutSecretValue may have replaced
    // AWSCURRENT under it, and the service would otherwise set and promote the old value's credential.
    let result: StepResult;
    try {
      result = await this.#timedStep(info, token, step, { ...options, testBeforePromote: true, outcomeLevel: 'debug' }, async () => {
        const loaded = await this.#load(info, options);
        await this.#assertFits(loaded, token, options);
        return loaded;
      });
    } catch (error) {
      await this.#recordOutcome(info, error, step, options, token);
      throw error;
    }
    if (step === 'finishSecret') await this.#recordOutcome(info, undefined, step, options);
    return result;
  }

  /**
   * Self-driven: all four steps under the secret's rotation lock, resuming a rotation that is already PENDING
   * instead of starting a second one. A fresh rotation loads and checks everything it can (CURRENT, the rotator,
   * the strategy, the master secret) before it creates the PENDING stub, so a failure that could not have touched
   * the target leaves nothing behind; a PENDING that no longer fits its secret is refused (STALE_PENDING).
   */
  async rotate(secretId: string, options: RunOptions = {}): Promise<RotationReport> {
    const started = performance.now();
    const lease = await this.#store.lockRotation(secretId);
    // A lease that can be lost (a cloud lease that could not be renewed) aborts every store and target call after the
    // loss, and the steps stop before the next one: another process may hold the lock by then.
    const lost = lease.signal;
    const signal = lost === undefined ? options.signal : options.signal === undefined ? lost : AbortSignal.any([options.signal, lost]);
    let report: RotationReport;
    const progress: Progress = { step: 'load' };
    try {
      report = await this.#rotateLocked(secretId, { ...options, signal }, started, lost, progress);
      if (progress.info !== undefined) await this.#recordOutcome(progress.info, undefined, progress.step, { signal });
    } catch (error) {
      // With the lock lost, the secret may be someone else's now: its record is theirs to write.
      if (progress.info !== undefined && lost?.aborted !== true) await this.#recordOutcome(progress.info, error, progress.step, { signal }, progress.token);
      await this.#release(lease, secretId);
      throw error;
    }
    await this.#release(lease, secretId);
    return report;
  }

  async #isCurrent(secretId: string, token: string, options: CallOptions): Promise<boolean> {
    const info = await this.#store.describe(secretId, { dates: false, ...options });
    return info.versions.some((v) => v.versionId === token && v.stages.includes('CURRENT'));
  }

  /**
   * `rotate --dry-run`: whether a rotation of the secret would succeed, checked the way `rotate` proceeds up to
   * createSecret (the store's side, CURRENT, the strategy, the master), then by the rotator against the target. It
   * changes nothing: no store write, no step, no statement or request that alters the target. The lock is tested by
   * taking it and releasing it at once where the store's lock excludes (a lock file created and removed on the file
   * store, a lease taken and released on Key Vault and Secret Manager); on AWS the service excludes, and the PENDING
   * check says whether it would. A failed check is reported, not thrown; only a secret that cannot be described throws.
   */
  async preflight(secretId: string, options: RunOptions = {}): Promise<PreflightReport> {
    const { signal } = options;
    const info = await this.#store.describe(secretId, { dates: true, signal });
    const checks: PreflightCheck[] = [
      await runCheck('rotation-enabled', () => {
        assertEnabled(info, this.#hints);
        return 'rotation is enabled for the secret';
      }),
      await this.#lockCheck(secretId),
    ];
    const report = (loaded?: Loaded): PreflightReport => ({
      secretId,
      ...(loaded === undefined ? {} : { engine: loaded.engine, strategy: loaded.strategy }),
      // Reasons quote what servers and providers answered: masked like every log line, whatever they echoed.
      checks: checks.map((c) => ({ ...c, reason: this.#logger.redactor.redact(c.reason) })),
    });
    let loaded: Loaded | undefined;
    checks.push(
      await runCheck('current-value', async () => {
        loaded = await this.#load(info, options);
        return `engine ${loaded.engine}, strategy ${loaded.strategy}`;
      }),
    );
    if (loaded === undefined) return report();
    const ready = loaded;
    checks.push(
      await runCheck('pending', async () => {
        const pending = pendingRotation(info);
        if (pending === undefined) return 'no rotation is under way; rotate would start one';
        await this.#assertFits(ready, pending.versionId, options);
        return `version ${pending.versionId} is PENDING (${pendingAge(info, pending.versionId)}); rotate would resume it`;
      }),
    );
    const ctx: RotatorContext = { logger: this.#logger, signal };
    let master: MasterCredential | undefined;
    checks.push(
      await runCheck('master-secret', async () => {
        const masterId = ready.rotator.masterSecretId(ready.current, ready.strategy);
        if (masterId === undefined) return { status: 'skip', reason: `the ${ready.strategy} strategy of engine ${ready.engine} reads no master secret` };
        master = await this.#readMaster(masterId, ctx);
        return `secret ${masterId} is readable and valid JSON`;
      }),
    );
    if (ready.rotator.preflight === undefined) checks.push(skipCheck('target', `the ${ready.engine} rotator has no checks against its target`));
    else checks.push(...(await ready.rotator.preflight({ strategy: ready.strategy, current: ready.current, ...(master === undefined ? {} : { master }) }, ctx)));
    return report(ready);
  }

  /** Whether the rotation lock is free, without keeping it (see preflight). */
  async #lockCheck(secretId: string): Promise<PreflightCheck> {
    if (this.#store.rotationLock === 'service-enforced') {
      return skipCheck('lock', "the store's service refuses a second rotation itself while one is PENDING (see the PENDING check); there is no lock to test");
    }
    return runCheck('lock', async () => {
      const lease = await this.#store.lockRotation(secretId);
      await this.#release(lease, secretId);
      return 'free: taken and released at once';
    });
  }

  /**
   * Records a failed rotation on the secret, or clears the record after one that succeeded (only if there was one,
   * so a healthy rotation costs no extra write), for `status` on every runner. Errors that say nothing about the
   * secret's rotation (a stray step, a disabled secret, someone else's lock) are not recorded. Best effort: a store
   * that cannot record it only gets a warning, and the rotation's own outcome stands.
   */
  async #recordOutcome(info: SecretInfo, error: unknown, step: string, options: CallOptions, token?: string): Promise<void> {
    const record = this.#store.recordRotationError?.bind(this.#store);
    if (record === undefined) return;
    let failure: RotationFailure | undefined;
    try {
      if (error !== undefined) {
        const code = toRotatorError(error).code;
        if (UNRECORDED.has(code)) return;
        failure = { code, at: new Date(), step };
        // A finishSecret that failed after its promotion (in the bookkeeping after it) rotated the secret: recorded as
        // a failure, it would stay on a healthy secret, since a retry finds the token CURRENT and has nothing to do.
        if (step === 'finishSecret' && token !== undefined && (await this.#isCurrent(info.secretId, token, options))) failure = undefined;
      }
      if (failure === undefined && info.lastError === undefined) return;
      await record(info.secretId, failure, options);
    } catch (recordError) {
      this.#logger.warn('could not record the outcome of the rotation on the secret; `rotator status` shows the previous one', { secretId: info.secretId, error: recordError });
    }
  }

  /** A rotation that finished (or failed) has its outcome: a lock that will not go away is worth a warning, not a
   * failure. The file store's lock is taken over by the next run once its holder is gone (see lock.ts). */
  async #release(lease: Lease, secretId: string): Promise<void> {
    try {
      await lease.release();
    } catch (error) {
      this.#logger.warn('could not release the rotation lock; the next run takes it over once this process has ended', { secretId, error });
    }
  }

  async #rotateLocked(secretId: string, options: RunOptions, started: number, lost: AbortSignal | undefined, progress: Progress): Promise<RotationReport> {
    const describe = (dates = false): Promise<SecretInfo> => this.#store.describe(secretId, { dates, signal: options.signal });
    let info = await describe();
    progress.info = info;
    assertEnabled(info, this.#hints);
    const pending = pendingRotation(info);
    let token: string;
    let loaded: Loaded;
    let createdHere = false;
    if (pending === undefined) {
      const prepared = await this.#load(info, options);
      // The token first, so the master read to check it is the one this rotation's steps use (#readMaster).
      token = this.#newToken();
      await this.#checkMaster(prepared, token, options);
      progress.token = token;
      assertLeaseHeld(lost, secretId); // startRotation takes no signal
      await this.#store.startRotation(secretId, token);
      createdHere = true;
      info = await describe();
      loaded = { ...prepared, info };
    } else {
      token = pending.versionId;
      progress.token = token;
      // DEBUG: the steps' lines and the caller's summary (RotationReport.resumed) say it at INFO.
      this.#logger.debug('resuming the rotation left pending by an earlier run', { secretId, versionId: token });
      try {
        // Dates say how old the PENDING is and whether CURRENT was replaced after it (see DescribeOptions).
        if (pending.createdAt === undefined) info = await describe(true);
        loaded = await this.#load(info, options);
        await this.#assertFits(loaded, token, options);
      } catch (error) {
        throw resumedError(error, info, token, this.#hints);
      }
    }
    // Under the lock nothing else moves the labels, so one description and one read of CURRENT serve all steps.
    const load = (): Promise<Loaded> => Promise.resolve(loaded);
    const steps: StepResult[] = [];
    for (const step of STEPS) {
      progress.step = step;
      try {
        assertLeaseHeld(lost, secretId);
        const result = await this.#timedStep(info, token, step, { ...options, outcomeLevel: 'info' }, load);
        steps.push(result);
        options.onStep?.(result);
      } catch (error) {
        // With the lock lost, the rotation may be someone else's now: say so, and touch nothing more.
        assertLeaseHeld(lost, secretId);
        if (createdHere && step === 'createSecret' && stubIsDisposable(error, loaded.rotator)) await this.#dropStub(secretId, token);
        throw pending === undefined ? error : resumedError(error, info, token, this.#hints);
      }
    }
    return {
      secretId,
      versionId: token,
      engine: loaded.engine,
      strategy: loaded.strategy,
      resumed: pending !== undefined,
      steps,
      totalMs: Math.round(performance.now() - started),
    };
  }

  /** The master secret a strategy needs, read (and resolved) once before a rotation starts: missing or unreadable,
   * the rotation fails before it has created anything. */
  async #checkMaster({ info, current, rotator, strategy }: Loaded, token: string, options: RunOptions): Promise<void> {
    const masterId = rotator.masterSecretId(current, strategy);
    if (masterId !== undefined) await this.#readMaster(masterId, { logger: this.#logger, signal: options.signal }, { secretId: info.secretId, token });
  }

  /**
   * createSecret failed in the run that created the stub: nothing was stored, so the stub only blocks the next
   * run (and the purger). Dropped unless createSecret stored its value after all (then the rotation resumes).
   * See stubIsDisposable for when this is called.
   */
  async #dropStub(secretId: string, token: string): Promise<void> {
    try {
      const version = (await this.#store.describe(secretId, { dates: false })).versions.find((v) => v.versionId === token);
      if (version !== undefined && !version.hasValue) await this.#store.cancelRotation(secretId, token);
    } catch (error) {
      this.#logger.warn('could not remove the PENDING stub of the rotation that failed; the next run resumes it', { secretId, versionId: token, error });
    }
  }

  /**
   * A PENDING value is derived from the CURRENT value and the settings of its day. If CURRENT has been replaced
   * since (a `put`, a PutSecretValue, a rollback) or the strategy has changed, resuming it would set and promote a
   * credential for the old value (another host, another user): refuse, and say how to start over.
   */
  async #assertFits(loaded: Loaded, token: string, options: RunOptions): Promise<void> {
    let { info } = loaded;
    const find = (): { pending: VersionInfo | undefined; current: VersionInfo | undefined } => ({
      pending: info.versions.find((v) => v.versionId === token),
      current: versionWithStage(info, 'CURRENT'),
    });
    let { pending, current } = find();
    if (pending?.hasValue !== true) return; // a stub holds nothing derived: createSecret derives it from CURRENT now
    const derivedFrom = this.#derivedFrom.get(versionKey(info.secretId, token));
    if (derivedFrom !== undefined) {
      // This engine stored the value: it knows which CURRENT it came from.
      if (current?.versionId !== derivedFrom) throw stalePending(info, token, this.#hints, 'CURRENT was replaced after the PENDING value was derived from it');
    } else {
      if (pending.createdAt === undefined || current?.createdAt === undefined) {
        // Described without dates (the steps' guards ask for none), and this engine did not store the value: ask once
        // more, with dates (a store that dates versions by another request remembers them: they never change).
        info = await this.#store.describe(info.secretId, { dates: true, signal: options.signal });
        ({ pending, current } = find());
      }
      const pendingCreated = pending?.createdAt;
      const currentSince = current?.promotedAt ?? current?.createdAt;
      if (pendingCreated !== undefined && currentSince !== undefined && currentSince.getTime() > pendingCreated.getTime()) {
        throw stalePending(info, token, this.#hints, `CURRENT was replaced (${currentSince.toISOString()}) after the PENDING version was created`);
      }
    }
    // The strategy decides which user the PENDING value names: the same one, or the alternate.
    const ctx: RotatorContext = { logger: this.#logger, signal: options.signal };
    const value = await this.#readPending(loaded, token, ctx);
    const user = loaded.current.username;
    if (typeof user === 'string' && typeof value.username === 'string') {
      const expected = loaded.strategy === 'alternating-users' ? alternateUsername(user) : user;
      if (value.username !== expected) {
        throw stalePending(info, token, this.#hints, `it was made for another strategy than ${loaded.strategy} (it names ${value.username === user ? 'the same user' : 'another user'} than the ${loaded.strategy} strategy derives from CURRENT)`);
      }
    }
  }

  async #timedStep(
    info: SecretInfo,
    token: string,
    step: Step,
    options: StepOptions,
    load: () => Promise<Loaded>,
  ): Promise<StepResult> {
    const started = performance.now();
    const logger = this.#logger.child({ secretId: info.secretId, versionId: token, step });
    let outcome: StepOutcome;
    try {
      outcome = await this.#guarded(info, token, logger, async () => this.#step(step, await load(), token, logger, options));
    } catch (error) {
      // Whatever failed, the master this rotation remembered may be why (rotated since it was read: an auth failure
      // with the old password): the retry reads it fresh (#readMaster).
      this.#masters.delete(info.secretId);
      throw error;
    }
    const result = { step, outcome, ms: Math.round(performance.now() - started) };
    logger[options.outcomeLevel](`${step}: ${outcome}`, { outcome, ms: result.ms });
    return result;
  }

  async #guarded(info: SecretInfo, token: string, logger: Logger, run: () => Promise<StepOutcome>): Promise<StepOutcome> {
    assertEnabled(info, this.#hints);
    const version = info.versions.find((v) => v.versionId === token);
    if (version === undefined) {
      throw new RotatorError(
        'VERSION_NOT_FOUND',
        `secret ${info.secretId} has no version ${token}; a rotation step needs the token of the version its rotation started`,
      );
    }
    if (version.stages.includes('CURRENT')) {
      logger.debug('the version is already CURRENT; nothing to do');
      return 'already-current';
    }
    if (!version.stages.includes('PENDING')) {
      throw new RotatorError(
        'NOT_PENDING',
        `version ${token} of secret ${info.secretId} is not PENDING; only the rotation that owns the PENDING version can run its steps`,
      );
    }
    return run();
  }

  async #step(step: Step, loaded: Loaded, token: string, logger: Logger, options: StepOptions): Promise<StepOutcome> {
    const ctx: RotatorContext = { logger, signal: options.signal };
    switch (step) {
      case 'createSecret': {
        const outcome = await this.#createSecret(loaded, token, ctx, options);
        const from = versionWithStage(loaded.info, 'CURRENT')?.versionId;
        if (outcome === 'done' && from !== undefined) remember(this.#derivedFrom, versionKey(loaded.info.secretId, token), from);
        return outcome;
      }
      case 'setSecret':
        return this.#recordingPass(this.#set, loaded, token, ctx, (pending) => this.#setSecret(loaded, token, pending, ctx));
      case 'testSecret':
        // Service-driven, setSecret ran in this process moments ago when AWS invoked it on this warm container. Self-
        // driven (rotate), set ran just before in the same loop, on the same loaded inputs, under the rotation lock
        // (on AWS the service's own invocation may overlap, with the same token and idempotent steps): the record is
        // seconds old there too, and the fingerprint and window are checked the same way rather than assumed.
        return this.#recordingPass(this.#tested, loaded, token, ctx, async (pending) => {
          await loaded.rotator.test(pending, ctx, this.#testInput(loaded, token, ctx, this.#passedMomentsAgo(this.#set, loaded, token, pending)));
          return 'done';
        });
      case 'finishSecret': {
        if (options.testBeforePromote === true) await this.#testBeforePromote(loaded, token, ctx);
        const outcome = await this.#finishSecret(loaded.info, token, ctx);
        // The rotation is over: its master is not kept in memory longer than it is of use.
        this.#masters.delete(loaded.info.secretId);
        return outcome;
      }
    }
  }

  /**
   * Derives and stores the PENDING value, once per token. A value already under the token means an earlier run (or
   * one running now) did it: 'already-done'. Where the store described PENDING without looking for its value
   * (`pendingValue: false`), writing is how it is found out: a version's value never changes, so the store refuses a
   * second, different one with VERSION_CONFLICT. A rotator whose createPending has effects outside the store
   * (discardPending: an API key minted at the provider) looks first instead, so a retry mints nothing.
   */
  async #createSecret(loaded: Loaded, token: string, ctx: RotatorContext, run: RunOptions): Promise<StepOutcome> {
    const { info, current, rotator, strategy } = loaded;
    if (info.versions.find((v) => v.versionId === token)?.hasValue === true) return 'already-done';
    if (rotator.discardPending !== undefined && (await this.#pendingStored(info.secretId, token, ctx))) return 'already-done';
    const options = passwordOptionsFromEnv(this.#env, rotator.defaultExcludeCharacters);
    const masterId = rotator.masterSecretId(current, strategy);
    const input: CreatePendingInput = {
      strategy,
      current,
      token,
      generatePassword: () => {
        const password = generatePassword(options, this.#random);
        this.#logger.redactor.add(password);
        return password;
      },
      readMaster: async () => {
        if (masterId === undefined) throw new RotatorError('INVALID_SECRET', `secret ${info.secretId} names no master secret ("masterarn")`);
        return (await this.#readMaster(masterId, ctx, { secretId: info.secretId, token })).value;
      },
    };
    const pending = await rotator.createPending(input, ctx);
    const value = JSON.stringify(pending);
    this.#logger.redactor.addSecretValue(value);
    try {
      rotator.validate(pending, `the new value for secret ${info.secretId}`);
      if (Buffer.byteLength(value, 'utf8') > this.#store.maxValueBytes) {
        throw new RotatorError('INVALID_SECRET', `the new value for secret ${info.secretId} would exceed ${this.#store.maxValueBytes} bytes, the store's limit`);
      }
      await this.#store.putPending(info.secretId, token, value, { signal: ctx.signal });
    } catch (error) {
      // A key minted for a value that was never stored would live on with nobody holding it.
      await rotator.discardPending?.(pending, input, ctx).catch((cleanup: unknown) => {
        ctx.logger.error('could not discard what createSecret made for a value that was not stored; remove it by hand', { error: cleanup });
      });
      if (!isRotatorError(error, 'VERSION_CONFLICT')) throw error;
      // The token already holds a value: the value stands, checked as every later step checks it (STALE_PENDING when
      // it no longer fits CURRENT), now with a description that looked for it.
      ctx.logger.debug('the PENDING version already holds a value; keeping it');
      const described = await this.#store.describe(info.secretId, { dates: false, signal: ctx.signal });
      await this.#assertFits({ ...loaded, info: described }, token, run);
      return 'already-done';
    }
    remember(this.#values, versionKey(info.secretId, token), value);
    return 'done';
  }

  /** Whether the PENDING version `token` holds a value, by reading it (recalled when this process knows it). */
  async #pendingStored(secretId: string, token: string, ctx: RotatorContext): Promise<boolean> {
    try {
      await this.#readVersion(secretId, { versionId: token, stage: 'PENDING' }, { signal: ctx.signal });
      return true;
    } catch (error) {
      if (isRotatorError(error, 'VERSION_NOT_FOUND')) return false;
      throw error;
    }
  }

  async #setSecret({ info, current, rotator, strategy }: Loaded, token: string, pending: SecretObject, ctx: RotatorContext): Promise<StepOutcome> {
    const setFirst = rotator.setBeforeWorks?.includes(strategy) === true;
    if (!setFirst && (await rotator.works(pending, ctx, strategy))) return 'already-done';
    const masterId = rotator.masterSecretId(current, strategy);
    const master = masterId === undefined ? undefined : await this.#readMaster(masterId, ctx, { secretId: info.secretId, token });
    try {
      await rotator.set(
        {
          strategy,
          current,
          pending,
          readPrevious: () => this.#readOptional(info, 'PREVIOUS', rotator, ctx),
          ...masterFields(master),
        },
        ctx,
      );
    } catch (error) {
      // Set first (Rotator.setBeforeWorks): on a fresh rotation the pending credential cannot log in yet, so asking
      // first would cost a refused login every time. Only when no stored credential logs in any more is it asked
      // whether it already works: an earlier run set it and died before finishSecret, as the works-first order would
      // have found.
      if (!setFirst || !isRotatorError(error, 'TARGET_AUTH_FAILED') || !(await rotator.works(pending, ctx, strategy))) throw error;
      return 'already-done';
    }
    return 'done';
  }

  /**
   * What testSecret needs besides the pending value; the master is read only if the rotator asks (alternating users).
   * `setMomentsAgo` as TestInput says: only for testSecret itself, never for finishSecret's own test (#testBeforePromote).
   */
  #testInput({ info, current, rotator, strategy }: Loaded, token: string, ctx: RotatorContext, setMomentsAgo: boolean): TestInput {
    return {
      strategy,
      current,
      readMaster: async () => {
        const masterId = rotator.masterSecretId(current, strategy);
        if (masterId === undefined) throw new RotatorError('INVALID_SECRET', `secret ${info.secretId} names no master secret ("masterarn")`);
        return this.#readMaster(masterId, ctx, { secretId: info.secretId, token });
      },
      setMomentsAgo,
    };
  }

  /**
   * Invariant 1: a value that does not pass testSecret never becomes CURRENT, whoever invoked finishSecret. The test
   * is skipped only when this process's testSecret passed it moments ago with the very inputs it would get now
   * (#passedMomentsAgo); a cold container, another value, token, CURRENT or strategy, or an older pass tests again.
   */
  async #testBeforePromote(loaded: Loaded, token: string, ctx: RotatorContext): Promise<void> {
    const pending = await this.#readPending(loaded, token, ctx);
    if (this.#passedMomentsAgo(this.#tested, loaded, token, pending)) {
      ctx.logger.debug(`testSecret passed for this value in the last ${MOMENTS_AGO_MS / 1000}s in this process; not logging in again`);
      return;
    }
    try {
      // Never setMomentsAgo: this test runs only when no testSecret of this process passed moments ago (a cold
      // container, a late, repeated or out-of-order finishSecret), and there it proves everything itself.
      await loaded.rotator.test(pending, ctx, this.#testInput(loaded, token, ctx, false));
    } catch (error) {
      const e = toRotatorError(error);
      throw new RotatorError(e.code, `finishSecret did not make version ${token} CURRENT: it does not pass testSecret (${e.message})`, { retryable: e.retryable });
    }
  }

  /**
   * Whether a step of `records` (#tested, #set) passed in this process less than MOMENTS_AGO_MS ago with the very
   * inputs a later step has now. A record is made only by a step that passed (and removed by one that starts:
   * #recordingPass), under the same secret and token, and its fingerprint covers everything that step was given: the
   * pending value as parsed (read now by the same #readPending the step used), CURRENT's version and the strategy. So
   * trusting it trusts only what passed with those inputs seconds ago; what a login cannot prove twice in such a
   * window (a password changed back by hand meanwhile) the window bounds, as the gap between AWS's own invocations of
   * consecutive steps does.
   */
  #passedMomentsAgo(records: Map<string, Passed>, loaded: Loaded, token: string, pending: SecretObject): boolean {
    const record = records.get(versionKey(loaded.info.secretId, token));
    return record !== undefined && this.#momentsAgo(record.at) && record.fingerprint === testFingerprint(loaded, pending);
  }

  /** Whether a time of this.#now() is under MOMENTS_AGO_MS ago (and not ahead: a clock that went back trusts nothing). */
  #momentsAgo(at: number): boolean {
    const age = this.#now() - at;
    return age >= 0 && age < MOMENTS_AGO_MS;
  }

  /**
   * Runs a step whose pass a later step may trust (#passedMomentsAgo): an earlier record goes first, so a step that
   * fails (or dies) leaves none, and the latest run has the last word; a pass that did the step's work ('done') is
   * recorded with the fingerprint of the pending value the step was given.
   */
  async #recordingPass(
    records: Map<string, Passed>,
    loaded: Loaded,
    token: string,
    ctx: RotatorContext,
    run: (pending: SecretObject) => Promise<StepOutcome>,
  ): Promise<StepOutcome> {
    const key = versionKey(loaded.info.secretId, token);
    records.delete(key);
    const pending = await this.#readPending(loaded, token, ctx);
    const outcome = await run(pending);
    // Only a step that did its work is a proof: a setSecret that found nothing to do ('already-done': the pending
    // credential already logs in) proved nothing about, say, an alternate's rights.
    if (outcome === 'done') remember(records, key, { at: this.#now(), fingerprint: testFingerprint(loaded, pending) });
    return outcome;
  }

  async #finishSecret(info: SecretInfo, token: string, ctx: RotatorContext): Promise<StepOutcome> {
    // The guard already returned for a CURRENT token; promote is itself a no-op for one.
    await this.#store.promote(info.secretId, token, { signal: ctx.signal });
    return 'done';
  }

  async #load(info: SecretInfo, options: RunOptions): Promise<Loaded> {
    const current = await this.#readStage(info, 'CURRENT', { signal: options.signal });
    const engine = current.engine;
    if (typeof engine !== 'string' || engine.length === 0) {
      throw new RotatorError('INVALID_SECRET', `the CURRENT value of secret ${info.secretId} is invalid: engine: required`);
    }
    const rotator = this.#rotators.find((r) => r.engines.includes(engine));
    if (rotator === undefined) {
      const known = this.#rotators.flatMap((r) => r.engines).join(', ');
      throw new RotatorError('UNSUPPORTED_ENGINE', `secret ${info.secretId} has engine "${engine}", which this deployment cannot rotate (supported: ${known})`);
    }
    const choice = chooseStrategy(info.rotation, current, rotator, this.#defaultStrategy);
    const { strategy } = choice;
    if (choice.source === 'value') {
      // Never a silent downgrade: a MultiUser-template secret moved over without its strategy stays zero-downtime.
      this.#logger.warn(
        `secret ${info.secretId} names no strategy; rotating it alternating-users because ${choice.evidence}; ${pinStrategyHint(info.secretId, strategy)}`,
        { secretId: info.secretId },
      );
    }
    if (!rotator.strategies.includes(strategy)) {
      throw new RotatorError(
        'UNSUPPORTED_ENGINE',
        `engine "${engine}" does not support the ${strategy} strategy (supported: ${rotator.strategies.join(', ')})`,
      );
    }
    rotator.validate(current, `the CURRENT value of secret ${info.secretId}`);
    return { info, current, rotator, engine, strategy };
  }

  /**
   * The master secret, resolved. Another secret, not described here, so it is read by stage; labels move, so no store
   * caches such a read. Within a rotation (`rotation`: the secret and token whose steps need it) the value read is
   * remembered for that rotation's later steps in this process, for MOMENTS_AGO_MS from its read: one read per
   * rotation where set, test (MariaDB's rights check) and self-driven rotate's check before the start each read it.
   * Never across rotations (another token reads again), and never past the window. A master rotated between two
   * steps makes the later step fail to log in with the remembered value; a failed step forgets it (#timedStep), so
   * the retry (the service's, or the next run's) reads it fresh.
   */
  async #readMaster(masterId: string, ctx: RotatorContext, rotation?: { secretId: string; token: string }): Promise<MasterCredential> {
    const kept = rotation === undefined ? undefined : this.#masters.get(rotation.secretId);
    if (kept !== undefined && kept.token === rotation?.token && kept.masterId === masterId && this.#momentsAgo(kept.at)) {
      // Registered on every use, as #readVersion does: the redactor forgets the values used least recently.
      this.#logger.redactor.addSecretValue(kept.raw);
      return kept.master;
    }
    // The window counts from before the read: the value is at least that fresh.
    const at = this.#now();
    const raw = await this.#store.getValue(masterId, { stage: 'CURRENT' }, { signal: ctx.signal });
    this.#logger.redactor.addSecretValue(raw);
    const master = await this.#resolveMaster(masterId, parseSecretJson(raw, `master secret ${masterId}`), ctx);
    if (rotation !== undefined) remember(this.#masters, rotation.secretId, { token: rotation.token, masterId, at, raw, master });
    return master;
  }

  /**
   * A stage of the described secret, read by the version id the description gave: versions are immutable, so the
   * value is recalled after its first read (the stage itself is as fresh as the description the guards used).
   */
  async #readStage(info: SecretInfo, stage: Stage, options: CallOptions): Promise<SecretObject> {
    const what = `the ${stage} value of secret ${info.secretId}`;
    const version = versionWithStage(info, stage);
    // Without such a version the store's own read says what is missing.
    if (version === undefined) return parseSecretJson(await this.#store.getValue(info.secretId, { stage }, options), what);
    return parseSecretJson(await this.#readVersion(info.secretId, { versionId: version.versionId }, options), what);
  }

  async #readVersion(secretId: string, selector: { versionId: string; stage?: Stage }, options: CallOptions): Promise<string> {
    const key = versionKey(secretId, selector.versionId);
    let raw = this.#values.get(key);
    if (raw === undefined) {
      raw = await this.#store.getValue(secretId, selector, options);
      remember(this.#values, key, raw);
    }
    // Registered on every use, recalled or not: the redactor forgets the values used least recently, so a value this
    // process keeps using is never among them.
    this.#logger.redactor.addSecretValue(raw);
    return raw;
  }

  /** The guards have checked that the token is PENDING, so its value can be read (or recalled) by id alone. */
  async #readPending({ info, rotator }: Loaded, token: string, ctx: RotatorContext): Promise<SecretObject> {
    const what = `the PENDING value of secret ${info.secretId}`;
    const pending = parseSecretJson(await this.#readVersion(info.secretId, { versionId: token, stage: 'PENDING' }, { signal: ctx.signal }), what);
    rotator.validate(pending, what);
    return pending;
  }

  /** PREVIOUS is a fallback login only: a missing or unusable one is not an error. */
  async #readOptional(info: SecretInfo, stage: Stage, rotator: Rotator, ctx: RotatorContext): Promise<SecretObject | undefined> {
    if (versionWithStage(info, stage) === undefined) return undefined;
    try {
      const value = await this.#readStage(info, stage, { signal: ctx.signal });
      rotator.validate(value, `the ${stage} value of secret ${info.secretId}`);
      return value;
    } catch (error) {
      if (!isRotatorError(error, 'INVALID_SECRET') && !isRotatorError(error, 'VERSION_NOT_FOUND')) throw error;
      ctx.logger.warn(`ignoring the ${stage} value: it cannot be used to log in`, { error });
      return undefined;
    }
  }
}

function versionKey(secretId: string, versionId: string): string {
  return JSON.stringify([secretId, versionId]);
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.set(key, value);
  // Bounded for a long-lived process (a warm Lambda container rotating many secrets): oldest out first.
  for (const oldest of map.keys()) {
    if (map.size <= MAX_REMEMBERED_VALUES) break;
    map.delete(oldest);
  }
}

/** What a test of `pending` is given besides the rotator's own target: hashed, so no value stays in memory as text. */
function testFingerprint({ info, strategy }: Loaded, pending: SecretObject): string {
  const current = versionWithStage(info, 'CURRENT')?.versionId ?? '';
  return createHash('sha256').update(JSON.stringify([strategy, current, pending])).digest('hex');
}

/**
 * Whether the stub of a rotation whose createSecret failed can go: only for a typed failure (an unexpected error is
 * left as a crash would leave it, for the next run to resume), and only when createPending touches nothing outside
 * the store. A rotator that mints (API keys) names what it minted after the token, so a retry with the same token
 * finds it: dropping the token would leave the key behind with nobody holding it.
 */
function stubIsDisposable(error: unknown, rotator: Rotator): boolean {
  return isRotatorError(error) && rotator.discardPending === undefined;
}

/** How to abandon a rotation, on either store (the engine does not know which one it runs on). */
/** What messages say when the store names no commands of its own (the file store's and AWS's). */
export const DEFAULT_HINTS: StoreHints = {
  cancelRotation: (secretId, versionId) =>
    `file store: rotator secrets cancel-rotation ${secretId}; AWS: aws secretsmanager update-secret-version-stage ` +
    `--secret-id ${secretId} --version-stage AWSPENDING --remove-from-version-id ${versionId}`,
  enableRotation: (secretId) => `file store: rotator secrets rotation ${secretId} --enable`,
};

export function cancelRotationHint(secretId: string, versionId: string, hints: StoreHints = DEFAULT_HINTS): string {
  return `to start over, cancel it (${hints.cancelRotation(secretId, versionId)}), then rotate again`;
}

function pendingAge(info: SecretInfo, versionId: string): string {
  const created = info.versions.find((v) => v.versionId === versionId)?.createdAt;
  return created === undefined ? 'of unknown age' : `created ${roughly(Date.now() - created.getTime())} ago (${created.toISOString()})`;
}

/** An age to the unit a person reads it in: 40s, 12m, 5h, 3d. */
function roughly(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

function stalePending(info: SecretInfo, versionId: string, hints: StoreHints, why: string): RotatorError {
  return new RotatorError(
    'STALE_PENDING',
    `secret ${info.secretId} has a rotation left PENDING (version ${versionId}, ${pendingAge(info, versionId)}) that no longer fits: ${why}; ` +
      `it will not be resumed; ${cancelRotationHint(info.secretId, versionId, hints)}`,
  );
}

/** Every error of a resumed rotation says which PENDING it was resuming and how to start over (code kept). */
function resumedError(error: unknown, info: SecretInfo, versionId: string, hints: StoreHints): RotatorError {
  const e = toRotatorError(error);
  if (e.code === 'STALE_PENDING') return e;
  return new RotatorError(
    e.code,
    `${e.message} (while resuming the rotation left PENDING by an earlier run: version ${versionId}, ${pendingAge(info, versionId)}; ` +
      `if it cannot succeed, ${cancelRotationHint(info.secretId, versionId, hints)})`,
    { retryable: e.retryable, cause: error },
  );
}

/** Throws the reason a lost lease gives (a typed ROTATION_IN_PROGRESS, retryable) once it is lost. */
function assertLeaseHeld(lost: AbortSignal | undefined, secretId: string): void {
  if (lost?.aborted !== true) return;
  if (lost.reason instanceof RotatorError) throw lost.reason;
  throw new RotatorError('ROTATION_IN_PROGRESS', `the rotation lock of secret ${secretId} was lost; this rotation stopped and can be retried`, {
    retryable: true,
  });
}

function assertEnabled(info: SecretInfo, hints: StoreHints): void {
  if (!info.rotation.enabled) {
    throw new RotatorError('ROTATION_DISABLED', `rotation is not enabled for secret ${info.secretId}; enable it in the store (${hints.enableRotation(info.secretId)})`);
  }
}

export function parseStrategy(value: string, source: string): Strategy {
  if ((STRATEGIES as readonly string[]).includes(value)) return value as Strategy;
  throw new RotatorError('INVALID_INPUT', `${source} is "${value}"; use one of ${STRATEGIES.join(', ')}`);
}
