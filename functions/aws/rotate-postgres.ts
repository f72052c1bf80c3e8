import { createPostgresRotator } from '../../rotators/postgres/index.js';
import { loadConfig } from '../../shared/config.js';
import { createRdsClient, createRdsMasterResolver, createSecretsManagerClient } from '../../stores/aws/index.js';
import { databaseRotatorOptions } from '../../rotators/database.js';
import { createRotateHandler } from './rotate.js';

/**
 * The rotation function for PostgreSQL secrets (engine `postgres`). It imports only the PostgreSQL rotator, so its
 * bundle carries `pg` and not the MySQL driver. Everything is built once per container, at module load.
 */
const config = loadConfig(process.env);
// One Secrets Manager client for the store and the resolver; the RDS client is only called for a master secret that
// RDS manages (no "host"). Neither makes a network call when built.
const client = createSecretsManagerClient();

export const handler = createRotateHandler({
  client,
  rotators: [createPostgresRotator(databaseRotatorOptions(config))],
  engineFamily: 'postgres',
  config,
  resolveMaster: createRdsMasterResolver({ rds: createRdsClient(), secretsManager: client }),
});

export default handler;
