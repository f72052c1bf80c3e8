import { createPostgresRotator } from '../../rotators/postgres/index.js';
import { loadConfig } from '../../shared/config.js';
import { createSecretsManagerClient } from '../../shared/stores/aws/index.js';
import { databaseRotatorOptions } from '../../rotators/database.js';
import { createRotateHandler } from './rotate.js';

/**
 * The rotation function for PostgreSQL secrets (engine `postgres`). It imports only the PostgreSQL rotator, so its
 * bundle carries `pg` and not the MySQL driver. Everything is built once per container, at module load.
 */
const config = loadConfig(process.env);

export const handler = createRotateHandler({
  client: createSecretsManagerClient(),
  rotators: [createPostgresRotator(databaseRotatorOptions(config))],
  engineFamily: 'postgres',
  config,
});

export default handler;
