import { execFile, spawn, spawnSync, type ChildProcess, type ExecFileOptions, type SpawnOptions, type SpawnSyncOptions, type SpawnSyncReturns } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { LEARN_PRELOAD, canaryDir, recordOutput } from './canary.js';

/**
 * The one way tests start processes, so the leak canary sees everything they print and every value they learn:
 * each stream a child writes goes to the canary as it arrives (a file per child and stream, so a secret split
 * across two chunks is still found whole), and the child's environment carries the canary directory and a
 * preload that registers every value its Redactors learn (canary.ts, LEARN_PRELOAD). Shaped like node's own
 * spawn / spawnSync / execFile, so a call site changes its function name and nothing else.
 */

let counter = 0;

/** The environment a child runs with: the test's, plus the canary's directory and preload. */
export function childEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const dir = canaryDir();
  if (dir === undefined) return env;
  const options = env.NODE_OPTIONS ?? '';
  return { ...env, ROTATOR_CANARY_DIR: dir, NODE_OPTIONS: options.includes(LEARN_PRELOAD) ? options : `${options} --import=${LEARN_PRELOAD}`.trim() };
}

function fileFor(stream: 'stdout' | 'stderr', pid: number | undefined): string {
  counter += 1;
  return `${process.pid}-${String(pid ?? 'x')}-${counter}.${stream}`;
}

function tap(stream: Readable, name: 'stdout' | 'stderr', pid: number | undefined): void {
  const file = fileFor(name, pid);
  const decoder = new StringDecoder('utf8');
  stream.on('data', (chunk: Buffer | string) => recordOutput(typeof chunk === 'string' ? chunk : decoder.write(chunk), 'child', file));
  stream.on('end', () => recordOutput(decoder.end(), 'child', file));
}

/** A child whose stdout and stderr are pipes (the canary reads them; the test may too). */
export type CapturedChild = ChildProcess & { stdout: Readable; stderr: Readable };

/**
 * spawn(), with stdout and stderr always piped (an inherited descriptor would write past the canary) and recorded
 * for the canary. stdin is as `options.stdio` says (a string or the first entry of an array; default pipe).
 */
export function spawnChild(command: string, args: readonly string[], options: SpawnOptions = {}): CapturedChild {
  const stdin = (Array.isArray(options.stdio) ? options.stdio[0] : options.stdio) ?? 'pipe';
  const child = spawn(command, args, { ...options, stdio: [stdin as 'pipe', 'pipe', 'pipe'], env: childEnv(options.env) });
  tap(child.stdout, 'stdout', child.pid);
  tap(child.stderr, 'stderr', child.pid);
  return child;
}

/** spawnSync() with utf8 output, recorded for the canary. */
export function spawnChildSync(command: string, args: readonly string[], options: Omit<SpawnSyncOptions, 'encoding'> = {}): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { ...options, env: childEnv(options.env), encoding: 'utf8' });
  if (typeof result.stdout === 'string') recordOutput(result.stdout, 'child', fileFor('stdout', result.pid));
  if (typeof result.stderr === 'string') recordOutput(result.stderr, 'child', fileFor('stderr', result.pid));
  return result;
}

/** A promisified execFile() with utf8 output, recorded for the canary (also when it fails). */
export function execFileChild(command: string, args: readonly string[], options: ExecFileOptions = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { ...options, env: childEnv(options.env), encoding: 'utf8' }, (error, stdout, stderr) => {
      recordOutput(stdout, 'child', fileFor('stdout', child.pid));
      recordOutput(stderr, 'child', fileFor('stderr', child.pid));
      if (error === null) resolve({ stdout, stderr });
      else reject(Object.assign(error as Error, { stdout, stderr }));
    });
  });
}
