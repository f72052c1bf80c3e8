import type { HttpResponseInit, app as azureApp } from '@azure/functions';
import type { PurgeReport } from '../../shared/purger.js';
import { Redactor } from '../../shared/redact.js';
import { safeError } from '../../shared/safe-error.js';
import type { RotatorError } from '../../shared/errors.js';
import { flushingAlerts } from '../self-driven/invocation.js';
import type { AzureFunctionDeps } from './deps.js';
import { createContextLogger, type LogSink } from './logger.js';
import { createNearExpiryHandler, type NearExpiryHandler } from './near-expiry.js';
import { createRotateHttpHandler, type RotateHttpHandler } from './rotate-http.js';
import { createPurgeHandler, createSweepHandler, type SweepReport, type TimerHandler } from './timers.js';

/**
 * The four functions and how they are registered with the Functions host. The names are what infra/azure refers to
 * (the Event Grid subscription's endpoint is `.../functions/secretNearExpiry`); the schedules are app settings the
 * host resolves (`%...%`), so changing one needs no new build.
 */
export const FUNCTIONS = {
  secretNearExpiry: { name: 'secretNearExpiry', trigger: 'eventGrid' },
  rotateSweep: { name: 'rotateSweep', trigger: 'timer', schedule: '%ROTATOR_SWEEP_SCHEDULE%' },
  rotate: { name: 'rotate', trigger: 'http', methods: ['POST'], authLevel: 'function', route: 'rotate/{secretId?}' },
  purge: { name: 'purge', trigger: 'timer', schedule: '%ROTATOR_PURGE_SCHEDULE%' },
} as const;

export interface AzureHandlers {
  secretNearExpiry: NearExpiryHandler;
  rotateSweep: TimerHandler<SweepReport>;
  rotate: RotateHttpHandler;
  purge: TimerHandler<PurgeReport>;
}

export function createAzureHandlers(deps: AzureFunctionDeps): AzureHandlers {
  return flushingAlerts(
    {
      secretNearExpiry: createNearExpiryHandler(deps),
      rotateSweep: createSweepHandler(deps),
      rotate: createRotateHttpHandler(deps),
      purge: createPurgeHandler(deps),
    },
    deps.alerter,
  );
}

/** The part of @azure/functions' `app` used here (a test passes a recorder). */
export type FunctionsApp = Pick<typeof azureApp, 'eventGrid' | 'timer' | 'http'>;

/**
 * Registers the four functions. `build` (settings, clients, store, rotators) runs at the first invocation and is
 * kept once it succeeds. Registration itself needs none of it, so an app with a bad setting still has its
 * functions: each invocation then fails with a line at error that starts "rotation failed" (or "purge failed") and
 * names the setting, which the alert counts, instead of a host that silently lists no functions. The HTTP function
 * answers 500 with the code in that case.
 */
export function registerFunctions(app: FunctionsApp, build: () => AzureHandlers): void {
  let built: AzureHandlers | undefined;
  const handlers = (context: LogSink, failure: 'rotation' | 'purge'): AzureHandlers => {
    try {
      built ??= build();
      return built;
    } catch (error) {
      throw startFailed(context, failure, error);
    }
  };
  app.eventGrid(FUNCTIONS.secretNearExpiry.name, {
    handler: async (event, context) => {
      await handlers(context, 'rotation').secretNearExpiry(event, context);
    },
  });
  app.timer(FUNCTIONS.rotateSweep.name, {
    schedule: FUNCTIONS.rotateSweep.schedule,
    handler: async (timer, context) => {
      await handlers(context, 'rotation').rotateSweep(timer, context);
    },
  });
  app.http(FUNCTIONS.rotate.name, {
    methods: [...FUNCTIONS.rotate.methods],
    authLevel: FUNCTIONS.rotate.authLevel,
    route: FUNCTIONS.rotate.route,
    handler: async (request, context): Promise<HttpResponseInit> => {
      let rotate: RotateHttpHandler;
      try {
        rotate = handlers(context, 'rotation').rotate;
      } catch (error) {
        const safe = error as RotatorError;
        return { status: 500, jsonBody: { error: { code: safe.code, message: 'the function app could not start; its logs name the setting or client at fault' } } };
      }
      return rotate(request, context);
    },
  });
  app.timer(FUNCTIONS.purge.name, {
    schedule: FUNCTIONS.purge.schedule,
    handler: async (timer, context) => {
      await handlers(context, 'purge').purge(timer, context);
    },
  });
}

function startFailed(context: LogSink, failure: 'rotation' | 'purge', error: unknown): RotatorError {
  const redactor = new Redactor();
  const safe = safeError(error, redactor);
  createContextLogger(context, redactor).error(`${failure} failed: ${safe.code}: the function app could not start: ${safe.message}`, { code: safe.code });
  return safe;
}
