import type { CliIO } from '../../cli/context.js';
import { runCli } from '../../cli/program.js';
import { recordOutput } from './canary.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The `rotator` command line in-process (fast, exact output), with `stdin` as its standard input. What it prints goes
 * to the leak canary, except the stdout of `--show-value` and `--field`, which print a secret because they were asked to.
 * `surroundings` points the cloud stores and the `gcp` commands (`aws`, `azure`, `google`) and the alert webhook (`post`)
 * at local fakes, says whether stderr is a terminal (`isTTY`), and sets the clock schedules are judged by (`now`).
 */
export async function runRotator(
  env: NodeJS.ProcessEnv,
  args: readonly string[],
  stdin = '',
  surroundings: Pick<CliIO, 'aws' | 'azure' | 'google' | 'post' | 'isTTY' | 'now'> = {},
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    env,
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    readStdin: () => Promise.resolve(stdin),
    ...surroundings,
  });
  // --show-value and --field print (part of) a secret on stdout because they were asked to; stderr never may.
  const asked = args.some((a) => a === '--show-value' || a === '--field' || a.startsWith('--field='));
  recordOutput(asked ? stderr : stdout + stderr);
  return { code, stdout, stderr };
}
