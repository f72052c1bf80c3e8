import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretClient } from '@azure/keyvault-secrets';
import type { ContainerClient } from '@azure/storage-blob';
import type { KeyVaultCredential } from '../stores/azure/index.js';
import { RotatorError } from '../shared/errors.js';
import { CONTROL_CHARACTER_RULE, hasControlCharacter } from '../shared/control-chars.js';
import type { RotationReport, RunOptions } from '../shared/engine.js';
import type { Logger } from '../shared/logger.js';
import type { SecretStore, Strategy } from '../shared/store.js';
import { googleClients } from './commands/gcp.js';
import type { CliIO } from './context.js';

/**
 * Where `--store` (or ROTATOR_STORE) points: the embedded file store by path, or a cloud store by URL. Each cloud's
 * SDK is imported only when its scheme is used, so the file store's commands start as fast as they always did.
 */

export type CloudKind = 'aws' | 'azure' | 'gcp';
export type StoreKind = 'file' | CloudKind;

export type StoreLocation =
  | { kind: 'file'; path: string }
  | { kind: 'aws'; region: string }
  | { kind: 'azure'; vaultUrl: string; vaultName: string }
  | { kind: 'gcp'; projectId: string };

/** The forms, for --help and for every refusal. */
export const STORE_FORMS = 'a file path, aws://<region>, azure://<vault-name> (or its full host, <vault-name>.vault.azure.net) or gcp://<project-id>';

/** AWS region names: `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`, `us-isob-east-1`, `eusc-de-east-1`. */
const AWS_REGION = /^[a-z]{2,4}(-[a-z]{2,10}){1,2}-[1-9][0-9]?$/;
/** What may follow `azure://` or `gcp://` before the cloud's own check: a DNS name's characters, nothing else. */
const HOST_CHARACTERS = /^[A-Za-z0-9.-]{1,253}$/;
const MAX_LOCATION = 4_096;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]{0,31}):\/\//;

/**
 * The store `raw` names. A URL is parsed strictly: the scheme is one of the three clouds, and what follows is a region,
 * a vault or a project and nothing else (no user info, port, path, query or fragment; no control character
 * anywhere). Refusals name the forms and never echo what was given: a mistyped URL may carry a credential.
 */
export async function parseStoreLocation(raw: string, source = '--store'): Promise<StoreLocation> {
  if (raw.length === 0 || raw.length > MAX_LOCATION) throw new RotatorError('INVALID_INPUT', `${source} must be 1 to ${MAX_LOCATION} characters: ${STORE_FORMS}`);
  if (hasControlCharacter(raw)) throw new RotatorError('INVALID_INPUT', `${source} ${CONTROL_CHARACTER_RULE}`);
  const scheme = SCHEME.exec(raw)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: 'file', path: raw };
  const rest = raw.slice(raw.indexOf('://') + 3);
  const refuse = (what: string): never => {
    throw new RotatorError('INVALID_INPUT', `${source} is not a store this command knows: ${what}; use ${STORE_FORMS}`);
  };
  switch (scheme) {
    case 'aws':
      if (!AWS_REGION.test(rest)) refuse('aws:// takes an AWS region and nothing else, e.g. aws://eu-west-1');
      return { kind: 'aws', region: rest };
    case 'azure': {
      if (!HOST_CHARACTERS.test(rest)) refuse('azure:// takes a Key Vault name or host and nothing else, e.g. azure://kv-rotated');
      // The Key Vault rule (https, a vault name under one of Azure's Key Vault DNS suffixes) is the client's own.
      const { checkVaultUrl } = await import('../stores/azure/client.js');
      const vaultUrl = checkVaultUrl(`https://${rest.includes('.') ? rest : `${rest}.vault.azure.net`}`);
      return { kind: 'azure', vaultUrl, vaultName: new URL(vaultUrl).hostname.split('.')[0] ?? '' };
    }
    case 'gcp': {
      if (!HOST_CHARACTERS.test(rest)) refuse('gcp:// takes a Google Cloud project id and nothing else, e.g. gcp://acme-prod');
      const { checkProjectId } = await import('../stores/gcp/client.js');
      return { kind: 'gcp', projectId: checkProjectId(rest) };
    }
    case 'file':
      return refuse('give the file store as a plain path, not a file:// URL');
    default:
      return refuse(`the scheme ${scheme}:// is not one of aws, azure, gcp`);
  }
}

/** How the CLI reaches AWS; a test points it at the local fake. Default: the SDK's client with its credential chain. */
export interface AwsClients {
  secretsManager(region: string): SecretsManagerClient;
}

/** How the CLI reaches Azure; a test points it at the local fakes. Default: the real services with DefaultAzureCredential. */
export interface AzureClients {
  keyVault(vaultUrl: string): SecretClient;
  /** The rotation locks' container (default: ROTATOR_LOCK_CONTAINER_URL with the same credential). */
  lockContainer?(): ContainerClient;
}

export interface CloudStore {
  store: SecretStore;
  /** `rotate <id>` on this store; undefined: self-driven by the engine under the store's lock. */
  rotate?: (secretId: string, options: RunOptions, defaults: { strategy: Strategy }) => Promise<RotationReport>;
  /** Closes the clients (gRPC channels, sockets) so the process can exit. */
  close(): Promise<void>;
}

export interface OpenOptions {
  io: CliIO;
  env: NodeJS.ProcessEnv;
  logger: Logger;
}

/** Opens the cloud store `location` names; building the clients makes no network call. */
export async function openCloudStore(location: Exclude<StoreLocation, { kind: 'file' }>, options: OpenOptions): Promise<CloudStore> {
  switch (location.kind) {
    case 'aws':
      return openAws(location.region, options);
    case 'azure':
      return openAzure(location.vaultUrl, options);
    case 'gcp':
      return openGcp(location.projectId, options);
  }
}

/** ROTATOR_SECRET_PREFIX: only secrets whose names start with it are listed and swept, as in the functions. */
function secretPrefix(env: NodeJS.ProcessEnv, kind: CloudKind): string | undefined {
  const prefix = env.ROTATOR_SECRET_PREFIX;
  if (prefix === undefined || prefix === '') return undefined;
  const rule = PREFIX_RULES[kind];
  if (!rule.pattern.test(prefix)) throw new RotatorError('INVALID_INPUT', `environment variables are invalid: ROTATOR_SECRET_PREFIX: must be ${rule.text}`);
  return prefix;
}

/** The functions' own rules for the prefix on each cloud (a secret name's characters, at most 64 or 256). */
const PREFIX_RULES: Readonly<Record<CloudKind, { pattern: RegExp; text: string }>> = {
  aws: { pattern: /^[A-Za-z0-9/_+=.@-]{1,256}$/, text: 'letters, digits and /_+=.@- (at most 256)' },
  azure: { pattern: /^[0-9a-zA-Z-]{1,64}$/, text: 'letters, digits and dashes (at most 64)' },
  gcp: { pattern: /^[A-Za-z0-9_-]{1,64}$/, text: 'letters, digits, _ and - (at most 64)' },
};

async function openAws(region: string, { io, env }: OpenOptions): Promise<CloudStore> {
  const [{ AwsSecretStore, createSecretsManagerClient }, { rotateViaService }] = await Promise.all([
    import('../stores/aws/index.js'),
    import('../stores/aws/rotate-via-service.js'),
  ]);
  const namePrefix = secretPrefix(env, 'aws');
  // The SDK's default credential chain (environment, AWS_PROFILE, SSO, instance roles); SECRETS_MANAGER_ENDPOINT
  // as the functions honour it.
  const client = io.aws?.secretsManager(region) ?? createSecretsManagerClient({ region, env });
  const store = new AwsSecretStore({ client, ...(namePrefix === undefined ? {} : { sweep: { namePrefix } }) });
  return {
    store,
    // The service runs rotations on AWS: ask it, and follow.
    rotate: async (secretId, options, defaults) => {
      const info = await store.describe(secretId, { dates: false, ...(options.signal === undefined ? {} : { signal: options.signal }) });
      const report = await rotateViaService({
        client,
        store,
        secretId,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        onProgress: (p) => {
          // Only what is visible: createSecret's value, then AWSCURRENT moving (setSecret and testSecret ran before it).
          if (p.phase === 'value-stored') options.onStep?.({ step: 'createSecret', outcome: 'done', ms: p.ms });
          if (p.phase === 'current-moved') for (const step of ['setSecret', 'testSecret', 'finishSecret'] as const) options.onStep?.({ step, outcome: 'done', ms: p.ms });
        },
      });
      return {
        secretId,
        versionId: report.versionId,
        engine: 'AWS rotation function',
        strategy: info.rotation.strategy ?? defaults.strategy,
        resumed: false,
        steps: [],
        totalMs: report.totalMs,
      };
    },
    close: () => {
      client.destroy();
      return Promise.resolve();
    },
  };
}

async function openAzure(vaultUrl: string, { io, env, logger }: OpenOptions): Promise<CloudStore> {
  const azure = await import('../stores/azure/index.js');
  const namePrefix = secretPrefix(env, 'azure');
  // One credential for the vault and the lock container, as the functions use one identity for both.
  let credential: KeyVaultCredential | undefined;
  const identity = () => (credential ??= azure.defaultKeyVaultCredential(env));
  const client = io.azure?.keyVault(vaultUrl) ?? azure.createKeyVaultClient({ vaultUrl, credential: identity(), env });
  const container = io.azure?.lockContainer?.() ?? (await lockContainerFrom(env, identity));
  const lock = container === undefined ? undefined : azure.createBlobLeaseLock({ container, logger });
  const store = new azure.KeyVaultSecretStore({ client, logger, ...(lock === undefined ? {} : { lock }), ...(namePrefix === undefined ? {} : { namePrefix }) });
  return { store, close: () => Promise.resolve() };
}

/** The lock container the Azure functions use (their ROTATOR_LOCK_CONTAINER_URL, checked the same way), if set. */
async function lockContainerFrom(env: NodeJS.ProcessEnv, identity: () => KeyVaultCredential): Promise<ContainerClient | undefined> {
  const raw = env.ROTATOR_LOCK_CONTAINER_URL;
  if (raw === undefined || raw === '') return undefined;
  const [{ checkLockContainerUrl }, { ContainerClient }, { LEASE_LOCK_RETRY_OPTIONS }] = await Promise.all([
    import('../functions/azure/settings.js'),
    import('@azure/storage-blob'),
    import('../stores/azure/lease-lock.js'),
  ]);
  return new ContainerClient(checkLockContainerUrl(raw), identity(), { retryOptions: LEASE_LOCK_RETRY_OPTIONS });
}

async function openGcp(projectId: string, { io, env, logger }: OpenOptions): Promise<CloudStore> {
  const namePrefix = secretPrefix(env, 'gcp');
  const { google, clients } = await googleClients(io.google);
  const client = clients.secretManager(projectId);
  // The rotation lock is the annotation lease built into the store.
  const store = new google.SecretManagerStore({ client, projectId, logger, ...(namePrefix === undefined ? {} : { namePrefix }) });
  // A client whose credentials never loaded rejects close() with that same error: the command has reported it already.
  return { store, close: () => client.close().catch(() => undefined) };
}

/**
 * Whether a cloud store can change a secret's rotation schedule (its `updateSchedule(secretId, schedule | undefined)`,
 * which the cloud adapters add): duck-typed, as it is no part of the port every store implements.
 */
export function canUpdateSchedule(store: SecretStore): boolean {
  return typeof (store as { updateSchedule?: unknown }).updateSchedule === 'function';
}

/** Commands that change what only the file store lets the CLI change. */
export type FileOnlyCommand = 'secrets put' | 'secrets delete' | 'secrets rotation';

/**
 * INVALID_INPUT for a command the file store alone supports, naming what does the same on the cloud `location` names.
 * Ids were checked before (checkSecretId), so they are safe to quote.
 */
export function fileOnlyRefusal(command: FileOnlyCommand, location: Exclude<StoreLocation, { kind: 'file' }>, secretId: string): RotatorError {
  const instead = CLOUD_TOOLS[location.kind][command](secretId, location);
  return new RotatorError('INVALID_INPUT', `\`rotator ${command}\` works on the file store only; on ${CLOUD_NAMES[location.kind]} use: ${instead}`);
}

const CLOUD_NAMES: Readonly<Record<CloudKind, string>> = { aws: 'AWS Secrets Manager', azure: 'Azure Key Vault', gcp: 'Google Secret Manager' };

type Tool = (secretId: string, location: Exclude<StoreLocation, { kind: 'file' }>) => string;

const vault = (l: Exclude<StoreLocation, { kind: 'file' }>): string => (l.kind === 'azure' ? l.vaultName : '<vault>');
const project = (l: Exclude<StoreLocation, { kind: 'file' }>): string => (l.kind === 'gcp' ? l.projectId : '<project>');
const region = (l: Exclude<StoreLocation, { kind: 'file' }>): string => (l.kind === 'aws' ? l.region : '<region>');

const CLOUD_TOOLS: Readonly<Record<CloudKind, Readonly<Record<FileOnlyCommand, Tool>>>> = {
  aws: {
    'secrets put': (id, l) =>
      `aws secretsmanager put-secret-value --region ${region(l)} --secret-id ${id} --secret-string file://value.json (create-secret for a new secret)`,
    'secrets delete': (id, l) => `aws secretsmanager delete-secret --region ${region(l)} --secret-id ${id} --recovery-window-in-days 30`,
    'secrets rotation': (id, l) =>
      `aws secretsmanager rotate-secret --region ${region(l)} --secret-id ${id} --rotation-lambda-arn <the rotate function's ARN> --rotation-rules ... ` +
      `(off: cancel-rotate-secret), and for the strategy: aws secretsmanager tag-resource --secret-id ${id} --tags Key=rotator:strategy,Value=<strategy>`,
  },
  azure: {
    'secrets put': (id, l) => `az keyvault secret set --vault-name ${vault(l)} --name ${id} --file value.json`,
    'secrets delete': (id, l) => `az keyvault secret delete --vault-name ${vault(l)} --name ${id} (soft delete: recoverable until purged)`,
    'secrets rotation': (id, l) =>
      `az keyvault secret set-attributes --vault-name ${vault(l)} --name ${id} --tags rotator-enabled=true rotator-strategy=<strategy> ` +
      '(the tags of the latest version: give its other tags too, as --tags replaces them)',
  },
  gcp: {
    'secrets put': (id, l) => `gcloud secrets versions add ${id} --project ${project(l)} --data-file=value.json (gcloud secrets create for a new secret)`,
    'secrets delete': (id, l) => `gcloud secrets delete ${id} --project ${project(l)}`,
    'secrets rotation': (id, l) => `gcloud secrets update ${id} --project ${project(l)} --update-labels=rotator-enabled=true,rotator-strategy=<strategy>`,
  },
};
