import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { EXIT } from '../../cli/exit-codes.js';
import { buildProgram } from '../../cli/program.js';
import { Redactor } from '../../shared/redact.js';
import { FileStore } from '../../stores/file/index.js';
import { secretFilePath } from '../../stores/file/layout.js';
import { recordSecrets } from '../support/canary.js';
import { completionTree } from '../../cli/completion.js';
import { closestId, editDistance } from '../../cli/suggest.js';
import { readVersion } from '../../cli/version.js';
import { runRotator, type CliRun } from '../support/cli.js';

/**
 * The CLI conventions of issue 12 that need no database: read-only commands on a missing store, --version, the
 * environment in --help, `secrets get --field`, "did you mean", --json everywhere, `secrets delete`, completion.
 */
let dir: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rotator-conventions-'));
  env = { ROTATOR_STORE: join(dir, 'store.json') };
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A store with `values` (id → raw value) made through the FileStore itself, so any value can be seeded. */
async function seed(values: Record<string, string>): Promise<FileStore> {
  const key = randomBytes(32);
  env.ROTATOR_STORE_KEY = key.toString('base64');
  const store = new FileStore({ path: join(dir, 'store.json'), key });
  for (const [id, value] of Object.entries(values)) await store.createSecret(id, value);
  return store;
}

function rotator(args: string[], stdin = ''): Promise<CliRun> {
  return runRotator(env, args, stdin);
}

/** Every file and directory under `root`, relative, sorted. */
function tree(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' }).sort();
}

/** A secret's file in the store at `dir`/store.json, relative to `dir`. */
function fileOf(secretId: string): string {
  return relative(dir, secretFilePath(join(dir, 'store.json'), secretId));
}

describe('read-only commands on a store that does not exist', () => {
  const readOnly: ReadonlyArray<readonly [string, string[], string]> = [
    ['secrets list', ['secrets', 'list'], 'INVALID_INPUT'],
    ['secrets describe', ['secrets', 'describe', 'db/app'], 'SECRET_NOT_FOUND'],
    ['secrets get', ['secrets', 'get', 'db/app'], 'SECRET_NOT_FOUND'],
    ['secrets get --show-value', ['secrets', 'get', 'db/app', '--show-value'], 'SECRET_NOT_FOUND'],
    ['purge --dry-run', ['purge', '--dry-run'], 'INVALID_INPUT'],
    ['purge --dry-run <id>', ['purge', '--dry-run', 'db/app'], 'SECRET_NOT_FOUND'],
    // Commands that write, but only to a secret that must already exist: nothing to create either.
    ['purge', ['purge'], 'INVALID_INPUT'],
    ['rotate', ['rotate', 'db/app'], 'SECRET_NOT_FOUND'],
    ['secrets rotation', ['secrets', 'rotation', 'db/app', '--enable'], 'SECRET_NOT_FOUND'],
    ['secrets cancel-rotation', ['secrets', 'cancel-rotation', 'db/app'], 'SECRET_NOT_FOUND'],
  ];

  for (const [name, args, code] of readOnly) {
    it(`${name}: a typed error naming the path and how to create a store; nothing is created`, async () => {
      for (const store of [join(dir, 'store.json'), join(dir, 'typo', 'deeper', 'store.json')]) {
        env.ROTATOR_STORE = store;
        const run = await rotator(args);
        expect(run.code).toBe(EXIT.USAGE);
        expect(run.stderr).toContain(`rotator: ${code}: `);
        expect(run.stderr).toContain(`there is no store at ${store}`);
        expect(run.stderr).toContain('rotator secrets put');
        expect(tree(dir)).toEqual([]);
      }
    });
  }

  it('with --json the refusal is one JSON object, and nothing is created', async () => {
    const run = await rotator(['purge', '--dry-run', '--json']);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });
    expect(tree(dir)).toEqual([]);
  });

  it('`secrets put` still creates the store and its key', async () => {
    const run = await rotator(['secrets', 'put', 'cfg/app'], '{"token":"conventions-not-secret"}');
    expect(run).toMatchObject({ code: 0, stdout: 'created cfg/app\n' });
    expect(tree(dir)).toEqual(['store.json', 'store.json.d', fileOf('cfg/app'), 'store.json.key']);
    expect((await rotator(['secrets', 'list'])).code).toBe(0);
  });
});

describe('--version and the environment in --help', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };

  it('--version and -V print package.json\'s version alone, exit 0, and touch no store', async () => {
    for (const flag of ['--version', '-V']) {
      expect(await rotator([flag])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    }
    expect(tree(dir)).toEqual([]);
  });

  it('finds package.json from the sources (cli/) and from the build (dist/cli/)', () => {
    expect(readVersion(join(root, 'cli'))).toBe(pkg.version);
    expect(readVersion(join(root, 'dist', 'cli'))).toBe(pkg.version);
  });

  it('--help lists every variable the CLI reads, one line each', async () => {
    const help = await rotator(['--help']);
    expect(help.code).toBe(0);
    const config = readFileSync(join(root, 'shared', 'config.ts'), 'utf8');
    const schema = config.slice(config.indexOf('const configSchema'), config.indexOf('});', config.indexOf('const configSchema')));
    const fromConfig = [...schema.matchAll(/^ {2}([A-Z_]+):/gm)].map((m) => m[1] ?? '');
    expect(fromConfig.length).toBeGreaterThan(10);
    for (const name of new Set([...fromConfig, 'ROTATOR_STORE_KEY'])) {
      expect(help.stdout).toMatch(new RegExp(`^ {2}${name} +\\S.*$`, 'm'));
    }
  });
});

describe('secrets get --field', () => {
  const password = `Field-${randomBytes(9).toString('base64url')}-pw`;
  const opaque = `opaque-${randomBytes(9).toString('base64url')}`;
  recordSecrets(password, opaque);
  const value = { engine: 'postgres', host: 'db.internal', port: 5432, username: 'app', password, ssl: true, extra: { a: 1 } };

  beforeEach(async () => {
    await seed({ 'db/app': JSON.stringify(value), 'raw/text': opaque, 'raw/array': JSON.stringify([opaque]) });
  });

  it('prints one field alone: a string as it is, anything else as JSON', async () => {
    expect(await rotator(['secrets', 'get', 'db/app', '--field', 'password'])).toEqual({ code: 0, stdout: `${password}\n`, stderr: '' });
    expect((await rotator(['secrets', 'get', 'db/app', '--field=username'])).stdout).toBe('app\n');
    expect((await rotator(['secrets', 'get', 'db/app', '--field', 'port'])).stdout).toBe('5432\n');
    expect((await rotator(['secrets', 'get', 'db/app', '--field', 'ssl'])).stdout).toBe('true\n');
    expect((await rotator(['secrets', 'get', 'db/app', '--field', 'extra'])).stdout).toBe('{"a":1}\n');
  });

  it('a missing field, a non-JSON value or a JSON array is a typed error that prints nothing of the value', async () => {
    const cases: ReadonlyArray<readonly [string[], string, RegExp]> = [
      [['secrets', 'get', 'db/app', '--field', 'pasword'], 'INVALID_INPUT', /the value of db\/app has no field "pasword"/],
      [['secrets', 'get', 'db/app', '--field', 'toString'], 'INVALID_INPUT', /has no field "toString"/],
      [['secrets', 'get', 'db/app', '--field', 'bad\nname'], 'INVALID_INPUT', /has no field "bad\\nname"/],
      [['secrets', 'get', 'raw/text', '--field', 'password'], 'INVALID_SECRET', /the value of raw\/text is not valid JSON/],
      [['secrets', 'get', 'raw/array', '--field', 'password'], 'INVALID_SECRET', /the value of raw\/array must be a JSON object/],
      [['secrets', 'get', 'db/app', '--field', ''], 'INVALID_INPUT', /--field needs a field name/],
      [['secrets', 'get', 'db/app', '--field', 'password', '--show-value'], 'INVALID_INPUT', /either --show-value or --field/],
    ];
    for (const [args, code, message] of cases) {
      const run = await rotator(args);
      expect(run.code).toBe(EXIT.USAGE);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(new RegExp(`^rotator: ${code}: `));
      expect(run.stderr).toMatch(message);
      expect(run.stderr).not.toContain(password);
      expect(run.stderr).not.toContain(opaque);
    }
  });
});

describe('did you mean', () => {
  it('suggests commands and options (commander), with exit 2', async () => {
    const command = await rotator(['secrets', 'lst']);
    expect(command.code).toBe(EXIT.USAGE);
    expect(command.stderr).toContain("unknown command 'lst'\n(Did you mean list?)");
    expect((await rotator(['rotat', 'db/app'])).stderr).toContain('(Did you mean rotate?)');
    const option = await rotator(['secrets', 'get', 'db/app', '--show-valu']);
    expect(option.code).toBe(EXIT.USAGE);
    expect(option.stderr).toContain("unknown option '--show-valu'\n(Did you mean --show-value?)");
  });

  it('on SECRET_NOT_FOUND names the closest existing id, only when it is close', async () => {
    await seed({ 'db/app': '{"engine":"none"}', 'db/billing': '{"engine":"none"}', 'keys/mail': '{"engine":"none"}' });
    for (const args of [['secrets', 'describe', 'db/ap'], ['secrets', 'get', 'db/apps'], ['rotate', 'db/qpp'], ['secrets', 'cancel-rotation', 'db/aps'], ['secrets', 'rotation', 'db/app2', '--enable']]) {
      const run = await rotator(args);
      expect(run.code).toBe(EXIT.USAGE);
      expect(run.stderr).toMatch(/^rotator: SECRET_NOT_FOUND: secret \S+ does not exist in .* \(did you mean db\/app\?\)$/m);
    }
    expect((await rotator(['secrets', 'describe', 'db/biling'])).stderr).toContain('(did you mean db/billing?)');
    const far = await rotator(['secrets', 'describe', 'web/other']);
    expect(far.stderr).toMatch(/SECRET_NOT_FOUND/);
    expect(far.stderr).not.toContain('did you mean');
  });

  it('edit distance and closeness', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(closestId('db/ap', ['db/app', 'db/apx'])).toBe('db/app');
    expect(closestId('a/b', ['a/c'])).toBeUndefined(); // one edit in three characters is not close
    expect(closestId('db/app', ['db/app'])).toBeUndefined();
    expect(closestId('prod/db/main', ['prod/db/mian', 'prod/db/maim'])).toBe('prod/db/maim');
  });
});

/** Every command that runs something (no subcommands of its own), by its full name. */
function leafCommands(command: Command, prefix: string[] = []): Array<{ name: string; command: Command }> {
  return command.commands.flatMap((c) => {
    const path = [...prefix, c.name()];
    return c.commands.length === 0 ? [{ name: path.join(' '), command: c }] : leafCommands(c, path);
  });
}

describe('--json on every command; aligned tables', () => {
  const io = { env: {}, stdout: () => undefined, stderr: () => undefined, readStdin: () => Promise.resolve('') };

  it('every command that prints a result has --json', () => {
    const leaves = leafCommands(buildProgram(io, { json: false, redactor: new Redactor() }));
    expect(leaves.length).toBeGreaterThan(8);
    const without = leaves.filter((l) => !l.command.options.some((o) => o.long === '--json')).map((l) => l.name);
    // A shell script is not JSON; `run` prints nothing of its own (what is on stdout is its command's).
    expect(without).toEqual(leaves.filter((l) => l.name === 'completion' || l.name === 'run').map((l) => l.name));
  });

  it('success is one JSON object (or the list array) on stdout, and an error is {ok:false} with its exit code', async () => {
    const password = `Json-${randomBytes(9).toString('base64url')}-pw`;
    recordSecrets(password);
    const value = JSON.stringify({ engine: 'api-key-none', token: password });
    const put = await rotator(['secrets', 'put', 'cfg/app', '--json'], value);
    expect(put.code).toBe(0);
    expect(JSON.parse(put.stdout)).toEqual({ ok: true, secretId: 'cfg/app', action: 'created', rotation: { enabled: false } });
    const again = JSON.parse((await rotator(['secrets', 'put', 'cfg/app', '--json'], value)).stdout) as Record<string, unknown>;
    expect(again).toMatchObject({ ok: true, secretId: 'cfg/app', action: 'updated', cancelledVersionId: null });
    expect(typeof again.versionId).toBe('string');
    expect(JSON.parse((await rotator(['secrets', 'rotation', 'cfg/app', '--keep', '2', '--json'])).stdout)).toEqual({
      ok: true,
      secretId: 'cfg/app',
      rotation: { enabled: false, keepSuperseded: 2 },
    });
    expect(JSON.parse((await rotator(['secrets', 'cancel-rotation', 'cfg/app', '--json'])).stdout)).toEqual({ ok: true, secretId: 'cfg/app', cancelledVersionId: null });
    const get = await rotator(['secrets', 'get', 'cfg/app', '--json']);
    expect(JSON.parse(get.stdout)).toMatchObject({ ok: true, secretId: 'cfg/app', versionId: again.versionId, stages: ['CURRENT'], bytes: value.length });
    expect(get.stdout).not.toContain(password);
    expect(JSON.parse((await rotator(['secrets', 'get', 'cfg/app', '--json', '--field', 'token'])).stdout)).toMatchObject({ field: 'token', value: password });
    expect(JSON.parse((await rotator(['secrets', 'get', 'cfg/app', '--json', '--show-value'])).stdout)).toMatchObject({ value });
    expect(JSON.parse((await rotator(['secrets', 'describe', 'cfg/app', '--json'])).stdout)).toMatchObject({ secretId: 'cfg/app' });
    expect(JSON.parse((await rotator(['secrets', 'list', '--json'])).stdout)).toEqual([{ secretId: 'cfg/app', rotation: { enabled: false, keepSuperseded: 2 }, versionCount: 2 }]);
    expect(JSON.parse((await rotator(['purge', '--dry-run', '--json'])).stdout)).toMatchObject({ dryRun: true, failed: 0 });

    const errors: ReadonlyArray<readonly [string[], string, number]> = [
      [['secrets', 'describe', 'cfg/nope', '--json'], 'SECRET_NOT_FOUND', EXIT.USAGE],
      [['secrets', 'get', 'cfg/app', '--field', 'nope', '--json'], 'INVALID_INPUT', EXIT.USAGE],
      [['secrets', 'get', 'cfg/app', '--stage', 'LATEST', '--json'], 'INVALID_INPUT', EXIT.USAGE],
      [['secrets', 'rotation', 'cfg/app', '--enable', '--disable', '--json'], 'INVALID_INPUT', EXIT.USAGE],
      [['secrets', 'cancel-rotation', 'cfg/nope', '--json'], 'SECRET_NOT_FOUND', EXIT.USAGE],
      [['secrets', 'put', 'cfg/bad', '--json'], 'INVALID_INPUT', EXIT.USAGE],
      [['rotate', 'cfg/app', '--json'], 'ROTATION_DISABLED', EXIT.USAGE],
    ];
    for (const [args, code, exit] of errors) {
      const run = await rotator(args);
      expect(run.code, args.join(' ')).toBe(exit);
      expect(run.stderr).toBe('');
      expect(JSON.parse(run.stdout)).toMatchObject({ ok: false, error: { code, retryable: false } });
    }
    env.ROTATOR_STORE = join(dir, 'absent.json');
    expect(JSON.parse((await rotator(['secrets', 'list', '--json'])).stdout)).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });
  });

  it('secrets list aligns its columns', async () => {
    await seed({ a: '{}', 'db/longer-name': '{}', 'db/mid': '{}' });
    await new FileStore({ path: join(dir, 'store.json'), key: Buffer.from(env.ROTATOR_STORE_KEY ?? '', 'base64') }).updateRotation('db/mid', { enabled: true });
    expect((await rotator(['secrets', 'list'])).stdout).toBe(
      'a               rotation disabled  1 version(s)\n' +
        'db/longer-name  rotation disabled  1 version(s)\n' +
        'db/mid          rotation enabled   1 version(s)\n',
    );
  });
});

describe('secrets delete', () => {
  it('without --yes refuses (exit 2), saying what would be deleted, and deletes nothing', async () => {
    const store = await seed({ 'db/app': '{"a":1}', 'db/other': '{"b":2}' });
    await store.putValue('db/app', '{"a":2}');
    const run = await rotator(['secrets', 'delete', 'db/app']);
    expect(run.code).toBe(EXIT.USAGE);
    expect(run.stderr).toBe('rotator: INVALID_INPUT: not deleted: this would delete secret db/app and its 2 version(s) (PREVIOUS, CURRENT); add --yes to delete it\n');
    expect(await store.listSecretIds()).toEqual(['db/app', 'db/other']);
    const json = await rotator(['secrets', 'delete', 'db/app', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', message: expect.stringContaining('add --yes') as string } });
  });

  it('with --yes removes the secret and all its versions, and leaves the others', async () => {
    const store = await seed({ 'db/app': '{"a":1}', 'db/other': '{"b":2}' });
    await store.putValue('db/app', '{"a":2}');
    expect(await rotator(['secrets', 'delete', 'db/app', '--yes'])).toMatchObject({ code: 0, stdout: 'deleted secret db/app and its 2 version(s) (PREVIOUS, CURRENT)\n' });
    expect(await store.listSecretIds()).toEqual(['db/other']);
    // db/app's file is gone, and the rotation lock was released
    expect(tree(dir)).toEqual(['store.json', 'store.json.d', fileOf('db/other'), 'store.json.locks']);
    expect((await rotator(['secrets', 'get', 'db/app'])).stderr).toMatch(/^rotator: SECRET_NOT_FOUND: /);
    expect(JSON.parse((await rotator(['secrets', 'delete', 'db/other', '--yes', '--json'])).stdout)).toEqual({ ok: true, secretId: 'db/other', deletedVersions: 1 });
    expect(await store.listSecretIds()).toEqual([]);
  });

  it('refuses while a rotation holds the lock (ROTATION_IN_PROGRESS, exit 75), and a missing secret with did you mean', async () => {
    const store = await seed({ 'db/app': '{"a":1}' });
    const lease = await store.lockRotation('db/app');
    try {
      const run = await rotator(['secrets', 'delete', 'db/app', '--yes']);
      expect(run.code).toBe(EXIT.RETRY);
      expect(run.stderr).toMatch(/^rotator: ROTATION_IN_PROGRESS: /);
      expect(await store.listSecretIds()).toEqual(['db/app']);
    } finally {
      await lease.release();
    }
    const missing = await rotator(['secrets', 'delete', 'db/ap', '--yes']);
    expect(missing.code).toBe(EXIT.USAGE);
    expect(missing.stderr).toMatch(/SECRET_NOT_FOUND: .*\(did you mean db\/app\?\)/);
    env.ROTATOR_STORE = join(dir, 'absent', 'store.json');
    expect((await rotator(['secrets', 'delete', 'db/app', '--yes'])).stderr).toMatch(/SECRET_NOT_FOUND: secret db\/app does not exist: there is no store at /);
    expect(tree(dir)).toEqual(['store.json', 'store.json.d', fileOf('db/app'), 'store.json.locks']);
  });
});

describe('completion bash|zsh|fish', () => {
  const io = { env: {}, stdout: () => undefined, stderr: () => undefined, readStdin: () => Promise.resolve('') };
  const tree = completionTree(buildProgram(io, { json: false, redactor: new Redactor() }));

  it('each script names every command and option of the program (it is generated from it)', async () => {
    expect(tree.map((n) => n.path)).toEqual(expect.arrayContaining(['', ' secrets', ' secrets delete', ' secrets get', ' rotate', ' purge', ' gcp reconcile-jobs', ' completion']));
    for (const shell of ['bash', 'zsh', 'fish']) {
      const run = await rotator(['completion', shell]);
      expect(run.code).toBe(0);
      expect(run.stderr).toBe('');
      for (const node of tree) {
        for (const w of [...node.subcommands, ...node.options]) {
          const word = shell === 'fish' ? w.word.replace(/^--?/, '') : w.word;
          expect(run.stdout, `${shell}: ${node.path} ${w.word}`).toContain(word);
        }
      }
    }
    expect((await rotator(['completion', 'powershell'])).code).toBe(EXIT.USAGE);
  });

  it('the bash script completes commands, subcommands, options and choices', async () => {
    const script = (await rotator(['completion', 'bash'])).stdout;
    const complete = (line: string): string[] => {
      const words = line.split(' ');
      const program = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _rotator; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const result = spawnSync('bash', ['--norc', '--noprofile', '-c', program], { encoding: 'utf8' });
      expect(result.stderr).toBe('');
      return result.stdout.split('\n').filter((l) => l !== '');
    };
    expect(complete('rotator se')).toEqual(['secrets']);
    expect(complete('rotator secrets d')).toEqual(['delete', 'describe']);
    expect(complete('rotator --store /tmp/s.json secrets get db/app --f')).toEqual(['--field']);
    expect(complete('rotator secrets get db/app --stage C')).toEqual([]); // a value: left to the shell's default
    expect(complete('rotator gcp reconcile-jobs --project p --')).toContain('--rotate-url');
    expect(complete('rotator completion ')).toEqual(['bash', 'zsh', 'fish', '--help']);
    expect(complete('rotator rotate --j')).toEqual(['--json']);
  });
});
