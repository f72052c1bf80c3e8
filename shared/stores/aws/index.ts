/**
 * The AWS Secrets Manager store: the SecretStore port on the service whose model it is (stage labels AWSCURRENT,
 * AWSPENDING, AWSPREVIOUS), through an injected SecretsManagerClient built with adaptive retry.
 */
export {
  AWS_STAGES,
  AwsSecretStore,
  SECRETS_MANAGER_ENDPOINT_ENV,
  STRATEGY_TAG,
  createSecretsManagerClient,
  type AwsSecretStoreOptions,
  type SecretsManagerClientOptions,
} from './aws-store.js';
export { mapAwsError, type MapContext } from './errors.js';
