import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * What the Azure Functions host needs from the published folder: host.json (v2, with the extension bundle that holds
 * the Event Grid trigger), package.json's `main` pointing at the compiled app that registers the functions, and a
 * .funcignore that leaves the compiled code and production dependencies in.
 */
const root = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url));

describe('the Azure Functions package', () => {
  it('host.json is version 2.0 with the 4.x extension bundle (Event Grid and timer triggers live there)', () => {
    const host = JSON.parse(readFileSync(root('host.json'), 'utf8')) as { version: string; extensionBundle?: { id: string; version: string } };
    expect(host.version).toBe('2.0');
    expect(host.extensionBundle?.id).toBe('Microsoft.Azure.Functions.ExtensionBundle');
    expect(host.extensionBundle?.version).toMatch(/^\[4\.\*/);
  });

  it("package.json's main is the compiled functions/azure/app.ts", () => {
    const pkg = JSON.parse(readFileSync(root('package.json'), 'utf8')) as { main?: string };
    expect(pkg.main).toBe('dist/functions/azure/app.js');
    expect(existsSync(root('functions/azure/app.ts'))).toBe(true);
  });

  it('.funcignore keeps dist/ and node_modules/ in the published folder and leaves tests and sources out', () => {
    const ignored = readFileSync(root('.funcignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l.length > 0 && !l.startsWith('#'));
    expect(ignored).not.toContain('dist');
    expect(ignored).not.toContain('node_modules');
    expect(ignored).toEqual(expect.arrayContaining(['test', '*.ts']));
  });
});
