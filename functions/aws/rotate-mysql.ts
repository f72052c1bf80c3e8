import { createMysqlRotator } from '../../rotators/mysql/index.js';
import { loadConfig } from '../../shared/config.js';
import { createRdsClient, createRdsMasterResolver, createSecretsManagerClient } from '../../stores/aws/index.js';
import { databaseRotatorOptions } from '../../rotators/database.js';
import { createRotateHandler } from './rotate.js';

/**
 * The rotation function for MySQL and MariaDB secrets (engines `mysql`, `mariadb`, `aurora-mysql`...). It imports
 * only the MySQL rotator, so its bundle carries `mysql2` and not `pg`. Everything is built once per container.
 */
const config = loadConfig(process.env);
// One Secrets Manager client for the store and the resolver; the RDS client is only called for a master secret that
// RDS manages (no "host"). Neither makes a network call when built.
const client = createSecretsManagerClient();

export const handler = createRotateHandler({
  client,
  rotators: [
    createMysqlRotator({
      ...databaseRotatorOptions(config),
      allowPublicKeyRetrieval: config.allowPublicKeyRetrieval,
      ...(config.usernameCharacterLimit === undefined ? {} : { usernameCharacterLimit: config.usernameCharacterLimit }),
    }),
  ],
  engineFamily: 'mysql',
  config,
  resolveMaster: createRdsMasterResolver({ rds: createRdsClient(), secretsManager: client }),
});

export default handler;
