/**
 * Google Cloud: the Secret Manager store (the SecretStore port on Secret Manager) and its admin helpers, the
 * SecretManagerServiceClient factory (project id check, universe pinned, test-only loopback options), the error
 * mapping the store builds on (also usable by other Google clients), the rotation lock as an annotation lease, and the
 * service's limits; the Cloud Scheduler client factory and the per-secret job reconciler.
 */
export {
  GOOGLE_UNIVERSE_DOMAIN,
  checkProjectId,
  createSecretManagerClient,
  type SecretManagerClientConstructorOptions,
  type SecretManagerClientOptions,
  type SecretManagerTestOnlyOptions,
} from './client.js';
export {
  GRPC_STATUS,
  SECRET_MANAGER_PERMISSIONS,
  causeStatus,
  googleErrorFacts,
  grpcStatusOf,
  mapGoogleError,
  mapSecretManagerError,
  type GoogleErrorContext,
  type GoogleErrorFacts,
  type GrpcStatusName,
  type SecretManagerMapContext,
  type SecretManagerOperation,
} from './errors.js';
export { ANNOTATION } from './annotations.js';
export { AnnotationLease, DEFAULT_LOCK_TTL_MS, MAX_LOCK_TTL_MS, MIN_LOCK_TTL_MS } from './annotation-lock.js';
export { ENABLED_FILTER, SM_LABEL, settingLabels, settingsFromLabels } from './labels.js';
export {
  PENDING_SECRET_SUFFIX,
  SecretManagerStore,
  checkSecretManagerSecretId,
  type SecretManagerStoreOptions,
  type SecretRotationSchedule,
} from './secret-manager-store.js';
export {
  attachSecretManagerSecret,
  createSeededSecretManagerSecret,
  type AttachSecretManagerSecretOptions,
  type SecretManagerRotationSchedule,
  type SeedSecretManagerSecretOptions,
} from './admin.js';
export * from './limits.js';
export { createCloudSchedulerClient, type CloudSchedulerClientOptions, type CloudSchedulerClientSettings, type CloudSchedulerTestOnlyOptions } from './scheduler-client.js';
export {
  ROTATION_JOB_MARKER,
  ROTATION_JOB_PREFIX,
  ROTATION_JOB_TIME_ZONE,
  cronAt,
  reconcileRotationJobs,
  rotationJobId,
  type JobAction,
  type JobOutcome,
  type JobTarget,
  type ReconcileOptions,
  type ReconcileReport,
  type RotationSchedule,
} from './rotation-jobs.js';
