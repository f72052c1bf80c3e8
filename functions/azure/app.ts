import azureFunctions from '@azure/functions';
import { createRotators } from '../../rotators/index.js';
import { createWebhookAlerter } from '../../shared/alerts.js';
import { installCrashRedaction } from '../../shared/crash.js';
import { createLogger } from '../../shared/logger.js';
import { createAzureHandlers, registerFunctions } from './register.js';
import { loadAzureSettings } from './settings.js';
import { createStore } from './store.js';

/**
 * The module the Azure Functions host loads (the v4 programming model): it registers the four functions. Nothing
 * here makes a network call or reads a setting at load; the settings are read and validated, and the clients
 * built, at the first invocation (register.ts says why).
 *
 * @azure/functions is a CommonJS bundle: in ESM only its default export works at run time on Node 20.
 */
const { app } = azureFunctions;

// The Node worker installs its uncaught-exception and unhandled-rejection handlers (which report to the host) before
// it loads this module: scrub what reaches them (shared/crash.ts, `runtime` mode). Not in a test runner.
if (process.env.FUNCTIONS_WORKER_RUNTIME !== undefined || process.env.AZURE_FUNCTIONS_ENVIRONMENT !== undefined || process.env.WEBSITE_SITE_NAME !== undefined) {
  installCrashRedaction({ mode: 'runtime' });
}

registerFunctions(app, () => {
  const settings = loadAzureSettings(process.env);
  const store = createStore(settings, { lockLogger: createLogger({ level: 'warn' }) });
  return createAzureHandlers({
    store,
    dueSecretIds: (now) => store.dueSecretIds(now),
    rotators: createRotators(settings.config),
    scope: { vaultName: settings.vaultName, secretPrefix: settings.secretPrefix },
    defaultStrategy: settings.config.defaultStrategy,
    retention: settings.config.retention,
    logLevel: settings.config.logLevel,
    ...(settings.alertWebhook === undefined ? {} : { alerter: createWebhookAlerter({ url: settings.alertWebhook, source: 'azure' }) }),
  });
});
