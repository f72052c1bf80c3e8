/** `rotator/stores/gcp`: the Google Secret Manager store and the client it expects (loads @google-cloud/secret-manager only). */
export { createSecretManagerClient, type SecretManagerClientOptions } from '../stores/gcp/client.js';
export { SecretManagerStore, type SecretManagerStoreOptions } from '../stores/gcp/secret-manager-store.js';
