import { join } from 'node:path';
import { RotatorError } from '../../shared/errors.js';
import { serializeManifest, serializeSecret, type LegacyDocument } from './format.js';
import { ensureDir, listNames, readIfExists, writeFileAtomic } from './io.js';
import { isSecretFileName, secretFileName, secretTempPath, secretsDir } from './layout.js';
import { mapBounded } from '../../shared/fleet.js';

/** Files written at once while migrating: enough to overlap their fsyncs, few enough for any file-descriptor limit. */
const MIGRATION_WRITES_IN_FLIGHT = 16;

/**
 * Turns a version-1 store (one document at the store path) into version 2 (a manifest there, one file per secret in
 * the directory beside it). The caller holds the store lock and has verified the document: its key check and every
 * value. Nothing is re-encrypted: each value keeps its ciphertext, bound to the same secret and version id.
 *
 * Crash-safe at every point, because the document stays the store until the last step and every other step is
 * repeatable:
 * 1. Each secret's file is written atomically. Its bytes depend only on the document, so a file already there from an
 *    interrupted run is byte for byte what this run would write, and is kept.
 * 2. The manifest replaces the document atomically: that rename is the migration.
 * A crash before 2 leaves the document, still read as the store, and some of its files, which the next write finds
 * and completes; a crash after leaves a migrated store. While the document is at the store path no version-2 writer
 * touches the directory (each migrates first, under the same lock), so a secret file there that is *not* what the
 * document would produce did not come from an interrupted migration (a version-1 backup restored over a migrated
 * store, or a version-1 Rotator that wrote after one): the migration refuses it, changing nothing, rather than
 * overwrite or delete a version.
 */
export async function migrateLegacyStore(storePath: string, doc: LegacyDocument): Promise<void> {
  const dir = secretsDir(storePath);
  const files = new Map(doc.secrets.map((secret) => [secretFileName(secret.secretId), serializeSecret(secret)]));
  await ensureDir(dir);
  const existing = new Set((await listNames(dir)).filter(isSecretFileName));
  await mapBounded([...existing], MIGRATION_WRITES_IN_FLIGHT, async (name) => {
    const found = await readIfExists(join(dir, name));
    if (found === undefined) return;
    if (found !== files.get(name)) {
      throw new RotatorError(
        'STORE_CORRUPT',
        `cannot migrate the store file ${storePath} (format version 1) to one file per secret: ${join(dir, name)} is not part of it, ` +
          `so ${dir} holds secrets from elsewhere (a newer store this file was restored over?). Nothing was changed; ` +
          `keep the store you want: move ${dir} aside to migrate this file, or restore the store file that goes with ${dir}`,
      );
    }
  });
  const missing = [...files].filter(([name]) => !existing.has(name));
  await mapBounded(missing, MIGRATION_WRITES_IN_FLIGHT, async ([name, data]) => {
    const file = join(dir, name);
    await writeFileAtomic(file, data, secretTempPath(file));
  });
  await writeFileAtomic(storePath, serializeManifest(doc.keyCheck));
}
