import { createMysqlRotator } from '../../rotators/mysql/index.js';
import { loadConfig } from '../../shared/config.js';
import { AwsSecretStore, createRdsMasterResolver, createSecretsManagerClient } from '../../stores/aws/index.js';
import { databaseRotatorOptions } from '../../rotators/database.js';
import { createRotateHandler } from './rotate.js';

/**
 * The rotation function for MySQL and MariaDB secrets (engines `mysql`, `mariadb`, `aurora-mysql`...). It imports
 * only the MySQL rotator, so its bundle carries `mysql2` and not `pg`. Everything is built once per container.
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
  rotators: [
    createMysqlRotator({
      ...databaseRotatorOptions(config),
      allowPublicKeyRetrieval: config.allowPublicKeyRetrieval,
      ...(config.usernameCharacterLimit === undefined ? {} : { usernameCharacterLimit: config.usernameCharacterLimit }),
    }),
  ],
  engineFamily: 'mysql',
  config,
  resolveMaster: createRdsMasterResolver({ store }),
});

export default handler;
