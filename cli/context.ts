import { RotationEngine } from '../shared/engine.js';
import { Purger } from '../shared/purger.js';
import { loadConfig, type Config } from '../shared/config.js';
import { stat } from 'node:fs/promises';
import { RotatorError } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import type { Redactor } from '../shared/redact.js';
import { FileStore, loadKey } from '../stores/file/index.js';
import { errnoCode, ioError } from '../stores/file/io.js';
import { createRotators } from '../rotators/index.js';
import type { GoogleClients } from './commands/gcp.js';

/** What a command needs from its surroundings; tests pass their own. */
export interface CliIO {
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Reads standard input, refusing (INVALID_INPUT) more than `maxBytes` plus a little whitespace slack. */
  readStdin: (maxBytes: number) => Promise<string>;
  /** How the `gcp` commands reach Google (a test points them at the local fakes); default: the real APIs. */
  google?: GoogleClients;
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
  store: FileStore;
  engine(): RotationEngine;
  purger(): Purger;
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
export async function createContext(options: GlobalOptions, io: CliIO, redactor: Redactor, contextOptions: ContextOptions = {}): Promise<CliContext> {
  const env = {
    ...io.env,
    ...(options.store === undefined ? {} : { ROTATOR_STORE: options.store }),
    ...(options.logLevel === undefined ? {} : { LOG_LEVEL: options.logLevel }),
  };
  // Human-facing output is on stdout; logs go to stderr and stay quiet unless asked for.
  const config = loadConfig(env, { logLevel: 'warn' });
  const logger = createLogger({ level: config.logLevel, redactor, write: (line) => io.stderr(line + '\n') });
  if (contextOptions.create !== true) await requireStore(config.storePath, contextOptions.secretId);
  const { key, source } = await loadKey({ env, storePath: config.storePath, keyFile: config.storeKeyFile ?? `${config.storePath}.key` });
  const store = new FileStore({ path: config.storePath, key, keySource: source });
  return {
    config,
    logger,
    store,
    engine: () =>
      new RotationEngine({ store, rotators: createRotators(config), logger, defaultStrategy: config.defaultStrategy, env }),
    purger: () => new Purger({ store, rotators: createRotators(config), logger, defaultStrategy: config.defaultStrategy, defaultPolicy: config.retention }),
  };
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
