import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { CloudSchedulerClient, protos } from '@google-cloud/scheduler';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RotatorError } from '../../shared/errors.js';
import {
  ROTATION_JOB_MARKER,
  cronAt,
  reconcileRotationJobs,
  rotationJobId,
  type JobAction,
  type JobTarget,
  type ReconcileOptions,
  type ReconcileReport,
  type RotationSchedule,
} from '../../stores/gcp/rotation-jobs.js';
import { createCloudSchedulerClient } from '../../stores/gcp/scheduler-client.js';
import { decodeFakeOidcToken, startCloudSchedulerFake, type CloudSchedulerFake, type SchedulerJobView } from '../fakes/gcp/cloud-scheduler.js';
import { Status } from '../fakes/gcp/grpc.js';

/** The per-secret job reconciler, through the real CloudSchedulerClient against the Cloud Scheduler fake. */

type Job = protos.google.cloud.scheduler.v1.IJob;

const NOW = new Date('2025-01-01T00:00:00Z');
const SA = 'rotator-scheduler@test-project.iam.gserviceaccount.com';
const TARGET: JobTarget = { projectId: 'test-project', location: 'europe-west1', rotateUrl: 'https://rotate-abc123-ew.a.run.app/', serviceAccountEmail: SA };
const PARENT = 'projects/test-project/locations/europe-west1';
const MUTATIONS = new Set(['CreateJob', 'UpdateJob', 'DeleteJob', 'PauseJob', 'ResumeJob', 'RunJob']);

interface Harness {
  fake: CloudSchedulerFake;
  client: CloudSchedulerClient;
  close(): Promise<void>;
}

async function harness(): Promise<Harness> {
  const fake = await startCloudSchedulerFake({ clock: () => NOW });
  const client = createCloudSchedulerClient({ testOnly: { port: fake.port, sslCreds: grpc.credentials.createInsecure() } });
  return {
    fake,
    client,
    close: async () => {
      await client.close();
      await fake.close();
    },
  };
}

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => {
  await h.close();
});

const at = (iso: string) => new Date(iso);
const reconcile = (schedules: RotationSchedule[], options: ReconcileOptions = {}, target: JobTarget = TARGET): Promise<ReconcileReport> =>
  reconcileRotationJobs(h.client, target, schedules, options);
const jobNamed = (id: string) => h.fake.jobs().find((j) => j.id === id);
const mutationsSince = (mark: number) => h.fake.calls.slice(mark).filter((c) => MUTATIONS.has(c.rpc));
const byAction = (report: ReconcileReport) => Object.fromEntries(report.outcomes.map((o) => [o.jobId, o.action]));

/** A job a person made: valid, in the rotator's location, not touched by the reconciler's own code. */
function personJob(id: string, description: string, extra: Job = {}): Job {
  return {
    name: `${PARENT}/jobs/${id}`,
    description,
    schedule: '0 3 * * *',
    timeZone: 'Europe/Paris',
    httpTarget: { uri: 'https://example.com/hook', httpMethod: 'GET' },
    ...extra,
  };
}

describe('the job of a secret', () => {
  it('POSTs {"secretId"} to the rotate function with an OIDC token, at the next rotation time (Etc/UTC, to the minute)', async () => {
    const report = await reconcile([{ secretId: 'app-db', nextRotationTime: at('2025-03-15T10:30:20Z'), rotationPeriodMs: 30 * 86_400_000 }]);
    expect(report.outcomes).toEqual([{ jobId: 'rotator-secret-app-db', secretId: 'app-db', action: 'created' }]);
    const job = jobNamed('rotator-secret-app-db');
    expect(job).toMatchObject({
      state: 'ENABLED',
      schedule: '31 10 15 3 *',
      timeZone: 'Etc/UTC',
      httpTarget: {
        uri: TARGET.rotateUrl,
        httpMethod: 'POST',
        headers: { 'Content-Type': 'application/json', 'User-Agent': 'Google-Cloud-Scheduler' },
        body: Buffer.from('{"secretId":"app-db"}'),
        oidcToken: { serviceAccountEmail: SA, audience: TARGET.rotateUrl },
      },
      retryConfig: { retryCount: 3, maxRetryDurationMs: 0, minBackoffDurationMs: 60_000, maxBackoffDurationMs: 600_000, maxDoublings: 2 },
      attemptDeadlineMs: 1_800_000,
    });
    // The fake reads the cron itself: the job fires at the due time rounded up to the minute, never before it.
    expect(job?.scheduleTime?.toISOString()).toBe('2025-03-15T10:31:00.000Z');
    expect(job?.description.startsWith(`${ROTATION_JOB_MARKER} `)).toBe(true);
    expect(job?.description).toContain('app-db');
  });

  it('fits the longest secret id (239 characters) within the service limits', async () => {
    const secretId = 's'.repeat(239);
    await reconcile([{ secretId, nextRotationTime: at('2025-02-01T00:00:00Z') }]);
    const job = jobNamed(rotationJobId(secretId));
    expect(job?.description.length).toBeLessThanOrEqual(500);
  });

  it('cronAt fires at the minute, rounding seconds up, across the year end', () => {
    expect(cronAt(at('2025-03-15T10:30:00Z'))).toBe('30 10 15 3 *');
    expect(cronAt(at('2025-03-15T10:30:00.001Z'))).toBe('31 10 15 3 *');
    expect(cronAt(at('2025-12-31T23:59:30Z'))).toBe('0 0 1 1 *');
    expect(cronAt(at('2028-02-29T00:00:00Z'))).toBe('0 0 29 2 *');
  });

  it('delivers a Force run to the rotate function: the body names the secret, the token the account and audience', async () => {
    const received: { body: string; authorization?: string }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ body: Buffer.concat(chunks).toString(), ...(req.headers.authorization === undefined ? {} : { authorization: req.headers.authorization }) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const rotateUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      await reconcile([{ secretId: 'app', nextRotationTime: at('2025-06-01T00:00:00Z') }], { testOnly: { allowLoopbackHttp: true } }, { ...TARGET, rotateUrl });
      await h.client.runJob({ name: `${PARENT}/jobs/rotator-secret-app` });
      await h.fake.idle();
      expect(received.map((r) => r.body)).toEqual(['{"secretId":"app"}']);
      expect(decodeFakeOidcToken(received[0]?.authorization)).toMatchObject({ email: SA, aud: rotateUrl });
      expect(jobNamed('rotator-secret-app')?.status?.code).toBe(Status.OK);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('reconciling', () => {
  const schedules: RotationSchedule[] = [
    { secretId: 'alpha', nextRotationTime: at('2025-02-01T08:00:00Z') },
    { secretId: 'beta', nextRotationTime: at('2025-03-01T09:15:00Z') },
    { secretId: 'gamma' },
  ];

  it('creates the missing jobs, skips a secret without a next rotation time, and changes nothing on a second run', async () => {
    const first = await reconcile(schedules);
    expect(byAction(first)).toEqual({ 'rotator-secret-alpha': 'created', 'rotator-secret-beta': 'created', 'rotator-secret-gamma': 'skipped' });
    expect(first.outcomes.find((o) => o.action === 'skipped')?.reason).toMatch(/no next rotation time/);
    const mark = h.fake.calls.length;
    const second = await reconcile(schedules);
    expect(second.counts).toMatchObject({ unchanged: 2, skipped: 1, created: 0, updated: 0, deleted: 0, failed: 0 });
    expect(mutationsSince(mark)).toEqual([]);
  });

  it('moves a job after a rotation advanced the next rotation time, updating only the schedule', async () => {
    await reconcile(schedules);
    const report = await reconcile([{ secretId: 'alpha', nextRotationTime: at('2025-03-03T08:00:00Z') }, ...schedules.slice(1)]);
    expect(report.outcomes.find((o) => o.jobId === 'rotator-secret-alpha')).toMatchObject({ action: 'updated', changed: ['schedule'] });
    expect(jobNamed('rotator-secret-alpha')?.scheduleTime?.toISOString()).toBe('2025-03-03T08:00:00.000Z');
  });

  it.each<[string, Job, string[]]>([
    ['the schedule', { schedule: '0 0 1 1 *' }, ['schedule']],
    ['the time zone', { timeZone: 'Europe/Paris' }, ['time_zone']],
    ['the description (marker kept)', { description: `${ROTATION_JOB_MARKER} edited by hand` }, ['description']],
    ['the uri', { httpTarget: { uri: 'https://old-rotate.a.run.app/', headers: { 'Content-Type': 'application/json' }, body: Buffer.from('{"secretId":"alpha"}'), oidcToken: { serviceAccountEmail: SA, audience: TARGET.rotateUrl } } }, ['http_target']],
    ['the body', { httpTarget: { uri: TARGET.rotateUrl, headers: { 'Content-Type': 'application/json' }, body: Buffer.from('{"secretId":"beta"}'), oidcToken: { serviceAccountEmail: SA, audience: TARGET.rotateUrl } } }, ['http_target']],
    ['an added header', { httpTarget: { uri: TARGET.rotateUrl, headers: { 'Content-Type': 'application/json', 'X-Extra': '1' }, body: Buffer.from('{"secretId":"alpha"}'), oidcToken: { serviceAccountEmail: SA, audience: TARGET.rotateUrl } } }, ['http_target']],
    ['the token account', { httpTarget: { uri: TARGET.rotateUrl, headers: { 'Content-Type': 'application/json' }, body: Buffer.from('{"secretId":"alpha"}'), oidcToken: { serviceAccountEmail: 'someone-else@test-project.iam.gserviceaccount.com', audience: TARGET.rotateUrl } } }, ['http_target']],
    ['the token audience', { httpTarget: { uri: TARGET.rotateUrl, headers: { 'Content-Type': 'application/json' }, body: Buffer.from('{"secretId":"alpha"}'), oidcToken: { serviceAccountEmail: SA, audience: 'https://other/' } } }, ['http_target']],
    ['an OAuth token instead', { httpTarget: { uri: TARGET.rotateUrl, headers: { 'Content-Type': 'application/json' }, body: Buffer.from('{"secretId":"alpha"}'), oauthToken: { serviceAccountEmail: SA } } }, ['http_target']],
    ['a Pub/Sub target instead', { pubsubTarget: { topicName: 'projects/test-project/topics/rotations', data: Buffer.from('x') } }, ['http_target']],
    ['the retries', { retryConfig: { retryCount: 0 } }, ['retry_config']],
    ['the deadline', { attemptDeadline: { seconds: 60 } }, ['attempt_deadline']],
  ])('repairs a drifted job (%s) with exactly that path in the mask', async (_, drift, paths) => {
    await reconcile(schedules);
    const mask = Object.keys(drift).map((k) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
    await h.client.updateJob({ job: { name: `${PARENT}/jobs/rotator-secret-alpha`, ...drift }, updateMask: { paths: [...new Set([...mask, ...(drift.pubsubTarget ? ['http_target'] : [])])] } });
    const report = await reconcile(schedules);
    expect(report.outcomes.find((o) => o.jobId === 'rotator-secret-alpha')).toMatchObject({ action: 'updated', changed: paths });
    const updates = h.fake.calls.filter((c) => c.rpc === 'UpdateJob');
    expect(updates).toHaveLength(2); // the drift and the repair
    expect((await reconcile(schedules)).counts.unchanged).toBe(2);
  });

  it('rewrites a job left UPDATE_FAILED whole, as the service asks', async () => {
    await reconcile(schedules);
    const good = jobNamed('rotator-secret-beta');
    await h.client.deleteJob({ name: `${PARENT}/jobs/rotator-secret-beta` });
    h.fake.put({ ...seedOf(good), state: 'UPDATE_FAILED' });
    const report = await reconcile(schedules);
    expect(report.outcomes.find((o) => o.jobId === 'rotator-secret-beta')).toMatchObject({ action: 'updated', changed: ['description', 'schedule', 'time_zone', 'http_target', 'retry_config', 'attempt_deadline'] });
  });

  it('deletes its jobs whose secret is gone, or has no next rotation time any more', async () => {
    await reconcile(schedules);
    const report = await reconcile([{ secretId: 'alpha' }]);
    expect(byAction(report)).toEqual({ 'rotator-secret-alpha': 'deleted', 'rotator-secret-beta': 'deleted' });
    expect(report.outcomes.find((o) => o.jobId === 'rotator-secret-alpha')?.reason).toMatch(/no next rotation time/);
    expect(report.outcomes.find((o) => o.jobId === 'rotator-secret-beta')?.reason).toMatch(/gone or no longer rotation-enabled/);
    expect(h.fake.jobs()).toEqual([]);
  });

  it('leaves foreign jobs alone: the prefix without the marker is reported, other jobs are not even mentioned', async () => {
    h.fake.put(personJob('rotator-secret-alpha', 'my own job'));
    h.fake.put(personJob('rotator-secret-legacy', ''));
    h.fake.put(personJob('nightly-backup', `${ROTATION_JOB_MARKER} but not our prefix`));
    const before = h.fake.jobs();
    const report = await reconcile(schedules);
    expect(byAction(report)).toEqual({ 'rotator-secret-alpha': 'foreign', 'rotator-secret-beta': 'created', 'rotator-secret-gamma': 'skipped', 'rotator-secret-legacy': 'foreign' });
    expect(report.outcomes.find((o) => o.jobId === 'rotator-secret-alpha')?.reason).toMatch(/id is taken/);
    for (const job of before) expect(jobNamed(job.id)).toEqual(job);
    expect(h.fake.calls.filter((c) => MUTATIONS.has(c.rpc)).map((c) => c.resource)).toEqual([PARENT]); // beta's create only
  });

  it('never resumes, updates or deletes a job a person paused', async () => {
    await reconcile(schedules);
    await h.client.updateJob({ job: { name: `${PARENT}/jobs/rotator-secret-alpha`, schedule: '0 0 1 1 *' }, updateMask: { paths: ['schedule'] } });
    await h.client.pauseJob({ name: `${PARENT}/jobs/rotator-secret-alpha` });
    await h.client.pauseJob({ name: `${PARENT}/jobs/rotator-secret-beta` });
    const before = h.fake.jobs();
    const mark = h.fake.calls.length;
    const report = await reconcile([{ secretId: 'alpha', nextRotationTime: at('2025-02-01T08:00:00Z') }]);
    expect(byAction(report)).toEqual({ 'rotator-secret-alpha': 'paused', 'rotator-secret-beta': 'paused' });
    expect(report.outcomes[0]?.reason).toMatch(/out of date/);
    expect(report.outcomes[1]?.reason).toMatch(/no longer scheduled/);
    expect(mutationsSince(mark)).toEqual([]);
    expect(h.fake.jobs()).toEqual(before);
  });

  it('pages through a location with many jobs', async () => {
    for (let i = 0; i < 620; i += 1) h.fake.put(personJob(`other-${String(i).padStart(3, '0')}`, 'someone else'));
    h.fake.put(personJob('zz-last', 'sorts after ours'));
    await reconcile(schedules);
    const mark = h.fake.calls.length;
    const report = await reconcile(schedules);
    expect(report.counts.unchanged).toBe(2);
    expect(h.fake.calls.slice(mark).filter((c) => c.rpc === 'ListJobs')).toHaveLength(2);
    expect(mutationsSince(mark)).toEqual([]);
  });

  it('dry run reports what it would do and changes nothing', async () => {
    await reconcile(schedules);
    await h.client.updateJob({ job: { name: `${PARENT}/jobs/rotator-secret-alpha`, timeZone: 'Europe/Paris' }, updateMask: { paths: ['time_zone'] } });
    const before = h.fake.jobs();
    const mark = h.fake.calls.length;
    const report = await reconcile([schedules[0] as RotationSchedule, { secretId: 'delta', nextRotationTime: at('2025-05-05T05:05:00Z') }], { dryRun: true });
    expect(report.dryRun).toBe(true);
    expect(report.outcomes).toEqual([
      { jobId: 'rotator-secret-alpha', secretId: 'alpha', action: 'updated', changed: ['time_zone'] },
      { jobId: 'rotator-secret-beta', secretId: 'beta', action: 'deleted', reason: 'its secret is gone or no longer rotation-enabled' },
      { jobId: 'rotator-secret-delta', secretId: 'delta', action: 'created' },
    ]);
    expect(h.fake.calls.slice(mark).map((c) => c.rpc)).toEqual(['ListJobs']);
    expect(h.fake.jobs()).toEqual(before);
  });
});

describe('failures', () => {
  const schedules: RotationSchedule[] = ['a', 'b', 'c'].map((secretId, i) => ({ secretId, nextRotationTime: at(`2025-0${i + 2}-01T00:00:00Z`) }));

  it('keeps going past a failed job, reports it typed, and converges on the next run', async () => {
    h.fake.failNext('CreateJob', Status.UNAVAILABLE);
    const report = await reconcile(schedules);
    expect(report.counts).toMatchObject({ created: 2, failed: 1 });
    const failed = report.outcomes.find((o) => o.action === 'failed');
    expect(failed).toMatchObject({ jobId: 'rotator-secret-a', secretId: 'a', reason: 'CreateJob failed', error: { code: 'STORE_IO', retryable: true } });
    expect(failed?.error?.message).toMatch(/Cloud Scheduler CreateJob on job rotator-secret-a failed/);
    const again = await reconcile(schedules);
    expect(again.counts).toMatchObject({ created: 1, unchanged: 2, failed: 0 });
  });

  it('names the permission a refused call needs, and does not call it retryable', async () => {
    await reconcile(schedules);
    await h.client.updateJob({ job: { name: `${PARENT}/jobs/rotator-secret-b`, description: `${ROTATION_JOB_MARKER} x` }, updateMask: { paths: ['description'] } });
    h.fake.failNext('UpdateJob', Status.PERMISSION_DENIED);
    const report = await reconcile(schedules.slice(0, 2));
    expect(report.outcomes.find((o) => o.jobId === 'rotator-secret-b')).toMatchObject({
      action: 'failed',
      changed: ['description'],
      error: { code: 'STORE_IO', retryable: false, message: expect.stringMatching(/needs cloudscheduler\.jobs\.update and iam\.serviceAccounts\.actAs/) as unknown },
    });
    expect(report.outcomes.find((o) => o.jobId === 'rotator-secret-c')?.action).toBe('deleted');
  });

  it('counts a job deleted by someone else meanwhile as deleted', async () => {
    await reconcile(schedules);
    h.fake.failNext('DeleteJob', Status.NOT_FOUND);
    const report = await reconcile([]);
    expect(report.counts).toMatchObject({ deleted: 3, failed: 0 });
  });

  it('maps a refused listing to a typed error and changes nothing', async () => {
    h.fake.failNext('ListJobs', Status.PERMISSION_DENIED);
    const error = await reconcile(schedules).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RotatorError);
    expect(error).toMatchObject({ code: 'STORE_IO', message: expect.stringMatching(/needs cloudscheduler\.jobs\.list/) as unknown });
    expect(h.fake.jobs()).toEqual([]);
  });

  it('an invalid-argument answer is INVALID_INPUT, with the service text quoted but control characters escaped', async () => {
    h.fake.failNext('CreateJob', Status.INVALID_ARGUMENT);
    const report = await reconcile(schedules.slice(0, 1));
    expect(report.outcomes[0]?.error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/rejected CreateJob on job rotator-secret-[a-z]+ \(INVALID_ARGUMENT\): injected failure of CreateJob/) as unknown });
  });

  it('stops at an abort: an aborted caller gets its own reason, and the jobs not reached are reported failed', async () => {
    const controller = new AbortController();
    controller.abort(new RotatorError('ROTATION_IN_PROGRESS', 'deadline near', { retryable: true }));
    await expect(reconcile(schedules, { signal: controller.signal })).rejects.toMatchObject({ code: 'ROTATION_IN_PROGRESS' });
    expect(h.fake.calls).toEqual([]);

    const midway = new AbortController();
    const client = h.client;
    const create = client.createJob.bind(client);
    // Aborts as soon as the first create has been sent, as a deadline would.
    const aborting = new Proxy(client, {
      get: (target, key, receiver) =>
        key === 'createJob'
          ? (...args: Parameters<typeof create>) => {
              const sent = create(...args);
              midway.abort();
              return sent;
            }
          : (Reflect.get(target, key, receiver) as unknown),
    });
    const report = await reconcileRotationJobs(aborting, TARGET, schedules, { signal: midway.signal });
    expect(report.outcomes.map((o) => o.action)).toEqual(['failed', 'failed', 'failed']);
    expect(report.outcomes[0]?.error).toMatchObject({ code: 'INTERNAL', retryable: true, message: expect.stringMatching(/aborted by its caller/) as unknown });
    // The client takes no signal: the create already sent still lands; the next run sees it as unchanged.
    await vi.waitFor(() => expect(h.fake.jobs()).toHaveLength(1));
    expect((await reconcile(schedules.slice(0, 1))).counts.unchanged).toBe(1);
  });
});

describe('hostile inputs', () => {
  const ok: RotationSchedule[] = [{ secretId: 'app', nextRotationTime: at('2025-02-01T00:00:00Z') }];
  it.each<[string, Partial<JobTarget>]>([
    ['an http rotate URL', { rotateUrl: 'http://rotate.example.com/' }],
    ['a loopback http URL without the test-only option', { rotateUrl: 'http://127.0.0.1:8080/' }],
    ['a rotate URL with a query', { rotateUrl: 'https://rotate.example.com/?token=abc' }],
    ['a rotate URL with a fragment', { rotateUrl: 'https://rotate.example.com/#x' }],
    ['a rotate URL with credentials', { rotateUrl: 'https://user:pw@rotate.example.com/' }],
    ['a rotate URL that is not canonical', { rotateUrl: 'https://ROTATE.example.com/a b' }],
    ['a rotate URL with a control character', { rotateUrl: 'https://rotate.example.com/\r\nx' }],
    ['a rotate URL of 2084 characters', { rotateUrl: `https://rotate.example.com/${'a'.repeat(2057)}` }],
    ['not a URL', { rotateUrl: 'rotate' }],
    ['an account of another project', { serviceAccountEmail: 'rotator-scheduler@other-project.iam.gserviceaccount.com' }],
    ['the default compute account', { serviceAccountEmail: '123456789-compute@developer.gserviceaccount.com' }],
    ['an account id too short', { serviceAccountEmail: 'abc@test-project.iam.gserviceaccount.com' }],
    ['a location with a slash', { location: 'europe-west1/jobs/x' }],
    ['a location with a space', { location: 'europe west1' }],
    ['an empty location', { location: '' }],
    ['an upper-case project', { projectId: 'Test-Project' }],
    ['a project id with a path', { projectId: 'test-project/locations/x' }],
  ])('refuses %s with INVALID_INPUT and makes no call', async (_, change) => {
    await expect(reconcile(ok, {}, { ...TARGET, ...change })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(h.fake.calls).toEqual([]);
  });

  it.each<[string, unknown]>([
    ['an empty secret id', [{ secretId: '', nextRotationTime: NOW }]],
    ['a secret id with a slash', [{ secretId: 'a/b', nextRotationTime: NOW }]],
    ['a secret id with CR LF', [{ secretId: 'a\r\nb', nextRotationTime: NOW }]],
    ['a secret id of 240 characters', [{ secretId: 'a'.repeat(240), nextRotationTime: NOW }]],
    ['a companion secret', [{ secretId: 'app-rotator-pending', nextRotationTime: NOW }]],
    ['a secret listed twice', [{ secretId: 'app', nextRotationTime: NOW }, { secretId: 'app' }]],
    ['an invalid date', [{ secretId: 'app', nextRotationTime: new Date('nope') }]],
    ['a date as text', [{ secretId: 'app', nextRotationTime: '2025-01-01T00:00:00Z' }]],
    ['a year past 9999', [{ secretId: 'app', nextRotationTime: new Date(Date.UTC(10_000, 0, 1)) }]],
    ['a null schedule', [null]],
    ['schedules that are not an array', { secretId: 'app' }],
  ])('refuses %s with INVALID_INPUT and makes no call', async (_, schedules) => {
    await expect(reconcile(schedules as RotationSchedule[])).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(h.fake.calls).toEqual([]);
  });

  it('accepts odd but valid secret ids such as __proto__ and constructor', async () => {
    const report = await reconcile([{ secretId: '__proto__', nextRotationTime: NOW }, { secretId: 'constructor', nextRotationTime: NOW }]);
    expect(report.counts.created).toBe(2);
    expect(jobNamed('rotator-secret-__proto__')?.httpTarget?.body.toString()).toBe('{"secretId":"__proto__"}');
  });

  it('ignores what a server should never list: a job outside the parent or with a malformed name', async () => {
    const listed: Job[] = [
      { name: 'projects/evil/locations/europe-west1/jobs/rotator-secret-x', description: ROTATION_JOB_MARKER },
      { name: `${PARENT}/jobs/rotator-secret-a/b`, description: ROTATION_JOB_MARKER },
      { name: `${PARENT}/jobs/rotator-secret-ok`, description: ROTATION_JOB_MARKER, state: 'ENABLED' },
    ];
    const lying = new Proxy(h.client, {
      get: (target, key, receiver) =>
        key === 'listJobsAsync'
          ? () =>
              (async function* () {
                yield* await Promise.resolve(listed);
              })()
          : (Reflect.get(target, key, receiver) as unknown),
    });
    const report = await reconcileRotationJobs(lying, TARGET, [], { dryRun: true });
    expect(report.outcomes).toEqual([{ jobId: 'rotator-secret-ok', secretId: 'ok', action: 'deleted', reason: 'its secret is gone or no longer rotation-enabled' }]);
  });
});

describe('createCloudSchedulerClient', () => {
  it('builds a production client for cloudscheduler.googleapis.com in googleapis.com, whatever the environment says', () => {
    const saved = process.env.GOOGLE_CLOUD_UNIVERSE_DOMAIN;
    process.env.GOOGLE_CLOUD_UNIVERSE_DOMAIN = 'attacker.example';
    try {
      const client = createCloudSchedulerClient();
      expect(client.universeDomain).toBe('googleapis.com');
      expect(client.apiEndpoint).toBe('cloudscheduler.googleapis.com');
    } finally {
      if (saved === undefined) delete process.env.GOOGLE_CLOUD_UNIVERSE_DOMAIN;
      else process.env.GOOGLE_CLOUD_UNIVERSE_DOMAIN = saved;
    }
  });

  it('refuses a test-only port that is not a port', () => {
    expect(() => createCloudSchedulerClient({ testOnly: { port: 0, sslCreds: grpc.credentials.createInsecure() } })).toThrow(/port must be an integer/);
  });
});

describe('convergence from random starting states (property-style)', () => {
  /** A small seeded PRNG (mulberry32), so a failing case can be replayed from its seed. */
  function random(seed: number): () => number {
    let a = seed;
    return () => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
  }

  const DRIFTS: Job[] = [
    { schedule: '0 0 1 1 *' },
    { timeZone: 'Europe/Paris' },
    { description: `${ROTATION_JOB_MARKER} stale` },
    { retryConfig: { retryCount: 1 } },
    { attemptDeadline: { seconds: 30 } },
    { httpTarget: { uri: 'https://old.example.com/', oidcToken: { serviceAccountEmail: SA } } },
  ];
  const pathOf = (drift: Job) => Object.keys(drift).map((k) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
  /** Every action the seeds' runs reported, so the last test can show the starting states were varied enough. */
  const seen = new Set<JobAction>();

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('seed %i', async (seed) => {
    const rnd = random(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)] as T;
    const secrets = Array.from({ length: 3 + Math.floor(rnd() * 10) }, (_, i) => `s${seed}-${i}`);
    const when = () => new Date(NOW.getTime() + Math.floor(rnd() * 300 * 86_400_000));
    const scheduleOf = (secretId: string): RotationSchedule => (rnd() < 0.8 ? { secretId, nextRotationTime: when() } : { secretId });

    // A state an earlier run left, then changed by time and people: new times, drift, pauses, deletions, foreign jobs.
    const earlier = secrets.filter(() => rnd() < 0.7).map(scheduleOf);
    await reconcile(earlier);
    for (const job of h.fake.jobs()) {
      const roll = rnd();
      const name = job.name;
      if (roll < 0.2) await h.client.deleteJob({ name });
      else if (roll < 0.45) {
        const drift = pick(DRIFTS);
        await h.client.updateJob({ job: { name, ...drift }, updateMask: { paths: pathOf(drift) } });
      } else if (roll < 0.6) await h.client.pauseJob({ name });
    }
    for (const secretId of secrets) {
      if (rnd() < 0.15 && jobNamed(rotationJobId(secretId)) === undefined) h.fake.put(personJob(rotationJobId(secretId), 'a person made this'));
    }
    h.fake.put(personJob('backup-nightly', 'unrelated'));
    h.fake.put(personJob(`rotator-secret-orphan${seed}`, `${ROTATION_JOB_MARKER} left by an old deployment`));
    // Some secrets keep the time they had (no rotation since), the others moved on or lost it.
    const kept = (secretId: string) => (rnd() < 0.5 ? earlier.find((e) => e.secretId === secretId) : undefined);
    const schedules = secrets.filter(() => rnd() < 0.75).map((secretId) => kept(secretId) ?? scheduleOf(secretId));
    const before = new Map(h.fake.jobs().map((j) => [j.id, j]));
    const untouchable = [...before.values()].filter((j) => j.state === 'PAUSED' || !j.description.startsWith(ROTATION_JOB_MARKER) || !j.id.startsWith('rotator-secret-'));

    const report = await reconcile(schedules);
    expect(report.counts.failed).toBe(0);
    for (const o of report.outcomes) seen.add(o.action);

    // What each scheduled secret's job must look like: what a run on an empty location makes.
    const reference = await harness();
    try {
      await reconcileRotationJobs(reference.client, TARGET, schedules);
      const wanted = new Map(reference.fake.jobs().map((j) => [j.id, j]));
      const comparable = (j: SchedulerJobView | undefined) => (j === undefined ? undefined : { ...j, userUpdateTime: undefined });
      for (const job of untouchable) expect(jobNamed(job.id), `${job.id} must stay as it was`).toEqual(job);
      for (const [id, want] of wanted) {
        if (untouchable.some((j) => j.id === id)) continue;
        expect(comparable(jobNamed(id)), `${id} must be the desired job`).toEqual(comparable(want));
      }
      for (const job of h.fake.jobs()) {
        expect(wanted.has(job.id) || untouchable.some((j) => j.id === job.id), `${job.id} must not be left over`).toBe(true);
      }
    } finally {
      await reference.close();
    }

    const mark = h.fake.calls.length;
    const again = await reconcile(schedules);
    expect(again.counts).toMatchObject({ created: 0, updated: 0, deleted: 0, failed: 0 });
    expect(mutationsSince(mark)).toEqual([]);
  });

  it('met every kind of job across the seeds', () => {
    expect([...seen].sort()).toEqual(['created', 'deleted', 'foreign', 'paused', 'skipped', 'unchanged', 'updated']);
  });
});

/** A job view turned back into what the client sends (for re-seeding a job in another state). */
function seedOf(view: SchedulerJobView | undefined): Job {
  if (view === undefined) throw new Error('no such job');
  return {
    name: view.name,
    description: view.description,
    schedule: view.schedule,
    timeZone: view.timeZone,
    ...(view.httpTarget === undefined ? {} : { httpTarget: { ...view.httpTarget } }),
    retryConfig: {
      retryCount: view.retryConfig.retryCount,
      maxRetryDuration: { seconds: view.retryConfig.maxRetryDurationMs / 1000 },
      minBackoffDuration: { seconds: view.retryConfig.minBackoffDurationMs / 1000 },
      maxBackoffDuration: { seconds: view.retryConfig.maxBackoffDurationMs / 1000 },
      maxDoublings: view.retryConfig.maxDoublings,
    },
    attemptDeadline: { seconds: view.attemptDeadlineMs / 1000 },
  };
}
