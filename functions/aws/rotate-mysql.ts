import { createMysqlRotator } from '../../rotators/mysql/index.js';
import { loadConfig } from '../../shared/config.js';
import { createSecretsManagerClient } from '../../shared/stores/aws/index.js';
import { databaseRotatorOptions } from '../../rotators/database.js';
import { createRotateHandler } from './rotate.js';

/**
 * The rotation function for MySQL and MariaDB secrets (engines `mysql`, `mariadb`, `aurora-mysql`...). It imports
 * only the MySQL rotator, so its bundle carries `mysql2` and not `pg`. Everything is built once per container.
 */
const config = loadConfig(process.env);

export const handler = createRotateHandler({
  client: createSecretsManagerClient(),
  rotators: [
    createMysqlRotator({
      ...databaseRotatorOptions(config),
      allowPublicKeyRetrieval: config.allowPublicKeyRetrieval,
      ...(config.usernameCharacterLimit === undefined ? {} : { usernameCharacterLimit: config.usernameCharacterLimit }),
    }),
  ],
  engineFamily: 'mysql',
  config,
});

export default handler;
