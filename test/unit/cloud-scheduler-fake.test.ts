import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudSchedulerClient, type protos } from '@google-cloud/scheduler';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeFakeOidcToken, nextCronTime, parseCron, startCloudSchedulerFake, type CloudSchedulerFake, type SchedulerHttpRequest } from '../fakes/gcp/cloud-scheduler.js';
import { Status } from '../fakes/gcp/grpc.js';

/** The fake's own behaviour, through the real CloudSchedulerClient over gRPC. */

type Job = protos.google.cloud.scheduler.v1.IJob;

const SA = 'rotator-scheduler@test-project.iam.gserviceaccount.com';
let now = new Date('2025-01-01T00:00:00Z');
let fake: CloudSchedulerFake;
let client: CloudSchedulerClient;
let delivered: SchedulerHttpRequest[];

beforeEach(async () => {
  now = new Date('2025-01-01T00:00:00Z');
  delivered = [];
  fake = await startCloudSchedulerFake({ clock: () => now });
  client = new CloudSchedulerClient(fake.clientOptions());
});

afterEach(async () => {
  await client.close();
  await fake.close();
});

const PARENT = 'projects/test-project/locations/europe-west1';
const nameOf = (id: string) => `${PARENT}/jobs/${id}`;

function httpJob(id: string, overrides: Job = {}): Job {
  return {
    name: nameOf(id),
    description: 'a job',
    schedule: '30 10 15 3 *',
    timeZone: 'Etc/UTC',
    httpTarget: {
      uri: 'https://rotate-abc-ew.a.run.app/',
      httpMethod: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: Buffer.from('{"secretId":"app"}'),
      oidcToken: { serviceAccountEmail: SA, audience: 'https://rotate-abc-ew.a.run.app/' },
    },
    attemptDeadline: { seconds: 1800 },
    ...overrides,
  };
}

const create = (job: Job) => client.createJob({ parent: fake.parent, job });
const codeOf = async (promise: Promise<unknown>): Promise<number | undefined> =>
  promise.then(
    () => undefined,
    (error: unknown) => (error as { code?: number }).code,
  );

describe('CreateJob and GetJob', () => {
  it('stores the job, fills the service defaults and output-only fields, and returns it on Get', async () => {
    const [created] = await create(httpJob('a', { retryConfig: { retryCount: 3 } }));
    expect(created.state).toBe('ENABLED');
    expect(Number(created.userUpdateTime?.seconds)).toBe(now.getTime() / 1000);
    expect(Number(created.scheduleTime?.seconds) * 1000).toBe(Date.parse('2025-03-15T10:30:00Z'));
    expect(created.retryConfig).toMatchObject({ retryCount: 3, minBackoffDuration: { seconds: '5' }, maxBackoffDuration: { seconds: '3600' }, maxDoublings: 5 });
    expect(created.attemptDeadline?.seconds).toBe('1800');
    const [got] = await client.getJob({ name: nameOf('a') });
    expect(got.httpTarget?.oidcToken).toEqual({ serviceAccountEmail: SA, audience: 'https://rotate-abc-ew.a.run.app/' });
    expect(Buffer.from(got.httpTarget?.body ?? '').toString()).toBe('{"secretId":"app"}');
  });

  it('defaults the attempt deadline to 3 minutes and the method to POST', async () => {
    const job = httpJob('a');
    delete job.attemptDeadline;
    if (job.httpTarget) job.httpTarget.httpMethod = 'HTTP_METHOD_UNSPECIFIED';
    const [created] = await create(job);
    expect(created.attemptDeadline?.seconds).toBe('180');
    expect(created.httpTarget?.httpMethod).toBe('POST');
  });

  it('ignores output-only fields on input', async () => {
    const [created] = await create(httpJob('a', { state: 'PAUSED', userUpdateTime: { seconds: 1 }, lastAttemptTime: { seconds: 2 }, status: { code: 5, message: 'x' } }));
    expect(created.state).toBe('ENABLED');
    expect(Number(created.userUpdateTime?.seconds)).toBe(now.getTime() / 1000);
    expect(created.lastAttemptTime).toBeNull();
    expect(created.status).toBeNull();
  });

  it('shows the headers the service manages: its User-Agent, a default Content-Type for a body, no Host or X-Google-*', async () => {
    const job = httpJob('a');
    if (job.httpTarget) job.httpTarget.headers = { Host: 'evil.example', 'X-Google-Foo': '1', 'User-Agent': 'mine', 'X-Mine': 'kept' };
    const [created] = await create(job);
    expect(created.httpTarget?.headers).toEqual({ 'User-Agent': 'Google-Cloud-Scheduler', 'X-Mine': 'kept', 'Content-Type': 'application/octet-stream' });
  });

  it('generates an id under the parent when the job has no name', async () => {
    const job = httpJob('x');
    delete job.name;
    const [created] = await create(job);
    expect(created.name).toMatch(new RegExp(`^${fake.parent}/jobs/[0-9a-f]{24}$`));
  });

  it('refuses a second job with the same name (ALREADY_EXISTS), and unknown names (NOT_FOUND)', async () => {
    await create(httpJob('a'));
    expect(await codeOf(create(httpJob('a')))).toBe(Status.ALREADY_EXISTS);
    expect(await codeOf(client.getJob({ name: nameOf('b') }))).toBe(Status.NOT_FOUND);
    expect(await codeOf(client.deleteJob({ name: nameOf('b') }))).toBe(Status.NOT_FOUND);
    expect(await codeOf(client.updateJob({ job: httpJob('b') }))).toBe(Status.NOT_FOUND);
    expect(await codeOf(client.runJob({ name: nameOf('b') }))).toBe(Status.NOT_FOUND);
  });

  it.each([
    ['an id with a dot', 'projects/test-project/locations/europe-west1/jobs/a.b', Status.INVALID_ARGUMENT],
    ['an id of 501 characters', `projects/test-project/locations/europe-west1/jobs/${'a'.repeat(501)}`, Status.INVALID_ARGUMENT],
    ['a name outside the parent', 'projects/test-project/locations/europe-west1/other/a', Status.INVALID_ARGUMENT],
    ['another project', 'projects/other-project/locations/europe-west1/jobs/a', Status.PERMISSION_DENIED],
    ['another location', 'projects/test-project/locations/us-central1/jobs/a', Status.INVALID_ARGUMENT],
  ])('refuses %s', async (_, name, code) => {
    expect(await codeOf(client.getJob({ name }))).toBe(code);
    expect(await codeOf(create(httpJob('a', { name })))).toBe(code);
  });

  it('accepts an id of 500 characters, and refuses a job named under another parent than the request', async () => {
    await create(httpJob('a'.repeat(500)));
    const [other] = await Promise.all([codeOf(client.createJob({ parent: 'projects/test-project/locations/us-central1', job: httpJob('b') }))]);
    expect(other).toBe(Status.INVALID_ARGUMENT);
  });
});

describe('job validation', () => {
  const target = httpJob('x').httpTarget ?? {};
  it.each<[string, Job]>([
    ['a description of 501 characters', { description: 'd'.repeat(501) }],
    ['no schedule', { schedule: '' }],
    ['a schedule of 4 fields', { schedule: '* * * *' }],
    ['minute 60', { schedule: '60 * * * *' }],
    ['hour 24', { schedule: '* 24 * * *' }],
    ['day 0', { schedule: '* * 0 * *' }],
    ['month 13', { schedule: '* * * 13 *' }],
    ['weekday 8', { schedule: '* * * * 8' }],
    ['a reversed range', { schedule: '5-1 * * * *' }],
    ['step 0', { schedule: '*/0 * * * *' }],
    ['a step after a single value', { schedule: '5/2 * * * *' }],
    ['an English-like schedule', { schedule: 'every 5 minutes' }],
    ['no time zone', { timeZone: '' }],
    ['an unknown time zone', { timeZone: 'Mars/Olympus_Mons' }],
    ['no target', { httpTarget: null }],
    ['a uri that is not http(s)', { httpTarget: { ...target, uri: 'ftp://example.com/' } }],
    ['a uri of 2084 characters', { httpTarget: { ...target, uri: `https://example.com/${'a'.repeat(2064)}` } }],
    ['a body with GET', { httpTarget: { ...target, httpMethod: 'GET' } }],
    ['both an OIDC and an OAuth token', { httpTarget: { ...target, oauthToken: { serviceAccountEmail: SA } } }],
    ['an account of another project', { httpTarget: { ...target, oidcToken: { serviceAccountEmail: 'sa-name@other-project.iam.gserviceaccount.com' } } }],
    ['repeated headers', { httpTarget: { ...target, headers: { 'x-a': '1', 'X-A': '2' } } }],
    ['a header value with CR LF', { httpTarget: { ...target, headers: { 'X-A': 'a\r\nInjected: 1' } } }],
    ['a deadline of 14 s', { attemptDeadline: { seconds: 14 } }],
    ['a deadline of 30 min 1 s', { attemptDeadline: { seconds: 1801 } }],
    ['retry count 6', { retryConfig: { retryCount: 6 } }],
    ['min backoff above max backoff', { retryConfig: { minBackoffDuration: { seconds: 100 }, maxBackoffDuration: { seconds: 10 } } }],
    ['an App Engine target', { httpTarget: null, appEngineHttpTarget: { relativeUri: '/x' } }],
    ['a Pub/Sub topic of another project', { httpTarget: null, pubsubTarget: { topicName: 'projects/other/topics/t', data: Buffer.from('x') } }],
    ['an empty Pub/Sub message', { httpTarget: null, pubsubTarget: { topicName: 'projects/test-project/topics/rotations' } }],
  ])('refuses %s with INVALID_ARGUMENT and stores nothing', async (_, overrides) => {
    expect(await codeOf(create(httpJob('a', overrides)))).toBe(Status.INVALID_ARGUMENT);
    expect(fake.jobs()).toEqual([]);
  });

  it.each(['*/15 0-23/2 1,15 JAN-MAR MON-FRI', '0 0 * * 7', '59 23 31 12 sun', '0 9 * * 1'])('accepts the schedule %s', async (schedule) => {
    await create(httpJob('a', { schedule }));
    expect(fake.jobs()[0]?.schedule).toBe(schedule);
  });

  it('accepts the limits themselves: 500-character description, 15 s and 30 min deadlines, 5 retries, a 2083-character uri', async () => {
    await create(httpJob('a', { description: 'd'.repeat(500), attemptDeadline: { seconds: 15 }, retryConfig: { retryCount: 5 } }));
    await create(httpJob('b', { attemptDeadline: { seconds: 1800 }, httpTarget: { ...target, uri: `https://example.com/${'a'.repeat(2063)}` } }));
    expect(fake.jobs().map((j) => j.id)).toEqual(['a', 'b']);
  });

  it('keeps a Pub/Sub job, and an OAuth token with the default scope', async () => {
    await create(httpJob('p', { httpTarget: null, pubsubTarget: { topicName: 'projects/test-project/topics/rotations', attributes: { a: 'b' } } }));
    await create(httpJob('o', { httpTarget: { uri: 'https://example.com/', oauthToken: { serviceAccountEmail: SA } } }));
    const [o, p] = fake.jobs();
    expect(p?.pubsubTarget?.attributes).toEqual({ a: 'b' });
    expect(o?.httpTarget?.oauthToken).toEqual({ serviceAccountEmail: SA, scope: 'https://www.googleapis.com/auth/cloud-platform' });
  });
});

describe('UpdateJob', () => {
  beforeEach(async () => {
    await create(httpJob('a'));
  });

  it('applies only the paths in the update mask', async () => {
    now = new Date('2025-01-02T00:00:00Z');
    const [updated] = await client.updateJob({ job: { name: nameOf('a'), schedule: '0 1 * * *', description: 'ignored' }, updateMask: { paths: ['schedule'] } });
    expect(updated.schedule).toBe('0 1 * * *');
    expect(updated.description).toBe('a job');
    expect(Number(updated.userUpdateTime?.seconds) * 1000).toBe(now.getTime());
    expect(Number(updated.scheduleTime?.seconds) * 1000).toBe(Date.parse('2025-01-02T01:00:00Z'));
  });

  it('clears a masked field the request leaves out, and ignores masked output-only fields', async () => {
    const [updated] = await client.updateJob({ job: { name: nameOf('a'), state: 'PAUSED' }, updateMask: { paths: ['description', 'state'] } });
    expect(updated.description).toBe('');
    expect(updated.state).toBe('ENABLED');
  });

  it('applies every field the request carries when there is no mask', async () => {
    await client.updateJob({ job: { name: nameOf('a'), description: 'new', attemptDeadline: { seconds: 60 } } });
    const [job] = fake.jobs();
    expect(job?.description).toBe('new');
    expect(job?.attemptDeadlineMs).toBe(60_000);
    expect(job?.schedule).toBe('30 10 15 3 *');
  });

  it('replaces the whole HTTP target under http_target', async () => {
    await client.updateJob({ job: { name: nameOf('a'), httpTarget: { uri: 'https://other.example/', oidcToken: { serviceAccountEmail: SA } } }, updateMask: { paths: ['http_target'] } });
    expect(fake.jobs()[0]?.httpTarget).toEqual({ uri: 'https://other.example/', httpMethod: 'POST', headers: { 'User-Agent': 'Google-Cloud-Scheduler' }, body: Buffer.alloc(0), oidcToken: { serviceAccountEmail: SA } });
  });

  it.each([
    [['pubsub_target', 'http_target']],
    [['http_target', 'pubsub_target']],
  ])('switches the target kind with both target paths in the mask (%j)', async (paths) => {
    await client.updateJob({ job: { name: nameOf('a'), pubsubTarget: { topicName: 'projects/test-project/topics/rotations', data: Buffer.from('x') } }, updateMask: { paths } });
    const [job] = fake.jobs();
    expect(job?.httpTarget).toBeUndefined();
    expect(job?.pubsubTarget?.topicName).toBe('projects/test-project/topics/rotations');
  });

  it.each([
    ['an unknown path', ['foo']],
    ['a camelCase path', ['timeZone']],
    ['a nested path', ['http_target.uri']],
  ])('refuses %s', async (_, paths) => {
    expect(await codeOf(client.updateJob({ job: { name: nameOf('a'), timeZone: 'Europe/Paris' }, updateMask: { paths } }))).toBe(Status.INVALID_ARGUMENT);
  });

  it('validates the result whole and changes nothing when it is invalid', async () => {
    const before = fake.jobs();
    expect(await codeOf(client.updateJob({ job: { name: nameOf('a'), schedule: '99 * * * *' }, updateMask: { paths: ['schedule'] } }))).toBe(Status.INVALID_ARGUMENT);
    expect(await codeOf(client.updateJob({ job: { name: nameOf('a') }, updateMask: { paths: ['http_target'] } }))).toBe(Status.INVALID_ARGUMENT);
    expect(fake.jobs()).toEqual(before);
  });

  it('keeps a paused job paused', async () => {
    await client.pauseJob({ name: nameOf('a') });
    const [updated] = await client.updateJob({ job: { name: nameOf('a'), schedule: '0 1 * * *' }, updateMask: { paths: ['schedule'] } });
    expect(updated.state).toBe('PAUSED');
  });
});

describe('ListJobs', () => {
  it('pages through every job in name order, 500 per page by default', async () => {
    for (let i = 0; i < 1203; i += 1) fake.put(httpJob(`job-${String(i).padStart(4, '0')}`));
    const names: string[] = [];
    for await (const job of client.listJobsAsync({ parent: fake.parent }, { autoPaginate: false })) names.push(job.name ?? '');
    expect(names).toHaveLength(1203);
    expect(names).toEqual([...names].sort());
    expect(fake.calls.filter((c) => c.rpc === 'ListJobs')).toHaveLength(3);
  });

  it('neither repeats nor skips a job when others are deleted between pages', async () => {
    for (const id of ['a', 'b', 'c', 'd', 'e']) fake.put(httpJob(id));
    const [first, , response] = await client.listJobs({ parent: fake.parent, pageSize: 2 }, { autoPaginate: false });
    expect(first.map((j) => j.name)).toEqual([nameOf('a'), nameOf('b')]);
    await client.deleteJob({ name: nameOf('b') });
    await client.deleteJob({ name: nameOf('c') });
    const [second] = await client.listJobs({ parent: fake.parent, pageSize: 2, pageToken: response.nextPageToken ?? '' }, { autoPaginate: false });
    expect(second.map((j) => j.name)).toEqual([nameOf('d'), nameOf('e')]);
  });

  it('refuses a page size above 500 and a page token it did not issue', async () => {
    expect(await codeOf(client.listJobs({ parent: fake.parent, pageSize: 501 }, { autoPaginate: false }))).toBe(Status.INVALID_ARGUMENT);
    expect(await codeOf(client.listJobs({ parent: fake.parent, pageToken: 'forged' }, { autoPaginate: false }))).toBe(Status.INVALID_ARGUMENT);
  });
});

describe('PauseJob and ResumeJob', () => {
  it('pause needs ENABLED and resume needs PAUSED; a paused job has no next schedule time', async () => {
    await create(httpJob('a'));
    const [paused] = await client.pauseJob({ name: nameOf('a') });
    expect(paused.state).toBe('PAUSED');
    expect(paused.scheduleTime).toBeNull();
    expect(await codeOf(client.pauseJob({ name: nameOf('a') }))).toBe(Status.FAILED_PRECONDITION);
    const [resumed] = await client.resumeJob({ name: nameOf('a') });
    expect(resumed.state).toBe('ENABLED');
    expect(resumed.scheduleTime).not.toBeNull();
    expect(await codeOf(client.resumeJob({ name: nameOf('a') }))).toBe(Status.FAILED_PRECONDITION);
  });
});

describe('RunJob (Force run)', () => {
  async function withServer(status: number, run: (uri: string, received: { req: IncomingMessage; body: string }[]) => Promise<void>): Promise<void> {
    const received: { req: IncomingMessage; body: string }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ req, body: Buffer.concat(chunks).toString() });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}/rotate`, received);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  it('POSTs the job to a loopback uri with its headers, body, the scheduler headers and an OIDC token', async () => {
    await withServer(200, async (uri, received) => {
      await create(httpJob('rotator-secret-app', { httpTarget: { uri, headers: { 'Content-Type': 'application/json' }, body: Buffer.from('{"secretId":"app"}'), oidcToken: { serviceAccountEmail: SA, audience: uri } } }));
      now = new Date('2025-01-05T00:00:00Z');
      const [ran] = await client.runJob({ name: nameOf('rotator-secret-app') });
      expect(Number(ran.lastAttemptTime?.seconds) * 1000).toBe(now.getTime());
      await fake.idle();
      const [{ req, body } = { req: undefined, body: '' }] = received;
      expect(req?.method).toBe('POST');
      expect(body).toBe('{"secretId":"app"}');
      expect(req?.headers['content-type']).toBe('application/json');
      expect(req?.headers['user-agent']).toBe('Google-Cloud-Scheduler');
      expect(req?.headers['x-cloudscheduler']).toBe('true');
      expect(req?.headers['x-cloudscheduler-jobname']).toBe('rotator-secret-app');
      expect(decodeFakeOidcToken(req?.headers.authorization)).toEqual({ email: SA, aud: uri, iss: 'https://accounts.google.com' });
      expect(fake.deliveries).toMatchObject([{ jobName: nameOf('rotator-secret-app'), status: 200, oidc: { serviceAccountEmail: SA, audience: uri } }]);
      const [got] = await client.getJob({ name: nameOf('rotator-secret-app') });
      expect(got.status?.code).toBe(Status.OK);
    });
  });

  it('records a failing answer in the job status, and uses the uri as the audience when none is set', async () => {
    await withServer(500, async (uri, received) => {
      await create(httpJob('a', { httpTarget: { uri, oidcToken: { serviceAccountEmail: SA }, headers: { Authorization: 'Bearer mine' } } }));
      await client.runJob({ name: nameOf('a') });
      await fake.idle();
      expect(decodeFakeOidcToken(received[0]?.req.headers.authorization)?.aud).toBe(uri);
      expect(fake.deliveries[0]?.status).toBe(500);
      expect(fake.jobs()[0]?.status?.code).toBe(Status.INTERNAL);
    });
  });

  it('hands the request to `deliver` when the test gives one', async () => {
    await fake.close();
    await client.close();
    fake = await startCloudSchedulerFake({
      clock: () => now,
      deliver: (request) => {
        delivered.push(request);
        return 404;
      },
    });
    client = new CloudSchedulerClient(fake.clientOptions());
    await create(httpJob('a'));
    await client.runJob({ name: nameOf('a') });
    await fake.idle();
    expect(delivered).toMatchObject([{ uri: 'https://rotate-abc-ew.a.run.app/', method: 'POST', body: Buffer.from('{"secretId":"app"}') }]);
    expect(fake.jobs()[0]?.status?.code).toBe(Status.NOT_FOUND);
  });

  it('never contacts a uri off loopback: the attempt is UNAVAILABLE', async () => {
    await create(httpJob('a'));
    await client.runJob({ name: nameOf('a') });
    await fake.idle();
    expect(fake.deliveries[0]?.status).toBeUndefined();
    expect(fake.deliveries[0]?.error).toMatch(/only to http:\/\/127\.0\.0\.1/);
    expect(fake.jobs()[0]?.status?.code).toBe(Status.UNAVAILABLE);
  });

  it('runs a paused job too (Force run), and a Pub/Sub job only gets its attempt stamped', async () => {
    fake.put({ ...httpJob('p', { httpTarget: null, pubsubTarget: { topicName: 'projects/test-project/topics/rotations', data: Buffer.from('x') } }), state: 'PAUSED' });
    const [ran] = await client.runJob({ name: nameOf('p') });
    expect(ran.status?.code).toBe(Status.OK);
    expect(fake.deliveries).toEqual([]);
  });
});

describe('test controls', () => {
  it('failNext fails the next calls of one RPC with the code, then lets them through; calls are recorded', async () => {
    fake.failNext('CreateJob', Status.PERMISSION_DENIED, 2);
    expect(await codeOf(create(httpJob('a')))).toBe(Status.PERMISSION_DENIED);
    expect(await codeOf(create(httpJob('a')))).toBe(Status.PERMISSION_DENIED);
    await create(httpJob('a'));
    expect(fake.calls.map((c) => [c.rpc, c.resource, c.status])).toEqual([
      ['CreateJob', fake.parent, Status.PERMISSION_DENIED],
      ['CreateJob', fake.parent, Status.PERMISSION_DENIED],
      ['CreateJob', fake.parent, Status.OK],
    ]);
  });

  it('put seeds a valid job in a chosen state without a call; jobs() returns copies', async () => {
    fake.put({ ...httpJob('a'), state: 'PAUSED' });
    expect(() => fake.put(httpJob('b', { schedule: 'nope' }))).toThrow(/unix-cron/);
    expect(fake.calls).toEqual([]);
    const [view] = fake.jobs();
    expect(view?.state).toBe('PAUSED');
    if (view?.httpTarget) view.httpTarget.uri = 'https://changed.example/';
    expect(fake.jobs()[0]?.httpTarget?.uri).toBe('https://rotate-abc-ew.a.run.app/');
    const [got] = await client.getJob({ name: nameOf('a') });
    expect(got.state).toBe('PAUSED');
  });
});

describe('unix-cron', () => {
  it('parses names, lists, ranges and steps, folding weekday 7 into Sunday', () => {
    const spec = parseCron('0,30 */6 1-3 FEB-APR/2 5-7');
    expect(typeof spec).toBe('object');
    if (typeof spec === 'string') return;
    expect([...spec.minutes]).toEqual([0, 30]);
    expect([...spec.hours]).toEqual([0, 6, 12, 18]);
    expect([...spec.months]).toEqual([2, 4]);
    expect([...spec.weekdays].sort()).toEqual([0, 5, 6]);
  });

  it('finds the next time in UTC, across years, and on the next Feb 29', () => {
    const after = new Date('2025-06-01T12:00:00Z');
    expect(nextCronTime('30 10 15 3 *', 'Etc/UTC', after)?.toISOString()).toBe('2026-03-15T10:30:00.000Z');
    expect(nextCronTime('0 0 29 2 *', 'Etc/UTC', after)?.toISOString()).toBe('2028-02-29T00:00:00.000Z');
    expect(nextCronTime('0 0 31 2 *', 'Etc/UTC', after)).toBeUndefined();
  });

  it('reads the schedule in the job time zone, skipping a wall time a daylight-saving gap removes', () => {
    expect(nextCronTime('0 9 * * *', 'Europe/Berlin', new Date('2025-01-10T00:00:00Z'))?.toISOString()).toBe('2025-01-10T08:00:00.000Z');
    // 02:30 does not exist in Berlin on 2025-03-30 (clocks jump from 02:00 to 03:00).
    expect(nextCronTime('30 2 * * *', 'Europe/Berlin', new Date('2025-03-29T12:00:00Z'))?.toISOString()).toBe('2025-03-31T00:30:00.000Z');
  });

  it('fires when either restricted day field matches', () => {
    // The 1st of the month or any Saturday: after Fri 2025-01-03 comes Sat 2025-01-04.
    expect(nextCronTime('0 0 1 * SAT', 'Etc/UTC', new Date('2025-01-03T00:00:00Z'))?.toISOString()).toBe('2025-01-04T00:00:00.000Z');
    // Only the 1st when the weekday is unrestricted.
    expect(nextCronTime('0 0 1 * *', 'Etc/UTC', new Date('2025-01-03T00:00:00Z'))?.toISOString()).toBe('2025-02-01T00:00:00.000Z');
  });
});
