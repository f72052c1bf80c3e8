import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// The leak canary's directory, made before the workers start so they inherit it (test/support/canary.ts).
process.env.ROTATOR_CANARY_DIR ??= mkdtempSync(join(tmpdir(), 'rotator-canary-'));

const GLOBAL_SETUP = 'test/support/global-setup.ts';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Mirrors each worker's output into the leak canary and registers every value its Redactors learn.
    setupFiles: ['test/support/capture-output.ts'],
    // Each project's global setup (test/support/global-setup.ts, by project name): the leak canary for both; the
    // password-enforcing PostgreSQL and the MariaDB only for `integration` (everything outside test/unit). vitest
    // runs a project's global setup only when it has files to run, so `vitest run test/unit` (or `--project unit`)
    // needs no database server binaries. Not at the root: the root project's setup would always run.
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], globalSetup: [GLOBAL_SETUP] } },
      {
        extends: true,
        test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: ['test/unit/**', '**/node_modules/**'], globalSetup: [GLOBAL_SETUP] },
      },
    ],
  },
});
