import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// The leak canary's directory, made before the workers start so they inherit it (test/support/canary.ts).
process.env.ROTATOR_CANARY_DIR ??= mkdtempSync(join(tmpdir(), 'rotator-canary-'));

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Starts the password-enforcing PostgreSQL the integration tests share (test/support/global-setup.ts).
    globalSetup: ['test/support/global-setup.ts'],
    // Mirrors each worker's output into the leak canary.
    setupFiles: ['test/support/capture-output.ts'],
  },
});
