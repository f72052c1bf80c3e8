import { expect } from 'vitest';
import type { SecretStore } from '../../shared/store.js';
import { runRotator, type CliRun } from '../support/cli.js';

/**
 * What every hostile case shares: the inputs an attacker or a careless user sends, a way to run the real entry
 * point, and the proof that nothing changed (the store's versions and labels, compared before and after).
 */

/** Characters no id or connection field may carry: each can cut a protocol field or forge a line of output. */
export const CONTROL_CHARACTERS: ReadonlyArray<readonly [string, string]> = [
  ['NUL', '\u0000'],
  ['CR', '\r'],
  ['LF', '\n'],
  ['ESC', '\u001b'],
  ['DEL', '\u007f'],
  ['C1 NEL', '\u0085'],
  ['LINE SEPARATOR', '\u2028'],
];

/** Printed output must never carry a raw control character taken from input (TAB and LF of our own lines aside). */
export function expectNoRawControl(text: string): void {
  // eslint-disable-next-line no-control-regex
  expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
}

export type { CliRun } from '../support/cli.js';

/** The `rotator` command line in-process, with its output handed to the leak canary. */
export const cli = runRotator;

/** Every secret's rotation settings, versions, labels and whether each has a value: what "nothing mutated" compares. */
export async function snapshot(store: SecretStore): Promise<unknown> {
  const ids = (await store.listSecretIds()).sort();
  const out: Record<string, unknown> = {};
  for (const id of ids) {
    const info = await store.describe(id);
    out[id] = {
      rotation: info.rotation,
      versions: info.versions
        .map((v) => ({ versionId: v.versionId, stages: [...v.stages].sort(), hasValue: v.hasValue }))
        .sort((a, b) => a.versionId.localeCompare(b.versionId)),
    };
  }
  return out;
}

/** The text of `error.code` and the message of a CLI failure printed as `rotator: CODE: message`. */
export function cliError(run: CliRun): { code: string; message: string } {
  const match = /^rotator: ([A-Z_]+): (.*)$/m.exec(run.stderr);
  if (match === null) throw new Error(`expected a typed CLI error, got exit ${run.code}: ${JSON.stringify(run.stderr.slice(0, 300))}`);
  return { code: match[1] ?? '', message: match[2] ?? '' };
}
