import { RotationEngine } from '../shared/engine.js';
import { Purger } from '../shared/purger.js';
import { loadConfig, type Config } from '../shared/config.js';
import { createLogger, type Logger } from '../shared/logger.js';
import type { Redactor } from '../shared/redact.js';
import { FileStore, loadKey } from '../stores/file/index.js';
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

/** Wires config, logger, store and engine for one command; nothing is opened before a command needs it. */
export async function createContext(options: GlobalOptions, io: CliIO, redactor: Redactor): Promise<CliContext> {
  const env = {
    ...io.env,
    ...(options.store === undefined ? {} : { ROTATOR_STORE: options.store }),
    ...(options.logLevel === undefined ? {} : { LOG_LEVEL: options.logLevel }),
  };
  // Human-facing output is on stdout; logs go to stderr and stay quiet unless asked for.
  const config = loadConfig(env, { logLevel: 'warn' });
  const logger = createLogger({ level: config.logLevel, redactor, write: (line) => io.stderr(line + '\n') });
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
