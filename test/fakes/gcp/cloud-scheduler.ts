import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import type { CloudSchedulerClient, protos } from '@google-cloud/scheduler';
import { fail, loadService, startGrpcFake, Status, timestamp, type RecordedCall } from './grpc.js';

/**
 * A fake of Cloud Scheduler v1 over gRPC on 127.0.0.1 (plaintext), built from the protos inside
 * @google-cloud/scheduler, so the real `CloudSchedulerClient` talks to it. One project and one location are served.
 *
 * It enforces what the service documents (job.proto, target.proto and the cron format page):
 * - Create, Get, Update, Delete, List, Pause, Resume and Run; every other RPC answers UNIMPLEMENTED;
 * - names `projects/<p>/locations/<l>/jobs/<id>` with ids `[A-Za-z0-9_-]{1,500}` under the request's parent
 *   (malformed: INVALID_ARGUMENT; another project: PERMISSION_DENIED, as the service answers for a project the caller
 *   cannot see; another location: INVALID_ARGUMENT); a create without a name gets a generated id;
 *   ALREADY_EXISTS and NOT_FOUND;
 * - a description of at most 500 characters; a schedule in unix-cron (5 fields, names JAN-DEC and SUN-SAT, `*`, lists,
 *   ranges and `/step` after `*` or a range, every value inside its field's range); a time zone from the tz database
 *   (the service defaults a missing one to UTC; the fake requires it, so a client that leaves it to chance fails);
 * - exactly one target. HTTP: uri http(s) of at most 2,083 characters; a body only with POST, PUT or PATCH;
 *   oidcToken and oauthToken exclusive, for an account of the job's project; headers without repeats (names are
 *   case-insensitive), below 80 KB in total. Pub/Sub: a topic of the job's project and data or attributes. App Engine
 *   targets are not modelled (INVALID_ARGUMENT says so). Retry count 0-5, backoffs not negative, min <= max;
 *   attemptDeadline within [15 s, 30 min] for HTTP targets (default 3 min); the job at most 1 MB;
 * - headers the service manages are shown as it sets them: `User-Agent: Google-Cloud-Scheduler` always, and
 *   `Content-Type: application/octet-stream` on a body without one; Host, Content-Length, X-Google-* and X-AppEngine-*
 *   are dropped. A client that compares headers must expect that;
 * - output-only fields (state, userUpdateTime, scheduleTime, status, lastAttemptTime) are ignored on input; state
 *   starts ENABLED; unset retry fields and the deadline come back with the service's defaults; scheduleTime is the
 *   schedule's next time in the job's time zone after the clock (none while PAUSED);
 * - UpdateJob applies exactly the update mask's paths (snake_case top-level fields: description, schedule, time_zone,
 *   http_target, pubsub_target, retry_config, attempt_deadline; output-only paths ignored; anything else
 *   INVALID_ARGUMENT); a path whose field the request leaves out clears it. Without a mask every field the request
 *   carries is applied. The result is validated whole; an invalid one changes nothing. A paused job stays paused;
 * - ListJobs pages by name, pageSize 0 (= 500) to 500, opaque page tokens bound to their parent (a token it did not
 *   issue, or for another parent, is INVALID_ARGUMENT);
 * - PauseJob needs ENABLED and ResumeJob needs PAUSED (FAILED_PRECONDITION otherwise);
 * - RunJob ("Force run") answers at once with the job and dispatches in the background, as the service does, one
 *   attempt (no retries): to `deliver` when the test gave one, else by a real HTTP request when the uri is
 *   http://127.0.0.1, with the job's method, headers and body plus `User-Agent`, `X-CloudScheduler: true`,
 *   `X-CloudScheduler-JobName: <job id>` and `Authorization: Bearer <fake OIDC token>` (an unsigned JWT naming the
 *   account and the audience, the uri when none is set). Any other uri is never contacted: the fake stays on
 *   loopback and records the attempt as UNAVAILABLE. The delivery and its HTTP status are recorded in `deliveries`,
 *   and the job's `status` and `lastAttemptTime` follow. A Pub/Sub job's run only stamps those (there is no Pub/Sub).
 */

export const SCHEDULER_PROTO = 'google/cloud/scheduler/v1/cloudscheduler.proto';
export const SCHEDULER_SERVICE = 'google.cloud.scheduler.v1.CloudScheduler';

/** The service's limits and defaults (job.proto, target.proto, cloudscheduler.proto). */
const MAX_JOB_ID = 500;
const MAX_DESCRIPTION = 500;
const MAX_URI = 2083;
const MAX_HEADERS_BYTES = 80 * 1024;
const MAX_JOB_BYTES = 1024 * 1024;
const MAX_PAGE = 500;
const MAX_RETRY_COUNT = 5;
const MIN_DEADLINE_MS = 15_000;
const MAX_DEADLINE_MS = 30 * 60_000;
const DEFAULT_DEADLINE_MS = 3 * 60_000;
const DEFAULT_MIN_BACKOFF_MS = 5_000;
const DEFAULT_MAX_BACKOFF_MS = 3_600_000;
const DEFAULT_MAX_DOUBLINGS = 5;
const DEFAULT_OAUTH_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const USER_AGENT = 'Google-Cloud-Scheduler';

const JOB_ID = /^[A-Za-z0-9_-]{1,500}$/;
const LOCATION_ID = /^[a-z]+(?:-[a-z]+)*[0-9]*$/;
const PROJECT_ID = /^[A-Za-z0-9.:-]{1,100}$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// eslint-disable-next-line no-control-regex -- a header value must not carry CR, LF or other controls (a tab is fine)
const HEADER_VALUE_BAD = /[\u0000-\u0008\u000a-\u001f\u007f]/;
const HTTP_METHODS = new Set(['POST', 'GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);
const OUTPUT_ONLY_PATHS = new Set(['state', 'user_update_time', 'schedule_time', 'status', 'last_attempt_time', 'name']);
const UPDATABLE_PATHS = new Set(['description', 'schedule', 'time_zone', 'http_target', 'pubsub_target', 'retry_config', 'attempt_deadline']);

const JOB_STATES = ['ENABLED', 'PAUSED', 'DISABLED', 'UPDATE_FAILED'] as const;
export type JobState = (typeof JOB_STATES)[number];
const isJobState = (value: unknown): value is JobState => (JOB_STATES as readonly unknown[]).includes(value);
export type HttpMethod = 'POST' | 'GET' | 'HEAD' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS';

/** A job as the fake holds it; tests see it through `jobs()` (copies). Durations in milliseconds. */
export interface SchedulerJobView {
  name: string;
  /** The last segment of the name. */
  id: string;
  description: string;
  schedule: string;
  timeZone: string;
  state: JobState;
  httpTarget?: {
    uri: string;
    httpMethod: HttpMethod;
    headers: Record<string, string>;
    body: Buffer;
    oidcToken?: { serviceAccountEmail: string; audience?: string };
    oauthToken?: { serviceAccountEmail: string; scope: string };
  };
  pubsubTarget?: { topicName: string; data: Buffer; attributes: Record<string, string> };
  retryConfig: { retryCount: number; maxRetryDurationMs: number; minBackoffDurationMs: number; maxBackoffDurationMs: number; maxDoublings: number };
  attemptDeadlineMs: number;
  userUpdateTime: Date;
  scheduleTime?: Date;
  lastAttemptTime?: Date;
  /** google.rpc.Status of the last attempt: code 0 when the target answered 2xx. */
  status?: { code: number; message: string };
}

/** The HTTP request a run sends. */
export interface SchedulerHttpRequest {
  jobName: string;
  method: HttpMethod;
  uri: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** One dispatched run of an HTTP job. */
export interface SchedulerDelivery extends SchedulerHttpRequest {
  at: Date;
  /** The account and audience the Authorization header's token names, when the job has an OIDC token. */
  oidc?: { serviceAccountEmail: string; audience: string };
  /** The target's HTTP status, once it answered. */
  status?: number;
  /** Why no status came (connection refused, deadline, not on loopback). */
  error?: string;
  /** Settles when the attempt has ended and the job's status is recorded. */
  done: Promise<void>;
}

export interface CloudSchedulerFakeOptions {
  /** Default `test-project`. */
  project?: string;
  /** Default `europe-west1`. */
  location?: string;
  /** The clock for userUpdateTime, scheduleTime, lastAttemptTime and token times (default: the real one). */
  clock?: () => Date;
  /** Receives every HTTP run instead of a real request; answers the HTTP status. */
  deliver?: (request: SchedulerHttpRequest) => number | Promise<number>;
}

export type SchedulerClientOptions = NonNullable<ConstructorParameters<typeof CloudSchedulerClient>[0]>;

/** A job as a test seeds it: the client's own shape; `state` (default ENABLED) is the one a person left it in. */
export type SeedJob = protos.google.cloud.scheduler.v1.IJob;

export interface CloudSchedulerFake {
  readonly port: number;
  readonly project: string;
  readonly location: string;
  /** `projects/<project>/locations/<location>` */
  readonly parent: string;
  /** Every RPC: name, resource, status (never bodies). */
  readonly calls: RecordedCall[];
  /** Every HTTP run, oldest first. */
  readonly deliveries: SchedulerDelivery[];
  /** Options for `new CloudSchedulerClient(...)` that reach this fake and never a metadata server. */
  clientOptions(): SchedulerClientOptions;
  /** Fails the next `times` (default 1) calls of `rpc` (e.g. `CreateJob`) with gRPC `code`. */
  failNext(rpc: string, code: grpc.status, times?: number): void;
  /** Every job, sorted by name (copies). */
  jobs(): SchedulerJobView[];
  /** Seeds a job directly, as a person would have made it (validated like CreateJob; not recorded in `calls`). */
  put(job: SeedJob): SchedulerJobView;
  /** Waits until every dispatched run has ended. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

interface Duration {
  ms: number;
}

interface HttpTargetData {
  uri: string;
  method: HttpMethod;
  headers: Record<string, string>;
  body: Buffer;
  oidc?: { serviceAccountEmail: string; audience?: string };
  oauth?: { serviceAccountEmail: string; scope: string };
}

interface PubsubTargetData {
  topicName: string;
  data: Buffer;
  attributes: Record<string, string>;
}

type Target = { kind: 'http'; http: HttpTargetData } | { kind: 'pubsub'; pubsub: PubsubTargetData };

/** The user-settable fields of a job. */
interface JobFields {
  description: string;
  schedule: string;
  timeZone: string;
  target?: Target;
  retryCount: number;
  maxRetryDuration: Duration;
  minBackoffDuration: Duration;
  maxBackoffDuration: Duration;
  maxDoublings: number;
  attemptDeadline: Duration;
}

interface StoredJob extends JobFields {
  name: string;
  target: Target;
  state: JobState;
  userUpdateTime: Date;
  scheduleTime?: Date;
  lastAttemptTime?: Date;
  status?: { code: number; message: string };
}

const invalid = (message: string) => fail(Status.INVALID_ARGUMENT, message);

export async function startCloudSchedulerFake(options: CloudSchedulerFakeOptions = {}): Promise<CloudSchedulerFake> {
  const project = options.project ?? 'test-project';
  const location = options.location ?? 'europe-west1';
  const parent = `projects/${project}/locations/${location}`;
  const clock = options.clock ?? (() => new Date());
  const jobs = new Map<string, StoredJob>();
  const pageTokens = new Map<string, { parent: string; after: string }>();
  const failures = new Map<string, { code: grpc.status; times: number }>();
  const deliveries: SchedulerDelivery[] = [];

  /** The parent `projects/<p>/locations/<l>` a request names, checked against the one served. */
  function checkParent(raw: unknown): string {
    if (typeof raw !== 'string') throw invalid('parent is required: projects/PROJECT_ID/locations/LOCATION_ID');
    const m = /^projects\/([^/]+)\/locations\/([^/]+)$/.exec(raw);
    if (m === null || !PROJECT_ID.test(m[1] ?? '') || !LOCATION_ID.test(m[2] ?? '')) {
      throw invalid('parent must be projects/PROJECT_ID/locations/LOCATION_ID');
    }
    if (m[1] !== project) throw fail(Status.PERMISSION_DENIED, 'The caller does not have permission');
    if (m[2] !== location) throw invalid(`Location ${m[2] ?? ''} is not served here (this fake serves ${location})`);
    return raw;
  }

  /** A job name under a served parent. */
  function checkName(raw: unknown): string {
    if (typeof raw !== 'string') throw invalid('name is required: projects/PROJECT_ID/locations/LOCATION_ID/jobs/JOB_ID');
    const m = /^(projects\/[^/]+\/locations\/[^/]+)\/jobs\/([^/]*)$/.exec(raw);
    if (m === null) throw invalid('job name must be projects/PROJECT_ID/locations/LOCATION_ID/jobs/JOB_ID');
    checkParent(m[1]);
    if (!JOB_ID.test(m[2] ?? '')) throw invalid(`job id must be 1 to ${MAX_JOB_ID} letters, digits, hyphens or underscores`);
    return raw;
  }

  function existing(name: unknown): StoredJob {
    const job = jobs.get(checkName(name));
    if (job === undefined) throw fail(Status.NOT_FOUND, 'Job not found.');
    return job;
  }

  function refreshScheduleTime(job: StoredJob): void {
    const next = job.state === 'ENABLED' ? nextCronTime(job.schedule, job.timeZone, clock()) : undefined;
    if (next === undefined) delete job.scheduleTime;
    else job.scheduleTime = next;
  }

  /** A new job from a create request (or a seed): validated whole, defaults filled, output-only fields dropped. */
  function createFrom(raw: unknown, under: string | undefined): StoredJob {
    const input = asRecord(raw, 'job');
    const name = input.name === undefined || input.name === '' ? `${under ?? parent}/jobs/${randomBytes(12).toString('hex')}` : checkName(input.name);
    if (under !== undefined && !name.startsWith(`${under}/jobs/`)) throw invalid('the job name must be under the request parent');
    if (jobs.has(name)) throw fail(Status.ALREADY_EXISTS, `Job ${name} already exists.`);
    const fields = { ...defaultFields(), ...readFields(input, project) };
    const job = { ...validated(fields, project), name, state: 'ENABLED' as JobState, userUpdateTime: clock() };
    refreshScheduleTime(job);
    return job;
  }

  const impl = {
    CreateJob(request: Record<string, unknown>) {
      const under = checkParent(request.parent);
      const job = createFrom(request.job, under);
      jobs.set(job.name, job);
      return toWire(job);
    },
    GetJob(request: Record<string, unknown>) {
      return toWire(existing(request.name));
    },
    UpdateJob(request: Record<string, unknown>) {
      const input = asRecord(request.job, 'job');
      const job = existing(input.name);
      const given = readFields(input, project);
      const mask = request.updateMask === undefined || request.updateMask === null ? undefined : maskPaths(request.updateMask);
      const merged: JobFields = { ...job };
      if (mask === undefined) Object.assign(merged, given);
      else for (const path of mask) applyPath(merged, path, given);
      Object.assign(job, validated(merged, project), { userUpdateTime: clock() });
      refreshScheduleTime(job);
      return toWire(job);
    },
    DeleteJob(request: Record<string, unknown>) {
      const job = existing(request.name);
      jobs.delete(job.name);
      return {};
    },
    ListJobs(request: Record<string, unknown>) {
      const under = checkParent(request.parent);
      const size = Number(request.pageSize ?? 0);
      if (!Number.isInteger(size) || size < 0 || size > MAX_PAGE) throw invalid(`page_size must be between 0 and ${MAX_PAGE}`);
      let after = '';
      const token = request.pageToken;
      if (typeof token === 'string' && token !== '') {
        const state = pageTokens.get(token);
        if (state?.parent !== under) throw invalid('Invalid page token.');
        after = state.after;
      }
      const names = [...jobs.keys()].filter((n) => n.startsWith(`${under}/jobs/`) && n > after).sort();
      const page = names.slice(0, size === 0 ? MAX_PAGE : size);
      let nextPageToken = '';
      const last = page.at(-1);
      if (last !== undefined && names.length > page.length) {
        nextPageToken = randomBytes(18).toString('base64url');
        pageTokens.set(nextPageToken, { parent: under, after: last });
      }
      return { jobs: page.map((n) => toWire(jobs.get(n) as StoredJob)), nextPageToken };
    },
    PauseJob(request: Record<string, unknown>) {
      const job = existing(request.name);
      if (job.state !== 'ENABLED') throw fail(Status.FAILED_PRECONDITION, `Job is ${job.state}; only an ENABLED job can be paused.`);
      job.state = 'PAUSED';
      refreshScheduleTime(job);
      return toWire(job);
    },
    ResumeJob(request: Record<string, unknown>) {
      const job = existing(request.name);
      if (job.state !== 'PAUSED') throw fail(Status.FAILED_PRECONDITION, `Job is ${job.state}; only a PAUSED job can be resumed.`);
      job.state = 'ENABLED';
      refreshScheduleTime(job);
      return toWire(job);
    },
    RunJob(request: Record<string, unknown>) {
      const job = existing(request.name);
      job.lastAttemptTime = clock();
      if (job.target.kind === 'http') deliveries.push(dispatch(job, job.target.http));
      else job.status = { code: Status.OK, message: '' };
      return toWire(job);
    },
  };

  /** Starts one attempt of an HTTP job; the job's status follows when it ends. */
  function dispatch(job: StoredJob, http: HttpTargetData): SchedulerDelivery {
    const at = clock();
    const id = job.name.slice(job.name.lastIndexOf('/') + 1);
    const headers: Record<string, string> = {};
    const overridden = http.oidc !== undefined || http.oauth !== undefined;
    for (const [key, value] of Object.entries(http.headers)) {
      if (!(overridden && key.toLowerCase() === 'authorization')) headers[key] = value;
    }
    headers['X-CloudScheduler'] = 'true';
    headers['X-CloudScheduler-JobName'] = id;
    let oidc: SchedulerDelivery['oidc'];
    if (http.oidc !== undefined) {
      oidc = { serviceAccountEmail: http.oidc.serviceAccountEmail, audience: http.oidc.audience ?? http.uri };
      headers.Authorization = `Bearer ${fakeOidcToken(oidc.serviceAccountEmail, oidc.audience, at)}`;
    } else if (http.oauth !== undefined) {
      headers.Authorization = `Bearer fake-oauth.${Buffer.from(JSON.stringify({ email: http.oauth.serviceAccountEmail, scope: http.oauth.scope })).toString('base64url')}`;
    }
    const sent: SchedulerHttpRequest = { jobName: job.name, method: http.method, uri: http.uri, headers, body: Buffer.from(http.body) };
    const delivery = { ...sent, at, ...(oidc === undefined ? {} : { oidc }) } as SchedulerDelivery;
    const record = (status: number | undefined, error: string | undefined): void => {
      if (status !== undefined) delivery.status = status;
      if (error !== undefined) delivery.error = error;
      const code: number = status === undefined ? (error?.startsWith('deadline') === true ? Status.DEADLINE_EXCEEDED : Status.UNAVAILABLE) : rpcCodeOfHttp(status);
      const current = jobs.get(job.name);
      if (current !== undefined) current.status = { code, message: code === 0 ? '' : (error ?? `HTTP ${status ?? 0}`) };
    };
    delivery.done = attempt(sent, job.attemptDeadline.ms).then(
      (status) => record(status, undefined),
      (error: unknown) => record(undefined, error instanceof Error ? error.message : String(error)),
    );
    return delivery;
  }

  async function attempt(sent: SchedulerHttpRequest, deadlineMs: number): Promise<number> {
    if (options.deliver !== undefined) return await options.deliver(sent);
    const url = new URL(sent.uri);
    if (url.protocol !== 'http:' || url.hostname !== '127.0.0.1') throw new Error('not sent: the fake delivers only to http://127.0.0.1');
    return await new Promise<number>((resolve, reject) => {
      const req = httpRequest(url, { method: sent.method, headers: { ...sent.headers, 'Content-Length': String(sent.body.length) }, timeout: deadlineMs }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`deadline of ${deadlineMs} ms exceeded`)));
      req.on('error', reject);
      req.end(sent.body);
    });
  }

  const fake = await startGrpcFake(loadService('@google-cloud/scheduler', SCHEDULER_PROTO, SCHEDULER_SERVICE), impl, (rpc) => {
    const failure = failures.get(rpc);
    if (failure === undefined) return;
    failure.times -= 1;
    if (failure.times <= 0) failures.delete(rpc);
    throw fail(failure.code, `injected failure of ${rpc}`);
  });

  return {
    port: fake.port,
    project,
    location,
    parent,
    calls: fake.calls,
    deliveries,
    clientOptions: () => ({
      apiEndpoint: '127.0.0.1',
      port: fake.port,
      sslCreds: grpc.credentials.createInsecure(),
      universeDomain: 'googleapis.com',
      // gax asks the auth object only for its universe domain when sslCreds are given; nothing reaches a metadata server.
      auth: { getUniverseDomain: () => Promise.resolve('googleapis.com'), getClient: () => Promise.resolve({}) } as unknown as SchedulerClientOptions['auth'],
    }),
    failNext: (rpc, code, times = 1) => {
      failures.set(rpc, { code, times });
    },
    jobs: () => [...jobs.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map(view),
    put: (seed) => {
      const job = createFrom(seed, undefined);
      const state = seed.state ?? 'ENABLED';
      if (!isJobState(state)) throw new Error(`a seeded job's state must be one of ${JOB_STATES.join(', ')}`);
      job.state = state;
      refreshScheduleTime(job);
      jobs.set(job.name, job);
      return view(job);
    },
    idle: async () => {
      await Promise.all(deliveries.map((d) => d.done));
    },
    close: () => fake.close(),
  };
}

/** An unsigned JWT (alg none) with Google's OIDC claims: enough for a test to see who called and for whom. */
export function fakeOidcToken(serviceAccountEmail: string, audience: string, at: Date): string {
  const iat = Math.floor(at.getTime() / 1000);
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const claims = { iss: 'https://accounts.google.com', aud: audience, azp: serviceAccountEmail, email: serviceAccountEmail, email_verified: true, sub: serviceAccountEmail, iat, exp: iat + 3600 };
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}

/** The claims of a `Bearer <fake OIDC token>` header, or undefined when it is not one. */
export function decodeFakeOidcToken(authorization: string | undefined): { email: string; aud: string; iss: string } | undefined {
  const m = /^Bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.$/.exec(authorization ?? '');
  if (m === null) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(m[2] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    if (typeof claims.email !== 'string' || typeof claims.aud !== 'string' || typeof claims.iss !== 'string') return undefined;
    return { email: claims.email, aud: claims.aud, iss: claims.iss };
  } catch {
    return undefined;
  }
}

// ---- reading requests -------------------------------------------------------------------------------------------

function asRecord(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(`${what} is required`);
  return value as Record<string, unknown>;
}

function defaultFields(): JobFields {
  return {
    description: '',
    schedule: '',
    timeZone: '',
    retryCount: 0,
    maxRetryDuration: { ms: 0 },
    minBackoffDuration: { ms: DEFAULT_MIN_BACKOFF_MS },
    maxBackoffDuration: { ms: DEFAULT_MAX_BACKOFF_MS },
    maxDoublings: DEFAULT_MAX_DOUBLINGS,
    attemptDeadline: { ms: DEFAULT_DEADLINE_MS },
  };
}

/** The settable fields a request's job carries (present ones only). Output-only fields are not read. */
function readFields(job: Record<string, unknown>, project: string): Partial<JobFields> {
  const out: Partial<JobFields> = {};
  if (job.description !== undefined) out.description = str(job.description, 'description');
  if (job.schedule !== undefined) out.schedule = str(job.schedule, 'schedule');
  if (job.timeZone !== undefined) out.timeZone = str(job.timeZone, 'time_zone');
  const targets = [job.httpTarget, job.pubsubTarget, job.appEngineHttpTarget].filter((t) => t !== undefined && t !== null);
  if (targets.length > 1) throw invalid('a job has exactly one target');
  if (job.appEngineHttpTarget !== undefined && job.appEngineHttpTarget !== null) throw invalid('App Engine HTTP targets are not modelled by this fake');
  if (job.httpTarget !== undefined && job.httpTarget !== null) out.target = { kind: 'http', http: readHttpTarget(asRecord(job.httpTarget, 'http_target')) };
  if (job.pubsubTarget !== undefined && job.pubsubTarget !== null) out.target = { kind: 'pubsub', pubsub: readPubsubTarget(asRecord(job.pubsubTarget, 'pubsub_target'), project) };
  if (job.retryConfig !== undefined && job.retryConfig !== null) Object.assign(out, readRetry(asRecord(job.retryConfig, 'retry_config')));
  if (job.attemptDeadline !== undefined && job.attemptDeadline !== null) out.attemptDeadline = duration(job.attemptDeadline, 'attempt_deadline');
  return out;
}

function readRetry(retry: Record<string, unknown>): Partial<JobFields> {
  const d = defaultFields();
  return {
    retryCount: int(retry.retryCount ?? 0, 'retry_count'),
    maxRetryDuration: retry.maxRetryDuration === undefined || retry.maxRetryDuration === null ? d.maxRetryDuration : duration(retry.maxRetryDuration, 'max_retry_duration'),
    minBackoffDuration: retry.minBackoffDuration === undefined || retry.minBackoffDuration === null ? d.minBackoffDuration : duration(retry.minBackoffDuration, 'min_backoff_duration'),
    maxBackoffDuration: retry.maxBackoffDuration === undefined || retry.maxBackoffDuration === null ? d.maxBackoffDuration : duration(retry.maxBackoffDuration, 'max_backoff_duration'),
    maxDoublings: retry.maxDoublings === undefined ? d.maxDoublings : int(retry.maxDoublings, 'max_doublings'),
  };
}

function readHttpTarget(t: Record<string, unknown>): HttpTargetData {
  const uri = str(t.uri ?? '', 'http_target.uri');
  const rawMethod = t.httpMethod === undefined || t.httpMethod === 'HTTP_METHOD_UNSPECIFIED' ? 'POST' : t.httpMethod;
  if (typeof rawMethod !== 'string' || !HTTP_METHODS.has(rawMethod)) throw invalid('http_target.http_method is not a known method');
  const headers = managedHeaders(stringMap(t.headers, 'http_target.headers'));
  const body = bytes(t.body, 'http_target.body');
  if (body.length > 0 && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/octet-stream';
  const out: HttpTargetData = { uri, method: rawMethod as HttpMethod, headers, body };
  const oidc = t.oidcToken === undefined || t.oidcToken === null ? undefined : asRecord(t.oidcToken, 'oidc_token');
  const oauth = t.oauthToken === undefined || t.oauthToken === null ? undefined : asRecord(t.oauthToken, 'oauth_token');
  if (oidc !== undefined && oauth !== undefined) throw invalid('http_target takes either an oidc_token or an oauth_token, not both');
  if (oidc !== undefined) {
    const audience = oidc.audience === undefined || oidc.audience === '' ? undefined : str(oidc.audience, 'oidc_token.audience');
    out.oidc = { serviceAccountEmail: str(oidc.serviceAccountEmail ?? '', 'oidc_token.service_account_email'), ...(audience === undefined ? {} : { audience }) };
  }
  if (oauth !== undefined) {
    const scope = oauth.scope === undefined || oauth.scope === '' ? DEFAULT_OAUTH_SCOPE : str(oauth.scope, 'oauth_token.scope');
    out.oauth = { serviceAccountEmail: str(oauth.serviceAccountEmail ?? '', 'oauth_token.service_account_email'), scope };
  }
  return out;
}

/** The headers as the service keeps them: its own User-Agent, without those it computes or reserves. */
function managedHeaders(given: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  const seen = new Set<string>();
  for (const [key, value] of Object.entries(given)) {
    const lower = key.toLowerCase();
    if (!HEADER_NAME.test(key) || HEADER_VALUE_BAD.test(value)) throw invalid('http_target.headers: a header name or value is not valid HTTP');
    if (seen.has(lower)) throw invalid('http_target.headers: repeated headers are not supported');
    seen.add(lower);
    if (lower === 'host' || lower === 'content-length' || lower === 'user-agent' || lower.startsWith('x-google-') || lower.startsWith('x-appengine-')) continue;
    out[key] = value;
  }
  out['User-Agent'] = USER_AGENT;
  return out;
}

function readPubsubTarget(t: Record<string, unknown>, project: string): PubsubTargetData {
  const topicName = str(t.topicName ?? '', 'pubsub_target.topic_name');
  if (!new RegExp(`^projects/${escapeRegExp(project)}/topics/[A-Za-z][A-Za-z0-9._~%+-]{2,254}$`).test(topicName)) {
    throw invalid('pubsub_target.topic_name must be a topic of the job\'s project: projects/PROJECT_ID/topics/TOPIC_ID');
  }
  const data = bytes(t.data, 'pubsub_target.data');
  const attributes = stringMap(t.attributes, 'pubsub_target.attributes');
  if (data.length === 0 && Object.keys(attributes).length === 0) throw invalid('a Pub/Sub message needs data or at least one attribute');
  return { topicName, data, attributes };
}

function maskPaths(raw: unknown): string[] {
  const paths = asRecord(raw, 'update_mask').paths;
  if (paths === undefined) return [];
  if (!Array.isArray(paths) || paths.some((p) => typeof p !== 'string')) throw invalid('update_mask.paths must be strings');
  for (const path of paths as string[]) {
    if (!UPDATABLE_PATHS.has(path) && !OUTPUT_ONLY_PATHS.has(path)) throw invalid(`update_mask: unknown or immutable field path "${path}"`);
  }
  return paths as string[];
}

/** Applies one update-mask path: the request's value, or the field cleared when the request leaves it out. */
function applyPath(merged: JobFields, path: string, given: Partial<JobFields>): void {
  const d = defaultFields();
  switch (path) {
    case 'description':
      merged.description = given.description ?? d.description;
      return;
    case 'schedule':
      merged.schedule = given.schedule ?? d.schedule;
      return;
    case 'time_zone':
      merged.timeZone = given.timeZone ?? d.timeZone;
      return;
    case 'http_target':
    case 'pubsub_target': {
      const kind = path === 'http_target' ? 'http' : 'pubsub';
      if (given.target?.kind === kind) merged.target = given.target;
      else if (merged.target?.kind === kind) delete merged.target;
      return;
    }
    case 'retry_config':
      merged.retryCount = given.retryCount ?? d.retryCount;
      merged.maxRetryDuration = given.maxRetryDuration ?? d.maxRetryDuration;
      merged.minBackoffDuration = given.minBackoffDuration ?? d.minBackoffDuration;
      merged.maxBackoffDuration = given.maxBackoffDuration ?? d.maxBackoffDuration;
      merged.maxDoublings = given.maxDoublings ?? d.maxDoublings;
      return;
    case 'attempt_deadline':
      merged.attemptDeadline = given.attemptDeadline ?? d.attemptDeadline;
      return;
    default:
      // Output-only paths: ignored, as the service ignores output-only fields.
      return;
  }
}

/** The job's fields after every rule that concerns them as a whole. */
function validated(fields: JobFields, project: string): JobFields & { target: Target } {
  if (fields.description.length > MAX_DESCRIPTION) throw invalid(`description must not be longer than ${MAX_DESCRIPTION} characters`);
  if (fields.schedule.trim() === '') throw invalid('schedule is required');
  const cron = parseCron(fields.schedule);
  if (typeof cron === 'string') throw invalid(`schedule is not a valid unix-cron expression: ${cron}`);
  if (fields.timeZone === '') throw invalid('time_zone is required by this fake (the service would default to UTC)');
  if (!isTimeZone(fields.timeZone)) throw invalid(`time_zone ${fields.timeZone} is not a time zone of the tz database`);
  const target = fields.target;
  if (target === undefined) throw invalid('a job needs a target');
  if (fields.retryCount < 0 || fields.retryCount > MAX_RETRY_COUNT) throw invalid(`retry_count must be between 0 and ${MAX_RETRY_COUNT}`);
  if (fields.maxDoublings < 0) throw invalid('max_doublings must not be negative');
  for (const [key, d] of [['max_retry_duration', fields.maxRetryDuration], ['min_backoff_duration', fields.minBackoffDuration], ['max_backoff_duration', fields.maxBackoffDuration]] as const) {
    if (d.ms < 0) throw invalid(`${key} must not be negative`);
  }
  if (fields.minBackoffDuration.ms > fields.maxBackoffDuration.ms) throw invalid('min_backoff_duration must not exceed max_backoff_duration');
  let size = fields.description.length + fields.schedule.length + fields.timeZone.length;
  if (target.kind === 'http') {
    const http = target.http;
    if (http.uri === '') throw invalid('http_target.uri is required');
    if (http.uri.length > MAX_URI) throw invalid(`http_target.uri must not be longer than ${MAX_URI} characters`);
    if (!/^https?:\/\//i.test(http.uri) || !URL.canParse(http.uri)) throw invalid('http_target.uri must be an http:// or https:// URL');
    if (http.body.length > 0 && !BODY_METHODS.has(http.method)) throw invalid(`a body is allowed only with POST, PUT or PATCH, not ${http.method}`);
    const headerBytes = Object.entries(http.headers).reduce((n, [k, v]) => n + k.length + v.length, 0);
    if (headerBytes >= MAX_HEADERS_BYTES) throw invalid('http_target.headers must be less than 80KB in total');
    const account = http.oidc?.serviceAccountEmail ?? http.oauth?.serviceAccountEmail;
    if (account !== undefined && !isProjectServiceAccount(account, project)) {
      throw invalid('the token\'s service account must be a service account of the job\'s project');
    }
    if (fields.attemptDeadline.ms < MIN_DEADLINE_MS || fields.attemptDeadline.ms > MAX_DEADLINE_MS) {
      throw invalid('attempt_deadline must be between 15 seconds and 30 minutes for HTTP targets');
    }
    size += http.uri.length + headerBytes + http.body.length;
  } else {
    size += target.pubsub.topicName.length + target.pubsub.data.length;
  }
  if (size > MAX_JOB_BYTES) throw invalid('a job must not be larger than 1MB');
  return { ...fields, target };
}

function isProjectServiceAccount(email: string, project: string): boolean {
  const p = escapeRegExp(project);
  return new RegExp(`^(?:[a-z][a-z0-9-]{4,28}[a-z0-9]@${p}\\.iam\\.gserviceaccount\\.com|${p}@appspot\\.gserviceaccount\\.com|[0-9]+-compute@developer\\.gserviceaccount\\.com)$`).test(email);
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function str(value: unknown, field: string): string {
  if (typeof value !== 'string') throw invalid(`${field} must be a string`);
  return value;
}

function int(value: unknown, field: string): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw invalid(`${field} must be an integer`);
  return n;
}

/** A protobuf Duration (seconds as a string or number, nanos) in milliseconds. */
function duration(value: unknown, field: string): Duration {
  const d = asRecord(value, field);
  const seconds = int(d.seconds ?? 0, `${field}.seconds`);
  const nanos = int(d.nanos ?? 0, `${field}.nanos`);
  return { ms: seconds * 1000 + Math.floor(nanos / 1_000_000) };
}

/** A bytes field: a Buffer from the wire, a Uint8Array or base64 text from a seed (as protobufjs reads them). */
function bytes(value: unknown, field: string): Buffer {
  if (value === undefined || value === null) return Buffer.alloc(0);
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (typeof value === 'string') return Buffer.from(value, 'base64');
  throw invalid(`${field} must be bytes`);
}

function stringMap(value: unknown, field: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(asRecord(value, field))) out[k] = str(v, `${field}.${k}`);
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---- answering ---------------------------------------------------------------------------------------------------

function wireDuration(d: Duration): { seconds: string; nanos: number } {
  return { seconds: String(Math.floor(d.ms / 1000)), nanos: (d.ms % 1000) * 1_000_000 };
}

/** The job as the service returns it. */
function toWire(job: StoredJob): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: job.name,
    description: job.description,
    schedule: job.schedule,
    timeZone: job.timeZone,
    state: job.state,
    userUpdateTime: timestamp(job.userUpdateTime),
    retryConfig: {
      retryCount: job.retryCount,
      maxRetryDuration: wireDuration(job.maxRetryDuration),
      minBackoffDuration: wireDuration(job.minBackoffDuration),
      maxBackoffDuration: wireDuration(job.maxBackoffDuration),
      maxDoublings: job.maxDoublings,
    },
    attemptDeadline: wireDuration(job.attemptDeadline),
    ...(job.scheduleTime === undefined ? {} : { scheduleTime: timestamp(job.scheduleTime) }),
    ...(job.lastAttemptTime === undefined ? {} : { lastAttemptTime: timestamp(job.lastAttemptTime) }),
    ...(job.status === undefined ? {} : { status: job.status }),
  };
  if (job.target.kind === 'http') {
    const h = job.target.http;
    out.httpTarget = {
      uri: h.uri,
      httpMethod: h.method,
      headers: { ...h.headers },
      body: Buffer.from(h.body),
      ...(h.oidc === undefined ? {} : { oidcToken: { ...h.oidc } }),
      ...(h.oauth === undefined ? {} : { oauthToken: { ...h.oauth } }),
    };
  } else {
    out.pubsubTarget = { topicName: job.target.pubsub.topicName, data: Buffer.from(job.target.pubsub.data), attributes: { ...job.target.pubsub.attributes } };
  }
  return out;
}

function view(job: StoredJob): SchedulerJobView {
  const out: SchedulerJobView = {
    name: job.name,
    id: job.name.slice(job.name.lastIndexOf('/') + 1),
    description: job.description,
    schedule: job.schedule,
    timeZone: job.timeZone,
    state: job.state,
    retryConfig: {
      retryCount: job.retryCount,
      maxRetryDurationMs: job.maxRetryDuration.ms,
      minBackoffDurationMs: job.minBackoffDuration.ms,
      maxBackoffDurationMs: job.maxBackoffDuration.ms,
      maxDoublings: job.maxDoublings,
    },
    attemptDeadlineMs: job.attemptDeadline.ms,
    userUpdateTime: new Date(job.userUpdateTime),
    ...(job.scheduleTime === undefined ? {} : { scheduleTime: new Date(job.scheduleTime) }),
    ...(job.lastAttemptTime === undefined ? {} : { lastAttemptTime: new Date(job.lastAttemptTime) }),
    ...(job.status === undefined ? {} : { status: { ...job.status } }),
  };
  if (job.target.kind === 'http') {
    const h = job.target.http;
    out.httpTarget = {
      uri: h.uri,
      httpMethod: h.method,
      headers: { ...h.headers },
      body: Buffer.from(h.body),
      ...(h.oidc === undefined ? {} : { oidcToken: { ...h.oidc } }),
      ...(h.oauth === undefined ? {} : { oauthToken: { ...h.oauth } }),
    };
  } else {
    out.pubsubTarget = { topicName: job.target.pubsub.topicName, data: Buffer.from(job.target.pubsub.data), attributes: { ...job.target.pubsub.attributes } };
  }
  return out;
}

/** google.rpc codes for an HTTP answer, as Google maps them (google/rpc/code.proto). */
function rpcCodeOfHttp(status: number): number {
  if (status >= 200 && status < 300) return Status.OK;
  const known: Record<number, number> = {
    400: Status.INVALID_ARGUMENT,
    401: Status.UNAUTHENTICATED,
    403: Status.PERMISSION_DENIED,
    404: Status.NOT_FOUND,
    409: Status.ABORTED,
    429: Status.RESOURCE_EXHAUSTED,
    499: Status.CANCELLED,
    501: Status.UNIMPLEMENTED,
    503: Status.UNAVAILABLE,
    504: Status.DEADLINE_EXCEEDED,
  };
  return known[status] ?? (status >= 500 ? Status.INTERNAL : Status.FAILED_PRECONDITION);
}

// ---- unix-cron ---------------------------------------------------------------------------------------------------

export interface CronSpec {
  minutes: ReadonlySet<number>;
  hours: ReadonlySet<number>;
  days: ReadonlySet<number>;
  months: ReadonlySet<number>;
  /** 0 = Sunday (7 is folded into 0). */
  weekdays: ReadonlySet<number>;
  /** Whether day-of-month and day-of-week are restricted (not `*`): when both are, either one matching fires. */
  daysRestricted: boolean;
  weekdaysRestricted: boolean;
}

const CRON_FIELDS = [
  { name: 'minute', min: 0, max: 59, names: [] },
  { name: 'hour', min: 0, max: 23, names: [] },
  { name: 'day of the month', min: 1, max: 31, names: [] },
  { name: 'month', min: 1, max: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] },
  { name: 'day of the week', min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
] as const;

/** The parsed schedule, or why it is not unix-cron as Cloud Scheduler documents it. */
export function parseCron(schedule: string): CronSpec | string {
  const parts = schedule.trim().split(/\s+/);
  if (parts.length !== 5) return `expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`;
  const sets: Set<number>[] = [];
  for (const [i, field] of CRON_FIELDS.entries()) {
    const set = new Set<number>();
    for (const item of (parts[i] ?? '').split(',')) {
      const m = /^(\*|([0-9]+|[A-Za-z]{3})(?:-([0-9]+|[A-Za-z]{3}))?)(?:\/([0-9]+))?$/.exec(item);
      if (m === null) return `${field.name}: "${item}" is not a value, range, list or step`;
      const value = (text: string): number => {
        const named = (field.names as readonly string[]).indexOf(text.toUpperCase());
        return /^[0-9]+$/.test(text) ? Number(text) : named === -1 ? NaN : field.min + named;
      };
      const star = m[1] === '*';
      const from = star ? field.min : value(m[2] ?? '');
      const to = star ? field.max : m[3] === undefined ? from : value(m[3]);
      if (!star && m[3] === undefined && m[4] !== undefined) return `${field.name}: a step follows * or a range, not "${item}"`;
      if (Number.isNaN(from) || Number.isNaN(to) || from < field.min || to > field.max || from > to) {
        return `${field.name}: "${item}" is outside ${field.min}-${field.max}`;
      }
      const step = m[4] === undefined ? 1 : Number(m[4]);
      if (step < 1 || step > field.max) return `${field.name}: step ${m[4] ?? ''} is out of range`;
      for (let v = from; v <= to; v += step) set.add(i === 4 && v === 7 ? 0 : v);
    }
    sets.push(set);
  }
  const [minutes, hours, days, months, weekdays] = sets as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  return { minutes, hours, days, months, weekdays, daysRestricted: parts[2] !== '*', weekdaysRestricted: parts[4] !== '*' };
}

/** The wall-clock fields of `instant` in `zone`. */
const wallFormats = new Map<string, Intl.DateTimeFormat>();

function wallClock(zone: string, instant: number): { y: number; mo: number; d: number; h: number; mi: number } {
  let format = wallFormats.get(zone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' });
    wallFormats.set(zone, format);
  }
  const parts = format.formatToParts(new Date(instant));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return { y: get('year'), mo: get('month'), d: get('day'), h: get('hour'), mi: get('minute') };
}

/** The instant at which `zone`'s clocks show the given wall time, or undefined inside a daylight-saving gap. */
function instantOf(zone: string, y: number, mo: number, d: number, h: number, mi: number): number | undefined {
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  const offsetAt = (t: number) => {
    const w = wallClock(zone, t);
    return Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi) - (t - (((t % 60_000) + 60_000) % 60_000));
  };
  let t = wall - offsetAt(wall);
  t = wall - offsetAt(t);
  const back = wallClock(zone, t);
  return back.y === y && back.mo === mo && back.d === d && back.h === h && back.mi === mi ? t : undefined;
}

/** The first time after `after` at which `schedule` fires in `zone` (searching eight years: Feb 29 comes back). */
export function nextCronTime(schedule: string, zone: string, after: Date): Date | undefined {
  const spec = parseCron(schedule);
  if (typeof spec === 'string' || !isTimeZone(zone)) return undefined;
  const start = wallClock(zone, after.getTime());
  for (let day = 0; day < 8 * 366; day += 1) {
    const date = new Date(Date.UTC(start.y, start.mo - 1, start.d + day));
    const [mo, d, wd] = [date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCDay()];
    if (!spec.months.has(mo)) continue;
    const dayOk = spec.days.has(d);
    const weekdayOk = spec.weekdays.has(wd);
    if (!(spec.daysRestricted && spec.weekdaysRestricted ? dayOk || weekdayOk : dayOk && weekdayOk)) continue;
    for (const h of [...spec.hours].sort((a, b) => a - b)) {
      for (const mi of [...spec.minutes].sort((a, b) => a - b)) {
        const t = instantOf(zone, date.getUTCFullYear(), mo, d, h, mi);
        if (t !== undefined && t > after.getTime()) return new Date(t);
      }
    }
  }
  return undefined;
}
