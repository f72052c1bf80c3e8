import * as functions from '@google-cloud/functions-framework';
import { createRotators } from '../../rotators/index.js';
import { createWebhookAlerter } from '../../shared/alerts.js';
import { installCrashRedaction } from '../../shared/crash.js';
import { Redactor } from '../../shared/redact.js';
import { createCloudSchedulerClient, createSecretManagerClient, reconcileRotationJobs, SecretManagerStore } from '../../stores/gcp/index.js';
import { createGcpHandlers } from './handlers.js';
import { createCloudLogger, stdoutLines } from './logger.js';
import { registerGcpFunctions } from './register.js';
import { loadGcpSettings } from './settings.js';

/**
 * The module the Functions Framework loads on Cloud Run functions (infra/gcp sets GOOGLE_FUNCTION_SOURCE to its
 * build, dist/functions/gcp/index.js): it registers the four functions. Nothing here makes a network call or reads a
 * setting at load; the settings are read and validated, and the clients built, at the first invocation
 * (register.ts says why). The clients use the function's own service account and always name Google's universe,
 * so they never wait on a metadata server to learn it.
 */

// K_SERVICE is set by Cloud Run: scrub what reaches the runtime's uncaught-exception and unhandled-rejection output
// (shared/crash.ts). Not in a test runner.
if (process.env.K_SERVICE !== undefined) installCrashRedaction({ mode: 'runtime' });

registerGcpFunctions(functions, () => {
  const settings = loadGcpSettings(process.env);
  const client = createSecretManagerClient({ projectId: settings.projectId });
  const lockLogger = createCloudLogger(stdoutLines, new Redactor(), 'warn');
  const store = new SecretManagerStore({ client, projectId: settings.projectId, logger: lockLogger, ...(settings.secretPrefix === undefined ? {} : { namePrefix: settings.secretPrefix }) });
  const scheduler = settings.scheduler;
  const reconcile =
    scheduler === undefined
      ? undefined
      : async ({ dryRun }: { dryRun: boolean }) => {
          const jobs = createCloudSchedulerClient();
          try {
            return await reconcileRotationJobs(jobs, { projectId: settings.projectId, ...scheduler }, await store.rotationSchedules(), { dryRun });
          } finally {
            await jobs.close();
          }
        };
  return createGcpHandlers({
    store,
    dueSecretIds: (now) => store.dueSecretIds(now),
    rotators: createRotators(settings.config),
    scope: { projectId: settings.projectId, projectNumber: settings.projectNumber, secretPrefix: settings.secretPrefix },
    defaultStrategy: settings.config.defaultStrategy,
    retention: settings.config.retention,
    logLevel: settings.config.logLevel,
    ...(reconcile === undefined ? {} : { reconcileJobs: reconcile }),
    ...(settings.alertWebhook === undefined ? {} : { alerter: createWebhookAlerter({ url: settings.alertWebhook, source: 'gcp' }) }),
  });
});
