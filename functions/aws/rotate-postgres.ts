import { createPostgresRotator } from '../../rotators/postgres/index.js';
import { loadConfig } from '../../shared/config.js';
import { AwsSecretStore, createRdsMasterResolver, createSecretsManagerClient } from '../../stores/aws/index.js';
import { databaseRotatorOptions } from '../../rotators/database.js';
import { createRotateHandler } from './rotate.js';

/**
 * The rotation function for PostgreSQL secrets (engine `postgres`). It imports only the PostgreSQL rotator, so its
 * bundle carries `pg` and not the MySQL driver. Everything is built once per container, at module load.
 */
const config = loadConfig(process.env);
// One store for the engine and the resolver (which reads a master secret's tags from its description); the resolver
// builds its RDS client only for a master secret that RDS manages (no "host"), not at the cold start. Nothing here
// makes a network call when built.
const client = createSecretsManagerClient();
const store = new AwsSecretStore({ client, requestRates: 'unpaced' });

export const handler = createRotateHandler({
  client,
  store,
  rotators: [createPostgresRotator(databaseRotatorOptions(config))],
  engineFamily: 'postgres',
  config,
  resolveMaster: createRdsMasterResolver({ store }),
});

export default handler;
