/**
 * One AWS function bundled as serverless.yml bundles it (serverless-esbuild with `custom.esbuild`), from any checkout
 * of the repository: benchmarks build the current tree and an earlier commit (bench/baseline.ts) the same way, each
 * with its own settings, without running osls.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type BuildOptions, type Plugin } from 'esbuild';
import { parse as parseYaml } from 'yaml';

/** serverless-esbuild's own keys, which esbuild does not take. */
const PLUGIN_ONLY = ['exclude', 'outputFileExtension', 'packager', 'keepOutputDirectory', 'nativeZip', 'concurrency', 'zipConcurrency', 'plugins'];

/**
 * `custom.esbuild` of `root`/serverless.yml as esbuild options. Its `plugins` (serverless-esbuild: a file, relative to
 * the service, exporting an array of esbuild plugins) are loaded from that checkout.
 */
export async function esbuildOptionsOf(root: string): Promise<BuildOptions> {
  // CloudFormation tags (!Sub, ...) are kept as plain values; only custom.esbuild is read.
  const doc = parseYaml(readFileSync(join(root, 'serverless.yml'), 'utf8'), { logLevel: 'silent' }) as { custom: { esbuild: Record<string, unknown> } };
  const settings = doc.custom.esbuild;
  const options: BuildOptions & Record<string, unknown> = { ...settings };
  for (const key of PLUGIN_ONLY) Reflect.deleteProperty(options, key);
  if (typeof settings.plugins === 'string') {
    const file = isAbsolute(settings.plugins) ? settings.plugins : join(root, settings.plugins);
    const loaded = (await import(pathToFileURL(file).href)) as { default?: Plugin[] } & Plugin[];
    options.plugins = loaded.default ?? loaded;
  }
  return options;
}

/** The source file of a serverless.yml handler (`functions/aws/rotate-postgres.handler`) in `root`. */
export function handlerSource(root: string, handler: string): string {
  return join(root, `${handler.replace(/\.handler$/, '')}.ts`);
}

/** Bundles `handler` of the checkout at `root` into `outfile` (an .mjs file), as a deployment would. */
export async function bundleFunction(root: string, handler: string, outfile: string): Promise<void> {
  await build({ ...(await esbuildOptionsOf(root)), absWorkingDir: root, entryPoints: [handlerSource(root, handler)], outfile, write: true, logLevel: 'error' });
}
