import type { SecretClient } from '@azure/keyvault-secrets';
import { RotatorError } from '../../shared/errors.js';
import { mapKeyVaultError } from './errors.js';
import { ROTATOR_TAG_PREFIX, SETTING_TAGS, settingTags, type KeyVaultRotationSettings } from './key-vault-tags.js';
import { NEAR_EXPIRY_MS, PENDING_SECRET_SUFFIX } from './key-vault-store.js';

/**
 * Creating and attaching secrets: not part of the store port (Rotator rotates secrets, it does not create them), but
 * what a test seeds with and what "attach a secret" does without a CLI: put the `rotator-*` setting tags on the
 * latest version (see key-vault-tags.ts), and with a schedule (a rate: the `rotator-interval` tag) an expiry that
 * makes SecretNearExpiry fire when it is up.
 */
export interface SeedKeyVaultSecretOptions {
  /** The secret's own tags (none named `rotator-...`). */
  tags?: Readonly<Record<string, string>>;
  rotation?: KeyVaultRotationSettings;
  contentType?: string;
  clock?: () => Date;
}

/** Creates (or adds a version to) `name` with `value` as its latest version, tagged with its rotation settings. */
export async function createSeededKeyVaultSecret(client: SecretClient, name: string, value: string, options: SeedKeyVaultSecretOptions = {}): Promise<string> {
  checkName(name);
  const own = options.tags ?? {};
  if (Object.keys(own).some((k) => k.startsWith(ROTATOR_TAG_PREFIX))) {
    throw new RotatorError('INVALID_INPUT', `tags named ${ROTATOR_TAG_PREFIX}... are Rotator's own; pass rotation settings instead`);
  }
  const rotation = options.rotation ?? { enabled: true };
  const now = (options.clock ?? (() => new Date()))();
  try {
    const created = await client.setSecret(name, value, {
      tags: { ...own, ...settingTags(rotation) },
      ...(options.contentType === undefined ? {} : { contentType: options.contentType }),
      ...expiry(rotation, now),
    });
    return created.properties.version ?? '';
  } catch (error) {
    throw mapKeyVaultError(error, { operation: 'setSecret', dataAction: 'secrets/setSecret/action', secretName: name, scrub: [value] });
  }
}

/**
 * Attaches an existing secret: writes the rotation settings onto its latest version's tags (a PATCH: no new version,
 * nothing consumers read changes), keeping its other tags, and with a schedule sets the version's expiry.
 */
export async function attachKeyVaultSecret(client: SecretClient, name: string, rotation: KeyVaultRotationSettings, clock: () => Date = () => new Date()): Promise<void> {
  checkName(name);
  try {
    const latest = await client.getSecret(name);
    const kept = Object.fromEntries(Object.entries(latest.properties.tags ?? {}).filter(([k]) => !SETTING_TAGS.includes(k)));
    await client.updateSecretProperties(name, latest.properties.version ?? '', { tags: { ...kept, ...settingTags(rotation) }, ...expiry(rotation, clock()) });
  } catch (error) {
    throw mapKeyVaultError(error, { operation: 'attach', dataAction: 'secrets/update/action', secretName: name });
  }
}

function expiry(rotation: KeyVaultRotationSettings, now: Date): { expiresOn?: Date } {
  return rotation.schedule === undefined ? {} : { expiresOn: new Date(now.getTime() + rotation.schedule.everyMs + NEAR_EXPIRY_MS) };
}

function checkName(name: string): void {
  if (name.toLowerCase().endsWith(PENDING_SECRET_SUFFIX)) throw new RotatorError('INVALID_INPUT', `names ending in "${PENDING_SECRET_SUFFIX}" are Rotator's companions`);
}
