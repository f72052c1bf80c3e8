import * as z from 'zod';
import { checkWebhookUrl } from '../../shared/alerts.js';
import { envError, loadConfig, type Config } from '../../shared/config.js';
import { RotatorError } from '../../shared/errors.js';
import { checkVaultUrl } from '../../stores/azure/index.js';

/**
 * The Function App's settings (infra/azure/main.tf, app_settings), read and validated once when the app starts its
 * first invocation. None of them is a secret: the vault and the lock container are reached with the app's managed
 * identity. ROTATOR_SWEEP_SCHEDULE and ROTATOR_PURGE_SCHEDULE are read by the Functions host itself (the timers'
 * `%...%` schedules), not here.
 */
export interface AzureSettings {
  /** The vault's origin, checked to be a Key Vault (https://<name>.vault.azure.net or another Azure cloud's suffix). */
  vaultUrl: string;
  /** The vault's name, lower case: an event naming any other vault is refused. */
  vaultName: string;
  /** https://<account>.blob.core.windows.net/<container>: where the rotation locks (blob leases) live. */
  lockContainerUrl: string;
  /** Only secrets whose names start with this are rotated and purged; undefined: every secret of the vault. */
  secretPrefix: string | undefined;
  /** ROTATOR_ALERT_WEBHOOK (a secret: give it as a Key Vault reference), checked; undefined: no webhook. */
  alertWebhook: string | undefined;
  /** ROTATION_STRATEGY, ROTATOR_SAFE_WINDOW, ROTATOR_KEEP_SUPERSEDED, LOG_LEVEL and the database settings. */
  config: Config;
}

/** Blob endpoints of the Azure clouds (public, China, US Government) and the DNS-zone endpoints. */
const BLOB_HOST = /^[a-z0-9]{3,24}\.(blob\.core\.windows\.net|blob\.core\.chinacloudapi\.cn|blob\.core\.usgovcloudapi\.net|z\d{1,2}\.blob\.storage\.azure\.net)$/;
/** Container names: 3-63 lower-case letters, digits and single dashes, starting and ending with a letter or digit. */
const CONTAINER = /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/;
/** What infra/azure/variables.tf allows for secret_name_prefix (Key Vault name characters, at most 64). */
const PREFIX = /^[0-9a-zA-Z-]{1,64}$/;

const schema = z.object({
  AZURE_KEY_VAULT_URL: z.string({ error: 'must be set to the vault URL, https://<vault-name>.vault.azure.net' }).min(1, 'must be set to the vault URL, https://<vault-name>.vault.azure.net'),
  ROTATOR_LOCK_CONTAINER_URL: z
    .string({ error: 'must be set to the lock container URL, https://<account>.blob.core.windows.net/<container>' })
    .min(1, 'must be set to the lock container URL, https://<account>.blob.core.windows.net/<container>'),
  // Terraform writes "" for "every secret of the vault".
  ROTATOR_SECRET_PREFIX: z.union([z.literal(''), z.string().regex(PREFIX, 'must be letters, digits and dashes (at most 64), or empty for every secret')]).optional(),
  ROTATOR_ALERT_WEBHOOK: z.string().optional(),
});

/** The settings from `env`; INVALID_INPUT naming every bad variable (never its value). */
export function loadAzureSettings(env: NodeJS.ProcessEnv): AzureSettings {
  const result = schema.safeParse(env);
  if (!result.success) throw envError(result.error);
  const vaultUrl = checkVaultUrl(result.data.AZURE_KEY_VAULT_URL);
  const vaultName = new URL(vaultUrl).hostname.split('.')[0]?.toLowerCase() ?? '';
  const prefix = result.data.ROTATOR_SECRET_PREFIX;
  const webhook = result.data.ROTATOR_ALERT_WEBHOOK;
  return {
    vaultUrl,
    vaultName,
    lockContainerUrl: checkLockContainerUrl(result.data.ROTATOR_LOCK_CONTAINER_URL),
    secretPrefix: prefix === undefined || prefix === '' ? undefined : prefix,
    alertWebhook: webhook === undefined || webhook === '' ? undefined : checkWebhookUrl(webhook),
    config: loadConfig(env),
  };
}

/**
 * The lock container's URL, or INVALID_INPUT. The app's bearer token for storage goes to this host, so it must be
 * an Azure blob endpoint over https, and the URL must carry no credentials and no SAS query (the app uses its
 * identity; a SAS in a setting would be a secret in plain sight).
 */
export function checkLockContainerUrl(raw: string): string {
  const rule = 'ROTATOR_LOCK_CONTAINER_URL must be https://<account>.blob.core.windows.net/<container> (no query, no credentials)';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RotatorError('INVALID_INPUT', `${rule}: it is not a URL`);
  }
  if (url.protocol !== 'https:') throw new RotatorError('INVALID_INPUT', `${rule}: it must use https`);
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new RotatorError('INVALID_INPUT', `${rule}: it must not carry credentials, a query (SAS) or a fragment`);
  }
  if (!BLOB_HOST.test(url.hostname) || url.port !== '') throw new RotatorError('INVALID_INPUT', `${rule}: its host is not an Azure blob endpoint`);
  const container = url.pathname.replace(/^\//, '').replace(/\/$/, '');
  if (!CONTAINER.test(container)) throw new RotatorError('INVALID_INPUT', `${rule}: the path must be one container name`);
  return `${url.origin}/${container}`;
}
