import { RotationEngine, type RotationReport, type RunOptions } from '../shared/engine.js';
import { Purger } from '../shared/purger.js';
import { loadConfig, type Config } from '../shared/config.js';
import { stat } from 'node:fs/promises';
import { RotatorError } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import type { Redactor } from '../shared/redact.js';
import type { Lease, SecretStore } from '../shared/store.js';
import { FileStore, loadKey } from '../stores/file/index.js';
import { errnoCode, ioError } from '../stores/file/io.js';
import { createRotators } from '../rotators/index.js';
import type { GoogleClients } from './commands/gcp.js';
import { fileOnlyRefusal, openCloudStore, parseStoreLocation, type AwsClients, type AzureClients, type CloudStore, type FileOnlyCommand, type StoreKind } from './stores.js';

/** What a command needs from its surroundings; tests pass their own. */
export interface CliIO {
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Reads standard input, refusing (INVALID_INPUT) more than `maxBytes` plus a little whitespace slack. */
  readStdin: (maxBytes: number) => Promise<string>;
  /** How `gcp://` stores and the `gcp` commands reach Google (a test points them at the local fakes); default: the real APIs. */
  google?: GoogleClients;
  /** How `aws://` stores reach Secrets Manager (a test points it at the local fake); default: the SDK's credential chain. */
  aws?: AwsClients;
  /** How `azure://` stores reach Key Vault and the lock container (a test: the fakes); default: DefaultAzureCredential. */
  azure?: AzureClients;
  /** How an alert reaches ROTATOR_ALERT_WEBHOOK (a test points it at a local server); default: fetch. */
  post?: (url: string, body: string, signal: AbortSignal) => Promise<number>;
  /** Whether standard error is a terminal: `rotate` shows a spinner there while a step waits (default: not one). */
  isTTY?: boolean;
  /** The clock `rotate --due`, `status` and `secrets describe` judge schedules by (a test sets one); default: now. */
  now?: () => Date;
}

/** Per-invocation state shared by the commands and the error reporter. */
export interface CliState {
  json: boolean;
  /** Every secret the command saw is registered here, so nothing printed can carry one. */
  redactor: Redactor;
}

export interface GlobalOptions {
  store?: string;
  logLevel?: string;
}

export interface CliContext {
  config: Config;
  logger: Logger;
  /** Which store --store names: the file store, or a cloud's. */
  kind: StoreKind;
  /** The store, through the port: what every command that works on every store uses. */
  store: SecretStore;
  /**
   * The file store, for the commands only it supports (creating, deleting, changing settings); on a cloud store
   * INVALID_INPUT naming the cloud's own command that does it.
   */
  fileStore(command: FileOnlyCommand, secretId: string): FileStore;
  engine(): RotationEngine;
  /** With `dryRun`, the purger reads without taking the rotation locks (a lock is a write on every store). */
  purger(options?: { dryRun?: boolean }): Purger;
  /**
   * `rotate <id>` as this store does it: on AWS the service runs it (RotateSecret, followed until AWSCURRENT moves);
   * elsewhere self-driven by the engine under the store's lock (file lock, blob lease, annotation lease).
   */
  rotate(secretId: string, options?: RunOptions): Promise<RotationReport>;
  /** Closes the cloud clients; the file store has none. */
  close(): Promise<void>;
}

export interface ContextOptions {
  /**
   * Whether the command may create the store (and its key file and directory) when it does not exist: only
   * `secrets put` does. Every other command refuses a missing store before anything is created, so a mistyped
   * --store path leaves the disk as it was.
   */
  create?: boolean;
  /** The secret the command is about, named in the refusal of a missing store (SECRET_NOT_FOUND instead of INVALID_INPUT). */
  secretId?: string;
}

/** Wires config, logger, store and engine for one command; nothing is opened before a command needs it. */
/** A context for `action`, closed (a cloud store's client) whatever happens. */
export async function usingContext<T>(
  options: GlobalOptions,
  io: CliIO,
  redactor: Redactor,
  contextOptions: ContextOptions,
  action: (ctx: CliContext) => Promise<T>,
): Promise<T> {
  const ctx = await createContext(options, io, redactor, contextOptions);
  try {
    return await action(ctx);
  } finally {
    await ctx.close();
  }
}

export async function createContext(options: GlobalOptions, io: CliIO, redactor: Redactor, contextOptions: ContextOptions = {}): Promise<CliContext> {
  const env = {
    ...io.env,
    ...(options.store === undefined ? {} : { ROTATOR_STORE: options.store }),
    ...(options.logLevel === undefined ? {} : { LOG_LEVEL: options.logLevel }),
  };
  // Human-facing output is on stdout; logs go to stderr and stay quiet unless asked for.
  const config = loadConfig(env, { logLevel: 'warn' });
  const logger = createLogger({ level: config.logLevel, redactor, write: (line) => io.stderr(line + '\n') });
  const location = await parseStoreLocation(config.storePath, options.store === undefined ? 'ROTATOR_STORE' : '--store');
  let file: FileStore | undefined;
  let cloud: CloudStore | undefined;
  if (location.kind === 'file') {
    if (contextOptions.create !== true) await requireStore(location.path, contextOptions.secretId);
    const { key, source } = await loadKey({ env, storePath: location.path, keyFile: config.storeKeyFile ?? `${location.path}.key` });
    file = new FileStore({ path: location.path, key, keySource: source });
  } else {
    cloud = await openCloudStore(location, { io, env, logger });
  }
  const store: SecretStore = file ?? (cloud as CloudStore).store;
  const engine = (): RotationEngine => new RotationEngine({ store, rotators: createRotators(config), logger, defaultStrategy: config.defaultStrategy, env });
  return {
    config,
    logger,
    kind: location.kind,
    store,
    fileStore: (command, secretId) => {
      if (location.kind === 'file' && file !== undefined) return file;
      throw fileOnlyRefusal(command, location as Exclude<typeof location, { kind: 'file' }>, secretId);
    },
    engine,
    purger: ({ dryRun = false } = {}) =>
      new Purger({
        store: dryRun ? withoutLocks(store) : store,
        rotators: createRotators(config),
        logger,
        defaultStrategy: config.defaultStrategy,
        defaultPolicy: config.retention,
      }),
    rotate: (secretId, runOptions = {}) => cloud?.rotate?.(secretId, runOptions, { strategy: config.defaultStrategy }) ?? engine().rotate(secretId, runOptions),
    close: () => cloud?.close() ?? Promise.resolve(),
  };
}

/**
 * `store` whose `lockRotation` takes nothing, for a dry run, which only reads: the lock would be a write (a lock file,
 * a blob lease, an annotation) and a right a reader may not have. A rotation under way still shows as its PENDING
 * version, which the purger leaves alone.
 */
function withoutLocks(store: SecretStore): SecretStore {
  const noLock = (): Promise<Lease> => Promise.resolve({ release: () => Promise.resolve() });
  return new Proxy(store, {
    get: (target, name) => {
      if (name === 'lockRotation') return noLock;
      const member: unknown = Reflect.get(target, name);
      return typeof member === 'function' ? (member as (...args: unknown[]) => unknown).bind(target) : member;
    },
  });
}

/** Refuses a store file that does not exist, creating nothing; the message names the path and how to make a store. */
export async function requireStore(storePath: string, secretId?: string): Promise<void> {
  try {
    await stat(storePath);
    return;
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT' && errnoCode(error) !== 'ENOTDIR') throw ioError('read', storePath, error);
  }
  const how = `create a store with \`rotator secrets put <secret-id> < value.json\`, or check --store and ROTATOR_STORE`;
  if (secretId !== undefined) {
    throw new RotatorError('SECRET_NOT_FOUND', `secret ${secretId} does not exist: there is no store at ${storePath}; ${how}`);
  }
  throw new RotatorError('INVALID_INPUT', `there is no store at ${storePath}; ${how}`);
}
