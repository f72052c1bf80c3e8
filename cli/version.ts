import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The version in Rotator's package.json, read only when `--version` asks (no JSON import at startup). The file is
 * one directory up from cli/ in the sources and two from dist/cli/ in the build, so the nearest package.json named
 * "rotator" above this module is the one.
 */
export function readVersion(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (let depth = 0; depth < 4; depth += 1) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'rotator' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // no package.json here (or not ours): look one level up
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return 'unknown';
}
