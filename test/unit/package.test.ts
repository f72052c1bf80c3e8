import { execFile, execFileSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';

/**
 * The package as someone who depends on it gets it: `npm pack`'s file list (the build's output, README, LICENSE and
 * nothing else), the `exports` map (the documented entry points, each with its declarations, and no way in to
 * anything else), and each entry point loaded by a fresh `node` through the package's own name, exposing exactly its
 * documented names and loading only the SDKs it needs. The build runs in `prepare`, so `npm ci` leaves dist/ in place;
 * without it these tests fail, since what they check is the build.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

interface EntryPoint {
  subpath: string;
  /** The runtime exports, sorted. */
  values: string[];
  /** The type-only exports. */
  types: string[];
  /** Which of package.json's dependencies loading it imports (the SDK a store needs, and no other). */
  dependencies: string[];
}

const reader: Omit<EntryPoint, 'subpath'> = {
  values: ['RotatorError', 'createSecretReader', 'isAuthenticationError'],
  types: ['ErrorCode', 'SecretObject', 'SecretReader', 'SecretReaderOptions', 'SecretStore'],
  dependencies: ['zod'],
};

// The public surface: README, "Reading secrets in your application", documents each of these.
const ENTRY_POINTS: EntryPoint[] = [
  { subpath: '.', ...reader },
  { subpath: './reader', ...reader },
  { subpath: './middy', values: ['rotatorSecret'], types: ['ContextWithSecret', 'RotatorSecretOptions'], dependencies: ['zod'] },
  { subpath: './pg', values: ['createPgPool'], types: ['PgPoolOptions'], dependencies: ['pg', 'zod'] },
  { subpath: './mysql', values: ['createMysqlPool'], types: ['MysqlPoolOptions'], dependencies: ['mysql2', 'zod'] },
  { subpath: './api-key', values: ['createApiKeyVerifier'], types: ['ApiKeyVerifier', 'ApiKeyVerifierOptions'], dependencies: ['zod'] },
  { subpath: './stores/file', values: ['FileStore', 'loadOrCreateKey'], types: ['FileStoreOptions', 'LoadKeyOptions'], dependencies: ['croner', 'zod'] },
  {
    subpath: './stores/aws',
    values: ['AwsSecretStore', 'createSecretsManagerClient'],
    types: ['AwsSecretStoreOptions', 'SecretsManagerClientOptions'],
    dependencies: ['@aws-sdk/client-secrets-manager', 'croner', 'zod'],
  },
  {
    subpath: './stores/azure',
    values: ['KeyVaultSecretStore', 'createKeyVaultClient'],
    types: ['BlobLeaseLock', 'KeyVaultClientOptions', 'KeyVaultSecretStoreOptions'],
    dependencies: ['@azure/identity', '@azure/keyvault-secrets', 'croner', 'zod'],
  },
  {
    subpath: './stores/gcp',
    values: ['SecretManagerStore', 'createSecretManagerClient'],
    types: ['SecretManagerClientOptions', 'SecretManagerStoreOptions'],
    dependencies: ['@google-cloud/secret-manager', 'croner', 'zod'],
  },
];

interface PackageJson {
  name: string;
  license?: string;
  private?: boolean;
  main?: string;
  types?: string;
  bin: Record<string, string>;
  files?: string[];
  exports: Record<string, string | Record<string, string>>;
  dependencies: Record<string, string>;
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackageJson;
const specifier = (subpath: string): string => posix.join(pkg.name, subpath);
const conditions = (subpath: string): { types: string; default: string } => {
  const target = pkg.exports[subpath];
  if (typeof target !== 'object' || typeof target.types !== 'string' || typeof target.default !== 'string') {
    throw new Error(`exports["${subpath}"] is not a { types, default } object`);
  }
  return { ...target, types: target.types, default: target.default };
};
/** A path as npm lists it: relative to the package, without "./". */
const inPackage = (target: string): string => posix.normalize(target);

// The Lambda handlers' declarations name @types/aws-lambda (a dev dependency); no entry point reaches them.
const FUNCTION_TYPES = ['aws-lambda'];

const TS_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2023,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  types: ['node'],
  strict: true,
  noEmit: true,
};

/**
 * The README's TypeScript examples for applications, each as a module in the package's folder (so it imports the
 * package by its name), with the names they take as given declared globally beside them.
 */
function readmeExamples(): Map<string, string> {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Reading secrets in your application\n');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const blocks = [...section.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');
  const given = [
    'declare global {',
    "  const db: import('rotator').SecretReader;",
    "  const store: import('rotator').SecretStore;",
    '  const presentedKey: string;',
    "  function queryWith(secret: import('rotator').SecretObject): Promise<unknown[]>;",
    '}',
    'export {};',
  ];
  return new Map([[join(root, 'readme-given.ts'), given.join('\n')], ...blocks.map((b, i): [string, string] => [join(root, `readme-example-${String(i + 1)}.ts`), `${b}\nexport {};\n`])]);
}

let typed: { program: ts.Program; checker: ts.TypeChecker; examples: string[] } | undefined;
/** One TypeScript program over every entry point's declarations and the README's examples (building one costs seconds). */
function declarations(): { program: ts.Program; checker: ts.TypeChecker; examples: string[] } {
  if (typed === undefined) {
    const examples = readmeExamples();
    const host = ts.createCompilerHost(TS_OPTIONS);
    const [fileExists, readFile, getSourceFile] = [host.fileExists.bind(host), host.readFile.bind(host), host.getSourceFile.bind(host)];
    host.fileExists = (name) => examples.has(name) || fileExists(name);
    host.readFile = (name) => examples.get(name) ?? readFile(name);
    host.getSourceFile = (name, version, ...rest) => {
      const text = examples.get(name);
      return text === undefined ? getSourceFile(name, version, ...rest) : ts.createSourceFile(name, text, version);
    };
    const entries = ENTRY_POINTS.map((e) => join(root, inPackage(conditions(e.subpath).types)));
    const program = ts.createProgram([...entries, ...examples.keys()], TS_OPTIONS, host);
    typed = { program, checker: program.getTypeChecker(), examples: [...examples.keys()].filter((name) => name.includes('readme-example-')) };
  }
  return typed;
}

let tarball: Set<string>;

// In each test rather than once before all: a failed beforeAll reports its tests as skipped, and this must fail.
beforeEach(() => {
  if (!existsSync(join(root, 'dist', 'consumer', 'index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` (`npm ci` runs it through `prepare`); these tests check the build');
  }
});

beforeAll(() => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  const [report] = JSON.parse(out) as [{ files: { path: string }[] }];
  tarball = new Set(report.files.map((f) => f.path));
});

describe('package.json', () => {
  it('is MIT-licensed, with the LICENSE file, and publishable (not private)', () => {
    expect(pkg.license).toBe('MIT');
    expect(pkg.private).toBeUndefined();
    const licence = readFileSync(join(root, 'LICENSE'), 'utf8');
    expect(licence).toMatch(/^MIT License\n\nCopyright \(c\) 2026 The Rotator authors\n/);
  });

  it('exports the documented entry points and package.json, each entry as { types, default }, with no wildcard', () => {
    expect(Object.keys(pkg.exports).sort()).toEqual([...ENTRY_POINTS.map((e) => e.subpath), './package.json'].sort());
    expect(JSON.stringify(pkg.exports)).not.toContain('*');
    for (const { subpath } of ENTRY_POINTS) {
      // `types` first: resolvers take the first condition that matches, and `default` matches everything.
      expect(Object.keys(conditions(subpath)), subpath).toEqual(['types', 'default']);
      expect(conditions(subpath).types, subpath).toBe(conditions(subpath).default.replace(/\.js$/, '.d.ts'));
    }
    expect(pkg.types).toBe(conditions('.').types);
  });
});

describe('npm pack', () => {
  it('holds package.json, README.md, LICENSE and the build, and nothing else', () => {
    const outside = [...tarball].filter((p) => !p.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE'].includes(p));
    expect(outside).toEqual([]);
    const forbidden = [
      /(^|\/)(test|tests|__tests__|fixtures|bench|scripts|infra|examples|docs|node_modules|\.rotator)\//,
      /(^|\/)\.env/,
      /\.(pem|key|crt|p12|pfx|tfstate|tfvars|map)$/,
      /(^|\/)id_(rsa|ecdsa|ed25519)/,
      /(?<!\.d)\.ts$/,
    ];
    expect([...tarball].filter((p) => forbidden.some((f) => f.test(p)))).toEqual([]);
  });

  it('holds every exports target with its declarations, the bin and main', () => {
    const targets = ENTRY_POINTS.flatMap(({ subpath }) => Object.values(conditions(subpath)));
    const wanted = [...targets, ...Object.values(pkg.bin), pkg.main ?? 'package.json'].map(inPackage);
    expect(wanted.filter((p) => !tarball.has(p))).toEqual([]);
  });

  it("resolves every relative import of the packed code inside the tarball, and imports only the package's dependencies", () => {
    const missing: string[] = [];
    const undeclared = new Set<string>();
    for (const file of [...tarball].filter((p) => p.endsWith('.js') || p.endsWith('.d.ts'))) {
      for (const spec of importsOf(readFileSync(join(root, file), 'utf8'))) {
        if (spec.startsWith('.')) {
          const target = posix.join(posix.dirname(file), file.endsWith('.d.ts') ? spec.replace(/\.js$/, '.d.ts') : spec);
          if (!tarball.has(target)) missing.push(`${file} -> ${spec}`);
        } else if (!isBuiltin(spec) && !(packageOf(spec) in pkg.dependencies) && !(file.startsWith('dist/functions/') && FUNCTION_TYPES.includes(spec))) {
          undeclared.add(`${file} -> ${spec}`);
        }
      }
    }
    expect(missing).toEqual([]);
    expect([...undeclared]).toEqual([]);
  });
});

// Loads the entry point named by argv[1] and prints its export names and every module URL resolved on the way: the
// resolve hook records each URL, and a last import of `probe:loaded` hands the list back. Node 20's hooks see ESM
// imports and the CommonJS modules they import directly, not what those require in turn, which is enough to name
// the direct dependencies loaded.
const PROBE = `
import { register } from 'node:module';
const hooks = \`
const seen = new Set();
export async function resolve(specifier, context, next) {
  if (specifier === 'probe:loaded') return { url: specifier, shortCircuit: true };
  const result = await next(specifier, context);
  seen.add(result.url);
  return result;
}
export async function load(url, context, next) {
  if (url === 'probe:loaded') return { format: 'module', source: 'export default ' + JSON.stringify([...seen]), shortCircuit: true };
  return next(url, context);
}\`;
register('data:text/javascript,' + encodeURIComponent(hooks));
const entry = await import(process.argv[1]);
const { default: urls } = await import('probe:loaded');
console.log(JSON.stringify({ names: Object.keys(entry).sort(), urls }));
`;

async function probe(spec: string): Promise<{ names: string[]; urls: string[] }> {
  // cwd is the package: a bare import of its own name resolves through its `exports` (self-reference).
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', PROBE, spec], { cwd: root });
  return JSON.parse(stdout) as { names: string[]; urls: string[] };
}

describe.each(ENTRY_POINTS)('$subpath', (entry) => {
  it('imports through the package name in a fresh node: exactly its documented names, and only the dependencies it needs', async () => {
    const { names, urls } = await probe(specifier(entry.subpath));
    expect(names).toEqual(entry.values);
    const main = fileURLToPath(urls.find((u) => u.startsWith('file:') && !u.includes('/node_modules/')) ?? 'file:///');
    expect(main).toBe(join(root, inPackage(conditions(entry.subpath).default)));
    const loaded = [...new Set(urls.filter((u) => u.includes('/node_modules/')).map((u) => packageOf(u.slice(u.lastIndexOf('/node_modules/') + 14))))];
    expect(loaded.filter((p) => p in pkg.dependencies).sort()).toEqual(entry.dependencies);
  });

  it('has declarations TypeScript finds through the package name, declaring its names and types', () => {
    const { resolvedModule } = ts.resolveModuleName(specifier(entry.subpath), join(root, 'consumer.ts'), TS_OPTIONS, ts.sys, undefined, undefined, ts.ModuleKind.ESNext);
    expect(resolvedModule?.resolvedFileName).toBe(join(root, inPackage(conditions(entry.subpath).types)));
    const { program, checker } = declarations();
    const source = program.getSourceFile(resolvedModule?.resolvedFileName ?? '');
    const symbol = source === undefined ? undefined : checker.getSymbolAtLocation(source);
    const declared = symbol === undefined ? [] : checker.getExportsOfModule(symbol).map((s) => s.name);
    expect(declared.sort()).toEqual([...entry.values, ...entry.types].sort());
  });
});

describe('the declarations', () => {
  it('type-check on their own, against the installed dependencies', () => {
    const { program } = declarations();
    // Ours only: the dependencies' own declarations are theirs to keep (and the slow part to check).
    const ours = program.getSourceFiles().filter((f) => f.fileName.startsWith(join(root, 'dist')));
    expect(ours.length).toBeGreaterThan(ENTRY_POINTS.length);
    const diagnostics = ours.flatMap((f) => [...program.getSyntacticDiagnostics(f), ...program.getSemanticDiagnostics(f)]);
    expect(diagnostics.map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`)).toEqual([]);
  });
});

describe('what is not exported', () => {
  it.each(['dist/shared/errors.js', 'dist/cli/main.js', 'shared/errors', 'stores/aws/aws-store', 'consumer/reader'])('%s cannot be imported through the package name', async (path) => {
    const error = await probe(specifier(path)).then(
      () => undefined,
      (e: unknown) => e as { stderr: string },
    );
    expect(error?.stderr).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });
});

describe('the README', () => {
  it('has examples for applications that type-check against the package as installed', () => {
    const { program, examples } = declarations();
    // The usage, each store and the API-key verifier.
    expect(examples.length).toBeGreaterThanOrEqual(6);
    const diagnostics = examples.flatMap((name) => {
      const file = program.getSourceFile(name);
      return file === undefined ? [] : [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)];
    });
    expect(diagnostics.map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`)).toEqual([]);
  });

  it('documents every entry point', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(ENTRY_POINTS.map((e) => `'${specifier(e.subpath)}'`).filter((quoted) => !readme.includes(quoted))).toEqual([]);
  });
});

/** Module specifiers a built file imports: static imports and re-exports, `import type`, and dynamic imports of a literal. */
function importsOf(source: string): string[] {
  return [...source.matchAll(/(?:^|[\s;}])(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm)].map(
    (m) => m[1] ?? m[2] ?? m[3] ?? '',
  );
}

function isBuiltin(spec: string): boolean {
  return spec.startsWith('node:') || builtinModules.includes(spec);
}

/** `@scope/name/deep` -> `@scope/name`; `name/deep` -> `name`. */
function packageOf(spec: string): string {
  const parts = spec.split('/');
  return (spec.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
}
