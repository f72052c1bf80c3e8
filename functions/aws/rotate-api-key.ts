import { createApiKeyRotator } from '../../rotators/api-key/index.js';
import { loadConfig } from '../../shared/config.js';
import { createSecretsManagerClient } from '../../stores/aws/index.js';
import { createRotateHandler } from './rotate.js';

/**
 * The rotation function for API-key secrets (self-issued keys and the SendGrid, Datadog and generic REST
 * providers). No database driver in its bundle. Everything is built once per container.
 */
const config = loadConfig(process.env);

export const handler = createRotateHandler({
  client: createSecretsManagerClient(),
  rotators: [createApiKeyRotator({ timeoutMs: config.statementTimeoutMs })],
  engineFamily: 'api-key',
  config,
});

export default handler;
