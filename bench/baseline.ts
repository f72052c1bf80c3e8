/**
 * An earlier commit checked out beside the working tree, for benchmarks that measure the current build against the
 * previous one in the same run (interleaved, so both see the same machine load). The checkout is a detached git
 * worktree in a temporary directory that shares this tree's node_modules: dependencies the baseline pins differently
 * are taken at the current versions, which keeps the comparison about our code.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface Baseline {
  /** The checkout's root: the same layout as the repository. */
  dir: string;
  /** The commit checked out, in full. */
  sha: string;
  /** `<short sha> <subject>`, for reports. */
  label: string;
  /** Removes the worktree and its directory. */
  remove: () => void;
}

/** The repository root: the nearest directory above this module with serverless.yml (from bench/ or dist/bench/). */
export function repoRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'serverless.yml'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('serverless.yml not found above bench/');
    dir = parent;
  }
  return dir;
}

function git(repo: string, args: readonly string[]): string {
  return execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Checks out `ref` (a commit, tag, branch or `HEAD~1`) of `repo`; a ref that is not a commit is refused. */
export function checkoutBaseline(repo: string, ref: string): Baseline {
  // A ref is handed to git as an argument: one starting with "-" would be read as an option.
  if (ref.length === 0 || ref.startsWith('-') || /[\s\0]/.test(ref)) throw new Error(`--baseline is "${ref}"; name a commit, e.g. HEAD~1`);
  let sha: string;
  try {
    sha = git(repo, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  } catch {
    throw new Error(`--baseline is "${ref}", which is not a commit of this repository`);
  }
  const dir = mkdtempSync(join(tmpdir(), `rotator-baseline-${sha.slice(0, 8)}-`));
  git(repo, ['worktree', 'add', '--quiet', '--detach', dir, sha]);
  const modules = join(repo, 'node_modules');
  if (existsSync(modules)) symlinkSync(modules, join(dir, 'node_modules'));
  const label = git(repo, ['log', '-1', '--format=%h %s', sha]);
  return {
    dir,
    sha,
    label: label.length > 72 ? `${label.slice(0, 71)}…` : label,
    remove: () => {
      try {
        git(repo, ['worktree', 'remove', '--force', dir]);
      } catch {
        // Already gone (or never registered): the directory is removed below either way.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
