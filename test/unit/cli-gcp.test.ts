import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GoogleClients } from '../../cli/commands/gcp.js';
import { createCloudSchedulerClient, createSecretManagerClient, createSeededSecretManagerSecret } from '../../stores/gcp/index.js';
import { startCloudSchedulerFake, type CloudSchedulerFake } from '../fakes/gcp/cloud-scheduler.js';
import { startSecretManagerFake, type SecretManagerFake } from '../fakes/gcp/secret-manager.js';
import { runRotator } from '../support/cli.js';

/**
 * `rotator gcp reconcile-jobs`: the reconciler from the command line, through the real Google clients against the
 * Secret Manager and Cloud Scheduler fakes (the command's `google` clients point there; nothing else differs).
 */
const PROJECT = 'rotator-cli';
const LOCATION = 'europe-west1';
const URL = 'https://rotate-abc-ew.a.run.app/';
const ACCOUNT = `rotator-scheduler@${PROJECT}.iam.gserviceaccount.com`;
const TOPIC = `projects/${PROJECT}/topics/rotator`;

let sm: SecretManagerFake;
let scheduler: CloudSchedulerFake;
let google: GoogleClients;

beforeEach(async () => {
  sm = await startSecretManagerFake({ project: PROJECT });
  scheduler = await startCloudSchedulerFake({ project: PROJECT, location: LOCATION });
  google = {
    secretManager: (projectId) => {
      const o = sm.clientOptions();
      return createSecretManagerClient({ projectId, testOnly: { apiEndpoint: String(o.apiEndpoint), port: Number(o.port), sslCreds: o.sslCreds, auth: o.auth } });
    },
    scheduler: () => createCloudSchedulerClient({ testOnly: { port: scheduler.port, sslCreds: grpc.credentials.createInsecure() } }),
  };
  const admin = google.secretManager(PROJECT);
  const next = new Date(Date.now() + 2 * 86_400_000);
  await createSeededSecretManagerSecret(admin, PROJECT, 'app-db', '{"engine":"postgres","username":"u","password":"cli-gcp-not-a-real-password"}', {
    rotation: { periodSeconds: 30 * 86_400, next },
    topics: [TOPIC],
  });
  await createSeededSecretManagerSecret(admin, PROJECT, 'app-unscheduled', '{"password":"cli-gcp-other-not-real"}');
  await admin.close();
});

afterEach(async () => {
  await sm.close();
  await scheduler.close();
});

const args = (...extra: string[]): string[] => ['gcp', 'reconcile-jobs', '--project', PROJECT, '--location', LOCATION, '--rotate-url', URL, '--service-account', ACCOUNT, ...extra];

describe('rotator gcp reconcile-jobs', () => {
  it('creates one job per scheduled secret, and a second run changes nothing', async () => {
    const first = await runRotator({}, args(), '', { google });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/rotator-secret-app-db\s+created/);
    expect(first.stdout).toMatch(/1 created/);
    expect(scheduler.jobs().map((j) => j.name.split('/').pop())).toEqual(['rotator-secret-app-db']);
    const second = await runRotator({}, args('--json'), '', { google });
    expect(second.code).toBe(0);
    const report = JSON.parse(second.stdout) as { counts: Record<string, number> };
    expect(report.counts).toMatchObject({ created: 0, unchanged: 1, failed: 0 });
  });

  it('--dry-run reports and changes nothing', async () => {
    const run = await runRotator({}, args('--dry-run'), '', { google });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^dry run: nothing is changed/);
    expect(scheduler.jobs()).toEqual([]);
  });

  it('a job the service refuses makes exit code 75 and names it; the rest is done', async () => {
    scheduler.failNext('CreateJob', grpc.status.UNAVAILABLE, 10);
    const run = await runRotator({}, args(), '', { google });
    expect(run.code).toBe(75);
    expect(run.stdout).toMatch(/rotator-secret-app-db\s+failed/);
    expect(run.stderr).toMatch(/STORE_IO: 1 job\(s\) could not be brought in line/);
  });

  it.each([
    ['a rotate URL that is not https', ['--rotate-url', 'http://rotate.example.com/']],
    ['a service account of another shape', ['--service-account', 'someone@gmail.com']],
    ['a project id outside the grammar', ['--project', 'Bad_Project']],
  ])('refuses %s with exit code 2 before any job call', async (_what, override) => {
    const base = args();
    const flag = override[0] as string;
    base[base.indexOf(flag) + 1] = override[1] as string;
    const run = await runRotator({}, base, '', { google });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/INVALID_INPUT/);
    expect(scheduler.calls.filter((c) => c.rpc !== 'ListJobs')).toEqual([]);
  });

  it('names the missing options', async () => {
    const run = await runRotator({}, ['gcp', 'reconcile-jobs', '--project', PROJECT], '', { google });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--location/);
  });
});
