import type { CloudSchedulerClient, protos } from '@google-cloud/scheduler';
import { hasControlCharacter } from '../../shared/control-chars.js';
import { RotatorError, type ErrorCode } from '../../shared/errors.js';
import { grpcStatusOf, mapGoogleError } from './errors.js';

/**
 * The per-secret Cloud Scheduler jobs: one job per rotation-enabled secret that has a next rotation time, firing at that
 * time (Etc/UTC, to the minute) with a POST of `{"secretId":"<id>"}` to the rotate function and an OIDC token of the
 * scheduler's service account. "Force run" on a job in the console is "rotate this secret now".
 *
 * `reconcileRotationJobs` brings a location's jobs to that state and no further. It knows nothing of Secret Manager: the
 * caller passes the schedules (the Secret Manager store's `rotationSchedules()`). A job is Rotator's only when its id
 * starts with `rotator-secret-` AND its description starts with `[rotator-managed]`; every other job is left alone,
 * and a job with the prefix but not the marker is reported as `foreign`. A job a person paused is never resumed,
 * updated or deleted: it is reported as `paused`. Runs are idempotent (a second run changes nothing) and converge from
 * any starting state; a failure on one job is reported and the others go on.
 */

export const ROTATION_JOB_PREFIX = 'rotator-secret-';
export const ROTATION_JOB_MARKER = '[rotator-managed]';
export const ROTATION_JOB_TIME_ZONE = 'Etc/UTC';

/** Secret Manager ids are at most 255 characters, and Rotator's companion needs 16 of them (`-rotator-pending`). */
const SECRET_ID = /^[A-Za-z0-9_-]{1,239}$/;
const COMPANION_SUFFIX = '-rotator-pending';
/** Project ids: 6-30 lower-case letters, digits and hyphens, starting with a letter, not ending with a hyphen. */
const PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
/** Google Cloud regions: `europe-west1`, `us-central1`, `northamerica-northeast2`, `me-central2`, ... */
const LOCATION = /^[a-z]{2,}(?:-[a-z]{2,})+[0-9]{1,2}$/;
/** A user-managed service account: `<6-30 character id>@<project>.iam.gserviceaccount.com`. */
const ACCOUNT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const JOB_ID = /^[A-Za-z0-9_-]{1,500}$/;
const MAX_URI = 2083;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);
/** A location holds a few thousand jobs at most; a listing far beyond that is a server gone wrong, not data. */
const MAX_LISTED_JOBS = 100_000;

/**
 * The job's delivery settings. Three retries with back-off (1, 2, then 4 minutes) ride out a cold start or a brief
 * outage; a rotation that still fails is retried by the next SECRET_ROTATE event or a person. The attempt deadline is
 * the longest Cloud Scheduler allows for an HTTP target: a rotation waits on databases.
 */
const RETRY = { retryCount: 3, maxRetrySeconds: 0, minBackoffSeconds: 60, maxBackoffSeconds: 600, maxDoublings: 2 } as const;
const ATTEMPT_DEADLINE_SECONDS = 1800;
/** What the service uses when a job leaves a field unset (job.proto). */
const SERVICE_DEFAULTS = { minBackoffMs: 5_000, maxBackoffMs: 3_600_000, maxRetryMs: 0, attemptDeadlineMs: 180_000 } as const;

/** When one secret is next due, as the Secret Manager store reports it. */
export interface RotationSchedule {
  secretId: string;
  nextRotationTime?: Date;
  /** Not needed for the job, which fires at nextRotationTime; carried as the store reports it. */
  rotationPeriodMs?: number;
}

/** Where the jobs live and what they call. */
export interface JobTarget {
  projectId: string;
  /** The Cloud Scheduler location, e.g. `europe-west1`. */
  location: string;
  /** The rotate function's URL; also the OIDC token's audience. */
  rotateUrl: string;
  /** The account whose OIDC token the jobs carry (it needs run.invoker on the rotate function). */
  serviceAccountEmail: string;
}

/** Settings only a test may use. Never read from the environment or from configuration. */
export interface ReconcileTestOnlyOptions {
  /** Allow `http://127.0.0.1`, `http://[::1]` and `http://localhost` as the rotate URL (a local function). */
  allowLoopbackHttp?: boolean;
}

export interface ReconcileOptions {
  /** Report what would change, and change nothing. */
  dryRun?: boolean;
  /** Stops before the next call once aborted; the jobs not reached are reported as failed with the reason. */
  signal?: AbortSignal;
  testOnly?: ReconcileTestOnlyOptions;
}

/** What happened to one job (in a dry run: what would have). */
export type JobAction = 'created' | 'updated' | 'deleted' | 'unchanged' | 'skipped' | 'paused' | 'foreign' | 'failed';

export interface JobOutcome {
  /** The job's id (the last segment of its name). */
  jobId: string;
  /** The secret the job is for, when its id names one. */
  secretId?: string;
  action: JobAction;
  /** For `updated` (and a failed update): the update mask's paths. */
  changed?: string[];
  reason?: string;
  /** For `failed`: the typed error (never a secret value). */
  error?: { code: ErrorCode; message: string; retryable: boolean };
}

export interface ReconcileReport {
  /** `projects/<project>/locations/<location>` */
  parent: string;
  dryRun: boolean;
  /** Sorted by job id. */
  outcomes: JobOutcome[];
  counts: Record<JobAction, number>;
}

type Job = protos.google.cloud.scheduler.v1.IJob;

/** The job id Rotator gives the job of `secretId`. */
export function rotationJobId(secretId: string): string {
  return `${ROTATION_JOB_PREFIX}${secretId}`;
}

/**
 * The unix-cron schedule that fires at `at` (UTC), rounded up to the whole minute so that the job never fires before
 * the secret is due. Cron has no year: the job fires on that date every year until the reconciler moves it after the
 * next rotation (a time more than a year ahead fires a year early). An overdue time fires next year; Secret Manager's
 * own SECRET_ROTATE event has rotated the secret by then and advanced the time, and the next run moves the job.
 */
export function cronAt(at: Date): string {
  const ms = at.getTime();
  const up = new Date(ms % 60_000 === 0 ? ms : ms + 60_000 - (ms % 60_000));
  return `${up.getUTCMinutes()} ${up.getUTCHours()} ${up.getUTCDate()} ${up.getUTCMonth() + 1} *`;
}

export async function reconcileRotationJobs(
  client: CloudSchedulerClient,
  target: JobTarget,
  schedules: readonly RotationSchedule[],
  options: ReconcileOptions = {},
): Promise<ReconcileReport> {
  const checked = checkTarget(target, options.testOnly?.allowLoopbackHttp === true);
  const parent = `projects/${checked.projectId}/locations/${checked.location}`;
  const { desired, unscheduled } = desiredJobs(parent, checked, schedules);
  const dryRun = options.dryRun === true;
  const signal = options.signal;

  const listed = await listRotatorJobs(client, parent, signal);
  const outcomes: JobOutcome[] = [];
  const ids = [...new Set([...desired.keys(), ...listed.keys(), ...unscheduled.keys()])].sort();
  for (const jobId of ids) {
    const want = desired.get(jobId);
    const have = listed.get(jobId);
    const secretId = want?.secretId ?? unscheduled.get(jobId) ?? secretIdOf(jobId);
    const base = { jobId, ...(secretId === undefined ? {} : { secretId }) };
    const plan = planFor(want?.job, have, unscheduled.has(jobId));
    const changed = plan.changed === undefined ? {} : { changed: plan.changed };
    const reason = plan.reason === undefined ? {} : { reason: plan.reason };
    const change = plan.change;
    if (change === undefined || dryRun) {
      outcomes.push({ ...base, action: plan.action, ...changed, ...reason });
      continue;
    }
    try {
      if (signal?.aborted === true) throw abortError(signal);
      await raced(change.call(client), signal);
      outcomes.push({ ...base, action: plan.action, ...changed, ...reason });
    } catch (error) {
      if (change.operation === 'DeleteJob' && grpcStatusOf(error) === 'NOT_FOUND') {
        outcomes.push({ ...base, action: 'deleted', reason: 'already gone (deleted by someone else meanwhile)' });
        continue;
      }
      const e = mapSchedulerError(error, { operation: change.operation, permission: change.permission, jobId, signal });
      outcomes.push({ ...base, action: 'failed', ...changed, reason: `${change.operation} failed`, error: { code: e.code, message: e.message, retryable: e.retryable } });
    }
  }
  return { parent, dryRun, outcomes, counts: countActions(outcomes) };
}

// ---- inputs -------------------------------------------------------------------------------------------------------

function checkTarget(target: JobTarget, allowLoopbackHttp: boolean): JobTarget {
  const given: unknown = target;
  if (given === null || typeof given !== 'object') throw new RotatorError('INVALID_INPUT', 'the job target is required: projectId, location, rotateUrl, serviceAccountEmail');
  const { projectId, location, rotateUrl, serviceAccountEmail } = target as Partial<Record<keyof JobTarget, unknown>>;
  if (typeof projectId !== 'string' || !PROJECT_ID.test(projectId)) {
    throw new RotatorError('INVALID_INPUT', 'the project id is invalid: 6 to 30 lower-case letters, digits or hyphens, starting with a letter and not ending with a hyphen');
  }
  if (typeof location !== 'string' || !LOCATION.test(location)) {
    throw new RotatorError('INVALID_INPUT', 'the Cloud Scheduler location is invalid: a region id such as europe-west1 or us-central1');
  }
  const account = typeof serviceAccountEmail === 'string' ? /^([^@]+)@([^@]+)\.iam\.gserviceaccount\.com$/.exec(serviceAccountEmail) : null;
  if (account === null || !ACCOUNT_ID.test(account[1] ?? '') || account[2] !== projectId) {
    throw new RotatorError(
      'INVALID_INPUT',
      `the scheduler service account must be <name>@${projectId}.iam.gserviceaccount.com (a service account of the jobs' project, as Cloud Scheduler requires)`,
    );
  }
  return { projectId, location, rotateUrl: checkRotateUrl(rotateUrl, allowLoopbackHttp), serviceAccountEmail: serviceAccountEmail as string };
}

/**
 * The rotate function's URL, exactly as Cloud Scheduler will store it: https (http only on loopback, for tests), no
 * user name or password, query or fragment (a job's uri is visible to anyone who can view jobs, so it must carry
 * nothing secret), and already in canonical form, so the stored uri compares equal on every run.
 */
function checkRotateUrl(raw: unknown, allowLoopbackHttp: boolean): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_URI || hasControlCharacter(raw)) {
    throw new RotatorError('INVALID_INPUT', `the rotate URL must be an https URL of at most ${MAX_URI} characters`);
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RotatorError('INVALID_INPUT', 'the rotate URL is not a valid URL: expected https://<function host>/');
  }
  const loopback = LOOPBACK_HOSTS.has(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowLoopbackHttp && loopback)) {
    throw new RotatorError('INVALID_INPUT', `the rotate URL must use https, not ${url.protocol.replace(/:$/, '')}: the jobs send an identity token to it`);
  }
  if (url.username !== '' || url.password !== '') throw new RotatorError('INVALID_INPUT', 'the rotate URL must not carry a user name or password');
  if (url.search !== '' || url.hash !== '' || raw.includes('?') || raw.includes('#')) {
    throw new RotatorError('INVALID_INPUT', 'the rotate URL must not have a query or fragment: the function takes the secret from the body');
  }
  if (url.href !== raw && `${raw}/` !== url.href) {
    throw new RotatorError('INVALID_INPUT', `the rotate URL is not in canonical form; write it as ${url.href}`);
  }
  return raw;
}

interface DesiredJob {
  secretId: string;
  job: Job;
}

/** The job each schedule wants, and the secrets that get none (no next rotation time), by job id. */
function desiredJobs(parent: string, target: JobTarget, schedules: readonly RotationSchedule[]): { desired: Map<string, DesiredJob>; unscheduled: Map<string, string> } {
  if (!Array.isArray(schedules)) throw new RotatorError('INVALID_INPUT', 'the rotation schedules must be an array');
  const desired = new Map<string, DesiredJob>();
  const unscheduled = new Map<string, string>();
  for (const [i, schedule] of schedules.entries()) {
    const { secretId, nextRotationTime } = (schedule ?? {}) as Partial<Record<keyof RotationSchedule, unknown>>;
    if (typeof secretId !== 'string' || !SECRET_ID.test(secretId) || secretId.endsWith(COMPANION_SUFFIX)) {
      throw new RotatorError('INVALID_INPUT', `rotation schedule ${i}: the secret id must be 1 to 239 letters, digits, hyphens or underscores, and not a ${COMPANION_SUFFIX} companion`);
    }
    const jobId = rotationJobId(secretId);
    if (desired.has(jobId) || unscheduled.has(jobId)) throw new RotatorError('INVALID_INPUT', `rotation schedule ${i}: secret ${secretId} is listed twice`);
    if (nextRotationTime === undefined) {
      unscheduled.set(jobId, secretId);
      continue;
    }
    if (!(nextRotationTime instanceof Date) || Number.isNaN(nextRotationTime.getTime()) || nextRotationTime.getUTCFullYear() < 1970 || nextRotationTime.getUTCFullYear() > 9999) {
      throw new RotatorError('INVALID_INPUT', `rotation schedule ${i}: the next rotation time of secret ${secretId} is not a valid date`);
    }
    desired.set(jobId, { secretId, job: desiredJob(parent, target, secretId, nextRotationTime) });
  }
  return { desired, unscheduled };
}

function desiredJob(parent: string, target: JobTarget, secretId: string, next: Date): Job {
  return {
    name: `${parent}/jobs/${rotationJobId(secretId)}`,
    description:
      `${ROTATION_JOB_MARKER} Rotates secret ${secretId} when it is due (its Secret Manager next rotation time). ` +
      'Kept in step by the Rotator reconciler, which overwrites changes; pause the job to stop it. Force run rotates now.',
    schedule: cronAt(next),
    timeZone: ROTATION_JOB_TIME_ZONE,
    httpTarget: {
      uri: target.rotateUrl,
      httpMethod: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: Buffer.from(JSON.stringify({ secretId })),
      oidcToken: { serviceAccountEmail: target.serviceAccountEmail, audience: target.rotateUrl },
    },
    retryConfig: {
      retryCount: RETRY.retryCount,
      maxRetryDuration: { seconds: RETRY.maxRetrySeconds },
      minBackoffDuration: { seconds: RETRY.minBackoffSeconds },
      maxBackoffDuration: { seconds: RETRY.maxBackoffSeconds },
      maxDoublings: RETRY.maxDoublings,
    },
    attemptDeadline: { seconds: ATTEMPT_DEADLINE_SECONDS },
  };
}

/** The job id's secret, when the id has Rotator's prefix and a valid secret id after it. */
function secretIdOf(jobId: string): string | undefined {
  if (!jobId.startsWith(ROTATION_JOB_PREFIX)) return undefined;
  const rest = jobId.slice(ROTATION_JOB_PREFIX.length);
  return SECRET_ID.test(rest) ? rest : undefined;
}

// ---- listing ------------------------------------------------------------------------------------------------------

/**
 * The location's jobs whose id has Rotator's prefix, by id, read defensively: what the server sends is input too, so
 * a job outside the parent, with a malformed id, or listed twice is ignored.
 */
async function listRotatorJobs(client: CloudSchedulerClient, parent: string, signal: AbortSignal | undefined): Promise<Map<string, Job>> {
  const found = new Map<string, Job>();
  const under = `${parent}/jobs/`;
  let seen = 0;
  try {
    if (signal?.aborted === true) throw abortError(signal);
    const iterator = client.listJobsAsync({ parent, pageSize: 500 }, { autoPaginate: false })[Symbol.asyncIterator]();
    for (;;) {
      const next = await raced(iterator.next(), signal);
      if (next.done === true) break;
      seen += 1;
      if (seen > MAX_LISTED_JOBS) throw new RotatorError('STORE_IO', `Cloud Scheduler listed more than ${MAX_LISTED_JOBS} jobs in ${parent}; refusing to reconcile an unbounded listing`);
      const name = next.value.name;
      if (typeof name !== 'string' || !name.startsWith(under)) continue;
      const jobId = name.slice(under.length);
      if (!JOB_ID.test(jobId) || !jobId.startsWith(ROTATION_JOB_PREFIX) || found.has(jobId)) continue;
      found.set(jobId, next.value);
    }
  } catch (error) {
    throw mapSchedulerError(error, { operation: 'ListJobs', permission: 'cloudscheduler.jobs.list', signal });
  }
  return found;
}

// ---- planning -----------------------------------------------------------------------------------------------------

interface Plan {
  action: JobAction;
  changed?: string[];
  reason?: string;
  /** The call that makes the change, when there is one to make. */
  change?: { call: (client: CloudSchedulerClient) => Promise<unknown>; operation: 'CreateJob' | 'UpdateJob' | 'DeleteJob'; permission: string };
}

const isOurs = (job: Job): boolean => typeof job.description === 'string' && job.description.startsWith(ROTATION_JOB_MARKER);

const STATES: Record<number, string> = { 1: 'ENABLED', 2: 'PAUSED', 3: 'DISABLED', 4: 'UPDATE_FAILED' };

/** The job's state by name, whether the client decoded the enum as its name or its number. */
function stateOf(job: Job): string | undefined {
  const state: unknown = job.state;
  return typeof state === 'number' ? STATES[state] : typeof state === 'string' ? state : undefined;
}

const present = (value: unknown): boolean => value !== null && value !== undefined;

function planFor(want: Job | undefined, have: Job | undefined, unscheduled: boolean): Plan {
  if (have !== undefined && !isOurs(have)) {
    return {
      action: 'foreign',
      reason:
        want === undefined
          ? `has the ${ROTATION_JOB_PREFIX} prefix but not the ${ROTATION_JOB_MARKER} marker: not Rotator's, left alone`
          : `its id is taken by a job without the ${ROTATION_JOB_MARKER} marker, which Rotator leaves alone; this secret has no Rotator job until it is renamed or removed`,
    };
  }
  if (have !== undefined && stateOf(have) === 'PAUSED') {
    const why = want === undefined ? 'its secret is no longer scheduled' : differences(want, have).length > 0 ? 'its settings are out of date' : 'it is up to date';
    return { action: 'paused', reason: `paused by a person, so left as it is (${why}); resume it to let Rotator manage it again` };
  }
  if (want === undefined) {
    if (have === undefined) return { action: 'skipped', reason: 'no next rotation time: set a rotation period and next rotation time on the secret' };
    const name = have.name ?? '';
    return {
      action: 'deleted',
      reason: unscheduled ? 'its secret has no next rotation time' : 'its secret is gone or no longer rotation-enabled',
      change: { call: (client) => client.deleteJob({ name }), operation: 'DeleteJob', permission: 'cloudscheduler.jobs.delete' },
    };
  }
  const actAs = 'iam.serviceAccounts.actAs on the scheduler service account';
  if (have === undefined) {
    const parent = (want.name ?? '').replace(/\/jobs\/[^/]+$/, '');
    return { action: 'created', change: { call: (client) => client.createJob({ parent, job: want }), operation: 'CreateJob', permission: `cloudscheduler.jobs.create and ${actAs}` } };
  }
  // A failed update leaves a job UPDATE_FAILED; the service says to update it again, so the whole job is rewritten.
  const changed = stateOf(have) === 'UPDATE_FAILED' ? [...ALL_PATHS] : differences(want, have);
  if (changed.length === 0) return { action: 'unchanged' };
  return {
    action: 'updated',
    changed,
    change: { call: (client) => client.updateJob({ job: want, updateMask: { paths: changed } }), operation: 'UpdateJob', permission: `cloudscheduler.jobs.update and ${actAs}` },
  };
}

const ALL_PATHS = ['description', 'schedule', 'time_zone', 'http_target', 'retry_config', 'attempt_deadline'] as const;

/** The update-mask paths on which `have` differs from `want`, comparing what matters and reading `have` defensively. */
function differences(want: Job, have: Job): string[] {
  const changed: string[] = [];
  if (have.description !== want.description) changed.push('description');
  if (have.schedule !== want.schedule) changed.push('schedule');
  if (have.timeZone !== want.timeZone) changed.push('time_zone');
  if (!sameHttpTarget(want.httpTarget ?? {}, have)) changed.push('http_target');
  if (!sameRetry(want.retryConfig ?? {}, have.retryConfig)) changed.push('retry_config');
  if (durationMs(have.attemptDeadline, SERVICE_DEFAULTS.attemptDeadlineMs) !== durationMs(want.attemptDeadline, 0)) changed.push('attempt_deadline');
  return changed;
}

type HttpTarget = protos.google.cloud.scheduler.v1.IHttpTarget;

function sameHttpTarget(want: HttpTarget, have: Job): boolean {
  const h = have.httpTarget;
  if (h === null || h === undefined || present(have.pubsubTarget) || present(have.appEngineHttpTarget)) return false;
  // The method enum may be decoded as its name or its number (POST = 1); unspecified means POST.
  const method: unknown = h.httpMethod ?? 'POST';
  const oidc = h.oidcToken;
  const audience = typeof oidc?.audience === 'string' && oidc.audience !== '' ? oidc.audience : h.uri;
  return (
    h.uri === want.uri &&
    ['POST', 1, 'HTTP_METHOD_UNSPECIFIED', 0].includes(method as string | number) &&
    sameHeaders(want.headers ?? {}, h.headers) &&
    bytesOf(h.body).equals(bytesOf(want.body)) &&
    !present(h.oauthToken) &&
    oidc?.serviceAccountEmail === want.oidcToken?.serviceAccountEmail &&
    audience === want.oidcToken?.audience
  );
}

/**
 * Header maps compared by case-insensitive name, leaving out the headers the service sets or replaces itself
 * (User-Agent, Host, Content-Length, X-Google-*, X-AppEngine-*, X-CloudScheduler*): the service shows its own
 * User-Agent on every HTTP job, and a reconciler that counted it would rewrite every job on every run.
 */
function sameHeaders(want: Record<string, string>, have: unknown): boolean {
  const normal = (headers: unknown): string => {
    const entries = headers !== null && typeof headers === 'object' ? Object.entries(headers as Record<string, unknown>) : [];
    return JSON.stringify(
      entries
        .map(([k, v]) => [k.toLowerCase(), typeof v === 'string' ? v : ''] as const)
        .filter(([k]) => !['user-agent', 'host', 'content-length'].includes(k) && !/^x-(google|appengine)-|^x-cloudscheduler/.test(k))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
  };
  return normal(want) === normal(have);
}

function sameRetry(want: protos.google.cloud.scheduler.v1.IRetryConfig, have: protos.google.cloud.scheduler.v1.IRetryConfig | null | undefined): boolean {
  const h = have ?? {};
  return (
    (h.retryCount ?? 0) === want.retryCount &&
    (h.maxDoublings ?? 0) === want.maxDoublings &&
    durationMs(h.maxRetryDuration, SERVICE_DEFAULTS.maxRetryMs) === durationMs(want.maxRetryDuration, 0) &&
    durationMs(h.minBackoffDuration, SERVICE_DEFAULTS.minBackoffMs) === durationMs(want.minBackoffDuration, 0) &&
    durationMs(h.maxBackoffDuration, SERVICE_DEFAULTS.maxBackoffMs) === durationMs(want.maxBackoffDuration, 0)
  );
}

/** A protobuf Duration in milliseconds (seconds may come as a number, a string or a Long); unset means `unset`. */
function durationMs(d: protos.google.protobuf.IDuration | null | undefined, unset: number): number {
  if (d === null || d === undefined) return unset;
  const seconds = Number(String(d.seconds ?? 0));
  const nanos = d.nanos ?? 0;
  return Number.isFinite(seconds) && Number.isFinite(nanos) ? seconds * 1000 + Math.floor(nanos / 1_000_000) : NaN;
}

function bytesOf(value: unknown): Buffer {
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (typeof value === 'string') return Buffer.from(value, 'base64');
  return Buffer.alloc(0);
}

function countActions(outcomes: readonly JobOutcome[]): Record<JobAction, number> {
  const counts: Record<JobAction, number> = { created: 0, updated: 0, deleted: 0, unchanged: 0, skipped: 0, paused: 0, foreign: 0, failed: 0 };
  for (const o of outcomes) counts[o.action] += 1;
  return counts;
}

// ---- errors and cancellation --------------------------------------------------------------------------------------

/** gRPC status codes (google/rpc/code.proto). */
/**
 * A Cloud Scheduler error as a RotatorError, by gRPC status (the Google mapping the Secret Manager store uses too),
 * with what the statuses mean for a job: a job that vanished or appeared meanwhile is a race with someone else, fixed
 * by running the reconciler again; FAILED_PRECONDITION is most often the API not enabled. Requests carry no secret
 * value, so the service's own text (which names the field it refused) may be quoted.
 */
function mapSchedulerError(error: unknown, ctx: { operation: string; permission: string; jobId?: string; signal?: AbortSignal | undefined }): RotatorError {
  const what = `Cloud Scheduler ${ctx.operation}${ctx.jobId === undefined ? '' : ` of job ${ctx.jobId}`}`;
  return mapGoogleError(error, {
    service: 'Cloud Scheduler',
    operation: ctx.operation,
    permission: ctx.permission,
    ...(ctx.jobId === undefined ? {} : { subject: `job ${ctx.jobId}` }),
    signal: ctx.signal,
    notFound: { code: 'STORE_IO', message: `${what} found nothing (NOT_FOUND); if the job vanished meanwhile, run the reconciler again`, retryable: true },
    special: {
      ALREADY_EXISTS: { code: 'STORE_IO', message: `${what}: the job was created by someone else meanwhile (ALREADY_EXISTS); run the reconciler again`, retryable: true },
      FAILED_PRECONDITION: { code: 'STORE_IO', message: `${what} failed a precondition (is the Cloud Scheduler API enabled in the project?)` },
    },
  });
}

function abortError(signal: AbortSignal): RotatorError {
  return signal.reason instanceof RotatorError ? signal.reason : new RotatorError('INTERNAL', 'the job reconcile was aborted by its caller before it finished; run it again', { retryable: true });
}

/**
 * `promise`, or the caller's abort, whichever comes first. The client takes no AbortSignal, so an aborted call may
 * still complete at the service; the reconcile stops waiting for it and reports the job as failed.
 */
async function raced<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  // Once the abort wins, a later rejection of the call has no one waiting for it; it must not become unhandled.
  promise.catch(() => undefined);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortError(signal));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
}
