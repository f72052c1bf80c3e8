import { randomBytes } from 'node:crypto';
import type { AzureHandlers } from '../../functions/azure/register.js';
import { recordOutput } from './canary.js';

/**
 * A Key Vault SecretNearExpiry event as Event Grid delivers it in the CloudEvents 1.0 schema (what infra/azure
 * subscribes with), with the quirks of Microsoft's own sample: PascalCase data keys, NBF as a string, EXP a number.
 * The version id is random, so no fixed string of a test can collide with a value another test registers.
 */
export function nearExpiryEvent(name: string, vault: string, time = new Date()): Record<string, unknown> {
  return {
    id: `evt-${name}-${time.getTime()}`,
    source: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/${vault}`,
    subject: name,
    type: 'Microsoft.KeyVault.SecretNearExpiry',
    time: time.toISOString(),
    specversion: '1.0',
    data: { Id: `https://${vault}.vault.azure.net/secrets/${name}/${randomBytes(16).toString('hex')}`, VaultName: vault, ObjectType: 'Secret', ObjectName: name, NBF: '1559081980', EXP: 1559082102 },
  };
}

/**
 * The four handlers, with everything they return (HTTP answers, reports, outcomes) handed to the leak canary: an
 * answer is an output channel like a log line.
 */
export function recordingHandlers(handlers: AzureHandlers): AzureHandlers {
  const record = <R>(result: R): R => {
    recordOutput(`${JSON.stringify(result)}\n`);
    return result;
  };
  return {
    secretNearExpiry: async (event, context) => record(await handlers.secretNearExpiry(event, context)),
    rotateSweep: async (timer, context) => record(await handlers.rotateSweep(timer, context)),
    rotate: async (request, context) => record(await handlers.rotate(request, context)),
    purge: async (timer, context) => record(await handlers.purge(timer, context)),
  };
}
