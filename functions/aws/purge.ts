import { createRotators } from '../../rotators/index.js';
import { loadConfig } from '../../shared/config.js';
import { AwsSecretStore, createRdsMasterResolver, createSecretsManagerClient } from '../../stores/aws/index.js';
import { createPurgeHandler, sweepFromEnv } from './purge-handler.js';

/**
 * The purge function (EventBridge schedule, or invoked by hand with `{ "secretIds": [...], "dryRun": true }`). It
 * carries every rotator, since a sweep meets every engine and revocation talks to each target. Built once per
 * container; nothing here makes a network call.
 */
const config = loadConfig(process.env);
const client = createSecretsManagerClient();

export const handler = createPurgeHandler({
  client,
  rotators: createRotators(config),
  config,
  sweep: sweepFromEnv(process.env),
  resolveMaster: createRdsMasterResolver({ store: new AwsSecretStore({ client }) }),
});

export default handler;
