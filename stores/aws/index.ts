/**
 * The AWS Secrets Manager store: the SecretStore port on the service whose model it is (stage labels AWSCURRENT,
 * AWSPENDING, AWSPREVIOUS), through an injected SecretsManagerClient built with adaptive retry.
 */
export {
  AWS_STAGES,
  AwsSecretStore,
  LAST_ERROR_TAG,
  SECRETS_MANAGER_ENDPOINT_ENV,
  STRATEGY_TAG,
  createSecretsManagerClient,
  type AwsSecretStoreOptions,
  type SecretsManagerClientOptions,
  type SweepFilter,
} from './aws-store.js';
export { mapAwsError, type MapContext } from './errors.js';
export {
  RDS_CLUSTER_TAG,
  RDS_ENDPOINT_ENV,
  RDS_ENGINES,
  RDS_INSTANCE_TAG,
  createRdsClient,
  createRdsMasterResolver,
  type RdsClientOptions,
  type RdsMasterResolverDeps,
} from './rds-master.js';
