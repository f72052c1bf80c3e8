import type { CloudSchedulerClient } from '@google-cloud/scheduler';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import type { Command } from 'commander';
import { RotatorError } from '../../shared/errors.js';
import type { ReconcileReport } from '../../stores/gcp/index.js';
import type { CliIO, CliState } from '../context.js';
import { escapeControl } from '../format.js';

/** How the `gcp` commands reach Google; a test points them at the local fakes. Default: the real APIs, with ADC. */
export interface GoogleClients {
  secretManager(projectId: string): SecretManagerServiceClient;
  scheduler(): CloudSchedulerClient;
  /** Test-only: let the rotate URL be http on loopback (a local function). */
  allowLoopbackHttp?: boolean;
}

/** The Google clients and their gRPC stack load only when a command reaches Google, so other commands start as fast. */
const loadGoogle = () => import('../../stores/gcp/index.js');

/** The Google store module, and the clients to use: the test's, or the real APIs with Application Default Credentials. */
export async function googleClients(testClients: GoogleClients | undefined): Promise<{ google: Awaited<ReturnType<typeof loadGoogle>>; clients: GoogleClients }> {
  const google = await loadGoogle();
  const clients: GoogleClients = testClients ?? {
    secretManager: (projectId) => google.createSecretManagerClient({ projectId }),
    scheduler: () => google.createCloudSchedulerClient(),
  };
  return { google, clients };
}

interface ReconcileFlags {
  project: string;
  location: string;
  rotateUrl: string;
  serviceAccount: string;
  prefix?: string;
  dryRun?: boolean;
  json?: boolean;
}

/**
 * `rotator gcp reconcile-jobs`: the same reconciliation the `reconcileJobs` function runs on its schedule, from a
 * laptop or a pipeline (after attaching secrets, or to see what the function would change with --dry-run). It uses
 * Application Default Credentials (`gcloud auth application-default login`, or a service account).
 */
export function registerGcpCommands(program: Command, io: CliIO, state: CliState, testClients?: GoogleClients): void {
  const gcp = program.command('gcp').description('Google Cloud: operate the Secret Manager deployment');
  gcp
    .command('reconcile-jobs')
    .description('create, update and delete the per-secret Cloud Scheduler jobs (rotator-secret-<id>) from the secrets\' rotation settings')
    .requiredOption('--project <id>', 'the project whose secrets are rotated')
    .requiredOption('--location <region>', 'the Cloud Scheduler location, e.g. europe-west1')
    .requiredOption('--rotate-url <url>', 'the rotate function\'s URL (the jobs call it; it is the OIDC audience)')
    .requiredOption('--service-account <email>', 'the account whose OIDC token the jobs carry (it may invoke the rotate function)')
    .option('--prefix <prefix>', 'only secrets whose ids start with this')
    .option('--dry-run', 'print what would change, and change nothing')
    .option('--json', 'print the report as one JSON object')
    .addHelpText(
      'after',
      '\nOnly secrets labelled rotator-enabled=true with a rotation schedule get a job; jobs Rotator did not create are never touched,\n' +
        'and a job someone paused stays paused. Exit codes: 0 in line; 75 some job could not be changed (retry); 2 bad input.\n',
    )
    .action(async (flags: ReconcileFlags) => {
      state.json = flags.json === true;
      const { google, clients } = await googleClients(testClients);
      const { SecretManagerStore, reconcileRotationJobs } = google;
      const secretManager = clients.secretManager(flags.project);
      let scheduler: CloudSchedulerClient | undefined;
      try {
        scheduler = clients.scheduler();
        const store = new SecretManagerStore({ client: secretManager, projectId: flags.project, ...(flags.prefix === undefined ? {} : { namePrefix: flags.prefix }) });
        const report = await reconcileRotationJobs(
          scheduler,
          { projectId: flags.project, location: flags.location, rotateUrl: flags.rotateUrl, serviceAccountEmail: flags.serviceAccount },
          await store.rotationSchedules(),
          { dryRun: flags.dryRun === true, ...(clients.allowLoopbackHttp === true ? { testOnly: { allowLoopbackHttp: true } } : {}) },
        );
        io.stdout(state.json ? `${JSON.stringify(report)}\n` : formatReconcile(report));
        if (report.counts.failed > 0) {
          throw new RotatorError('STORE_IO', `${String(report.counts.failed)} job(s) could not be brought in line; see the report`, { retryable: true });
        }
      } finally {
        await Promise.allSettled([secretManager.close(), scheduler?.close()]);
      }
    });
}

function formatReconcile(report: ReconcileReport): string {
  const lines = [`${report.dryRun ? 'dry run: nothing is changed; ' : ''}jobs in ${report.parent}`];
  const width = Math.max(0, ...report.outcomes.map((o) => o.jobId.length));
  for (const o of report.outcomes) {
    const detail = o.error === undefined ? (o.changed === undefined ? (o.reason ?? '') : `changed ${o.changed.join(', ')}`) : `${o.error.code}: ${o.error.message}`;
    lines.push(`  ${o.jobId.padEnd(width)}  ${o.action}${detail === '' ? '' : `  ${detail}`}`);
  }
  const counts = Object.entries(report.counts)
    .filter(([, n]) => n > 0)
    .map(([action, n]) => `${String(n)} ${action}`);
  lines.push(counts.length === 0 ? 'no secret has a rotation schedule, and no job is Rotator\'s' : counts.join(', '));
  // Messages may quote what the service answered: printed escaped.
  return lines.map(escapeControl).join('\n') + '\n';
}
