import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '@cdktf/hcl2json';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * infra/azure is checked offline: Terraform cannot run here, so its files are parsed with HashiCorp's HCL parser
 * (compiled to WebAssembly in @cdktf/hcl2json) and the security-relevant shape is asserted: least privilege on the
 * vault and the storage, the event filter, the identity wiring, and that no secret is written into the config.
 */
const DIR = fileURLToPath(new URL('../../infra/azure/', import.meta.url));

type Block = Record<string, unknown>;
interface Terraform {
  resource: Record<string, Record<string, Block[]>>;
  variable: Record<string, Block[]>;
  output: Record<string, Block[]>;
  locals: Block[];
}

let tf: Terraform;
let text: string;

/** The one block `type.name` declares. */
function resource(type: string, name: string): Block {
  const block = tf.resource[type]?.[name]?.[0];
  if (block === undefined) throw new Error(`infra/azure declares no ${type}.${name}`);
  return block;
}

function first(block: Block, key: string): Block {
  const nested = (block[key] as Block[] | undefined)?.[0];
  if (nested === undefined) throw new Error(`no ${key} block`);
  return nested;
}

beforeAll(async () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.tf'));
  const merged: Terraform = { resource: {}, variable: {}, output: {}, locals: [] };
  text = '';
  for (const file of files) {
    const source = readFileSync(join(DIR, file), 'utf8');
    text += source;
    const parsed = (await parse(file, source)) as Partial<Terraform>;
    for (const [type, byName] of Object.entries(parsed.resource ?? {})) merged.resource[type] = { ...merged.resource[type], ...byName };
    Object.assign(merged.variable, parsed.variable ?? {});
    Object.assign(merged.output, parsed.output ?? {});
    merged.locals.push(...(parsed.locals ?? []));
  }
  tf = merged;
});

describe('infra/azure (parsed offline)', () => {
  it('the parser refuses broken HCL, so a typo in the files fails this suite', async () => {
    await expect(parse('broken.tf', 'resource "x" "y" { a = }')).rejects.toThrow();
  });

  it('runs the functions on Node 22 in a Flex Consumption app with a system-assigned identity, over HTTPS only', () => {
    const app = resource('azurerm_function_app_flex_consumption', 'rotator');
    expect(app.runtime_name).toBe('node');
    expect(app.runtime_version).toBe('22');
    expect(app.https_only).toBe(true);
    expect(first(app, 'identity').type).toBe('SystemAssigned');
    expect(app.storage_authentication_type).toBe('SystemAssignedIdentity');
    expect(resource('azurerm_service_plan', 'rotator').sku_name).toBe('FC1');
  });

  it('gives the app a custom role on the vault with only the four data actions it needs', () => {
    const role = resource('azurerm_role_definition', 'rotator');
    const permissions = first(role, 'permissions');
    expect(permissions.actions).toEqual([]);
    expect([...(permissions.data_actions as string[])].sort()).toEqual([
      'Microsoft.KeyVault/vaults/secrets/getSecret/action',
      'Microsoft.KeyVault/vaults/secrets/readMetadata/action',
      'Microsoft.KeyVault/vaults/secrets/setSecret/action',
      'Microsoft.KeyVault/vaults/secrets/update/action',
    ]);
    expect((permissions.data_actions as string[]).some((a) => a.includes('*') || /delete|purge|backup|restore/i.test(a))).toBe(false);
    expect(role.scope).toBe('${data.azurerm_key_vault.rotated.id}');
    expect(role.assignable_scopes).toEqual(['${data.azurerm_key_vault.rotated.id}']);

    const assignment = resource('azurerm_role_assignment', 'rotator_vault');
    expect(assignment.scope).toBe('${data.azurerm_key_vault.rotated.id}');
    expect(assignment.role_definition_id).toBe('${azurerm_role_definition.rotator.role_definition_resource_id}');
    expect(assignment.principal_id).toBe('${azurerm_function_app_flex_consumption.rotator.identity[0].principal_id}');
  });

  it('no built-in role broader than needed on the vault: Secrets Officer, Administrator or Contributor appear nowhere', () => {
    expect(text).not.toMatch(/Key Vault (Secrets Officer|Administrator|Contributor)|"Owner"|"Contributor"/);
  });

  it('consumers get Key Vault Secrets User on one main secret each, never the vault or a companion secret', () => {
    const consumer = resource('azurerm_role_assignment', 'consumer');
    expect(consumer.role_definition_name).toBe('Key Vault Secrets User');
    expect(consumer.scope).toBe('${data.azurerm_key_vault.rotated.id}/secrets/${each.value.secret_name}');
    const validation = first(tf.variable.consumers?.[0] ?? {}, 'validation');
    expect(String(validation.condition)).toContain('-rotator-pending');
  });

  it('subscribes the near-expiry function to SecretNearExpiry only, narrowed to the secret prefix, with retries', () => {
    const topic = resource('azurerm_eventgrid_system_topic', 'vault');
    expect(topic.topic_type).toBe('Microsoft.KeyVault.vaults');
    expect(topic.source_resource_id).toBe('${data.azurerm_key_vault.rotated.id}');
    const subscription = resource('azurerm_eventgrid_system_topic_event_subscription', 'near_expiry');
    expect(subscription.included_event_types).toEqual(['Microsoft.KeyVault.SecretNearExpiry']);
    expect(first(subscription, 'subject_filter').subject_begins_with).toBe('${var.secret_name_prefix}');
    expect(first(subscription, 'azure_function_endpoint').function_id).toBe(
      '${azurerm_function_app_flex_consumption.rotator.id}/functions/${local.near_expiry_function}',
    );
    expect(tf.locals.some((l) => l.near_expiry_function === 'secretNearExpiry')).toBe(true);
    expect(Number(first(subscription, 'retry_policy').max_delivery_attempts)).toBeGreaterThan(1);
  });

  it('keeps the locks in a private container of a storage account without shared keys, reached by identity', () => {
    const account = resource('azurerm_storage_account', 'rotator');
    expect(account.shared_access_key_enabled).toBe(false);
    expect(account.min_tls_version).toBe('TLS1_2');
    expect(account.allow_nested_items_to_be_public).toBe(false);
    const locks = resource('azurerm_storage_container', 'locks');
    expect(locks.container_access_type).toBe('private');
    const settings = resource('azurerm_function_app_flex_consumption', 'rotator').app_settings as Record<string, string>;
    expect(settings.ROTATOR_LOCK_CONTAINER_URL).toBe('${azurerm_storage_account.rotator.primary_blob_endpoint}${local.lock_container}');
    expect(settings.AZURE_KEY_VAULT_URL).toBe('${data.azurerm_key_vault.rotated.vault_uri}');
    const storageRole = resource('azurerm_role_assignment', 'rotator_storage');
    expect(storageRole.scope).toBe('${azurerm_storage_account.rotator.id}');
    expect(storageRole.principal_id).toBe('${azurerm_function_app_flex_consumption.rotator.identity[0].principal_id}');
  });

  it('gives the alert webhook (its URL holds a token) only as a Key Vault reference, or nothing', () => {
    const settings = resource('azurerm_function_app_flex_consumption', 'rotator').app_settings as Record<string, string>;
    expect(settings.ROTATOR_ALERT_WEBHOOK).toBe(
      '${var.alert_webhook_secret_name == null ? "" : "@Microsoft.KeyVault(VaultName=${var.key_vault_name};SecretName=${var.alert_webhook_secret_name})"}',
    );
    const condition = String(first(tf.variable.alert_webhook_secret_name?.[0] ?? {}, 'validation').condition);
    expect(condition).toContain('-rotator-pending');
  });

  it('writes no secret into the configuration: no access keys, connection strings or passwords in app settings', () => {
    const settings = resource('azurerm_function_app_flex_consumption', 'rotator').app_settings as Record<string, string>;
    for (const [name, value] of Object.entries(settings)) {
      expect(name).not.toMatch(/KEY$|PASSWORD|SECRET$|CONNECTION_STRING/i);
      expect(value).not.toMatch(/AccountKey=|primary_access_key|primary_connection_string|SharedAccessSignature/);
    }
    expect(text).not.toMatch(/primary_access_key|primary_connection_string|storage_access_key/);
  });

  it('alerts on failed rotations and purges from Application Insights', () => {
    const alert = resource('azurerm_monitor_scheduled_query_rules_alert_v2', 'rotation_failed');
    expect(alert.scopes).toEqual(['${azurerm_application_insights.rotator.id}']);
    const criteria = first(alert, 'criteria');
    expect(String(criteria.query)).toMatch(/rotation failed/);
    expect(String(criteria.query)).toMatch(/purge failed/);
    expect(criteria.operator).toBe('GreaterThan');
    expect(criteria.threshold).toBe(0);
  });

  it('exposes the settings an operator tunes, with checks on their values', () => {
    for (const name of ['key_vault_name', 'secret_name_prefix', 'sweep_schedule', 'purge_schedule', 'safe_window', 'keep_superseded', 'rotation_strategy']) {
      expect(tf.variable[name], name).toBeDefined();
    }
    for (const name of ['secret_name_prefix', 'safe_window', 'rotation_strategy', 'name_prefix']) {
      expect(tf.variable[name]?.[0]?.validation, `${name} is validated`).toBeDefined();
    }
    expect(Object.keys(tf.output)).toEqual(expect.arrayContaining(['function_app_name', 'rotate_now_url', 'function_app_principal_id']));
  });
});
