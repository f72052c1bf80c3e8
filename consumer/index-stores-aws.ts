/** `rotator/stores/aws`: the AWS Secrets Manager store and the client it expects (loads @aws-sdk/client-secrets-manager only). */
export { AwsSecretStore, createSecretsManagerClient, type AwsSecretStoreOptions, type SecretsManagerClientOptions } from '../stores/aws/aws-store.js';
