import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { describe, expect, it } from 'vitest';
import { checkVaultUrl, createKeyVaultClient, defaultKeyVaultCredential } from '../../stores/azure/client.js';

/** Building a client or a credential makes no network call, so these run without the fake. */
describe('defaultKeyVaultCredential', () => {
  it('uses the user-assigned managed identity AZURE_CLIENT_ID names, so a missing identity cannot fall through to another', () => {
    expect(defaultKeyVaultCredential({ AZURE_CLIENT_ID: '11111111-2222-3333-4444-555555555555' })).toBeInstanceOf(ManagedIdentityCredential);
  });

  it('uses DefaultAzureCredential without AZURE_CLIENT_ID, or when it belongs to a service principal', () => {
    expect(defaultKeyVaultCredential({})).toBeInstanceOf(DefaultAzureCredential);
    expect(defaultKeyVaultCredential({ AZURE_CLIENT_ID: ' ' })).toBeInstanceOf(DefaultAzureCredential);
    for (const extra of ['AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH', 'AZURE_FEDERATED_TOKEN_FILE']) {
      expect(defaultKeyVaultCredential({ AZURE_CLIENT_ID: 'id', [extra]: 'x' }), extra).toBeInstanceOf(DefaultAzureCredential);
    }
  });

  it('is what createKeyVaultClient uses when no credential is passed', () => {
    expect(createKeyVaultClient({ vaultUrl: 'https://my-vault.vault.azure.net', env: {} }).vaultUrl).toBe('https://my-vault.vault.azure.net');
  });
});

describe('checkVaultUrl', () => {
  it('accepts a vault origin in each Azure cloud, normalised', () => {
    expect(checkVaultUrl('https://My-Vault.vault.azure.net/')).toBe('https://my-vault.vault.azure.net');
    expect(checkVaultUrl('https://kv1.vault.azure.cn:443')).toBe('https://kv1.vault.azure.cn');
  });

  it.each([
    ['http://my-vault.vault.azure.net', /must use https/],
    ['https://my-vault.vault.azure.net.attacker.example', /is not a Key Vault/],
    ['https://attacker.example/my-vault.vault.azure.net', /without a path/],
    ['https://my-vault.vault.azure.net?x=1', /without a path, query/],
    ['https://my-vault.vault.azure.net#frag', /without a path, query or fragment/],
    ['https://a.b.vault.azure.net', /is not a Key Vault/],
    ['https://my--vault.vault.azure.net', /is not a Key Vault/],
    ['https://my-vault.managedhsm.azure.net', /is not a Key Vault/],
    ['https://127.0.0.1:8443', /is not a Key Vault/],
    ['https://localhost', /is not a Key Vault/],
    ['ftp://my-vault.vault.azure.net', /must use https, not ftp/],
    ['', /not a valid URL/],
  ])('refuses %s', (url, message) => {
    expect(() => checkVaultUrl(url)).toThrow(message);
  });

  it('never echoes credentials in the URL, and allows loopback only when asked (tests)', () => {
    expect(() => checkVaultUrl('https://admin:s3cr3t-pw@my-vault.vault.azure.net')).toThrow(/must not carry a user name or password/);
    try {
      checkVaultUrl('https://admin:s3cr3t-pw@attacker.example');
    } catch (error) {
      expect((error as Error).message).not.toContain('s3cr3t-pw');
    }
    expect(checkVaultUrl('https://127.0.0.1:8443', true)).toBe('https://127.0.0.1:8443');
    expect(checkVaultUrl('https://[::1]:8443', true)).toBe('https://[::1]:8443');
    expect(() => checkVaultUrl('http://127.0.0.1:8443', true)).toThrow(/must use https/);
  });
});
