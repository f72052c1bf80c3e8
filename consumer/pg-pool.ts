import pg from 'pg';
import { parsePostgresSecret } from '../rotators/postgres/secret.js';
import type { SecretObject } from '../shared/secret.js';
import { DEFAULT_MAX_LIFETIME_SECONDS, checkLifetime, perSecret, refuseSecretKeys } from './pool-options.js';
import type { SecretReader } from './reader.js';

/**
 * A `pg.Pool` whose every new connection logs in with the secret's CURRENT value as the reader holds it: user,
 * password, host, port, database and TLS, all from the one value (alternating-users rotation changes the user too,
 * so pg's `password` function alone would not do). A login refused as a bad credential (28P01, 28000) makes the
 * reader read the store again and the connection is tried once more. Connections already open keep working: a
 * rotation changes what the server checks at the next login, not the sessions it let in.
 *
 * How: the pool is pg's own, and `connect()` (which `query()` goes through) first sets the pool's connection options
 * from the reader's value, in the same synchronous step that has pg create the client, so each client gets one
 * consistent user and password. The options the secret decides are refused in the pool's options.
 */
const FROM_SECRET = ['user', 'password', 'host', 'port', 'database', 'ssl', 'connectionString', 'stream', 'Client'] as const;

export interface PgPoolOptions extends Omit<pg.PoolConfig, (typeof FROM_SECRET)[number]> {
  reader: SecretReader;
  /** CA certificates (PEM) to trust for the server's certificate instead of Node's, e.g. the RDS bundle. */
  ca?: string | Buffer;
  /**
   * Closes a connection this long after it was opened (when it is next idle), so no session outlives a retired
   * credential by more than this. Default 3600; 0 keeps connections for as long as they are used.
   */
  maxLifetimeSeconds?: number;
}

/** What one value of the secret sets on the pool for the connections it opens next. */
type ConnectionSettings = Required<Pick<pg.PoolConfig, 'user' | 'password' | 'host' | 'port' | 'database' | 'ssl'>>;

export function createPgPool(options: PgPoolOptions): pg.Pool {
  const { reader, ca, maxLifetimeSeconds = DEFAULT_MAX_LIFETIME_SECONDS, ...config } = options;
  refuseSecretKeys(config, FROM_SECRET, 'createPgPool');
  const settings = perSecret((secret): ConnectionSettings => {
    const s = parsePostgresSecret(secret, 'the secret of the PostgreSQL pool');
    return {
      user: s.username,
      password: s.password,
      host: s.host,
      port: s.port,
      database: s.dbname,
      // Verified TLS (chain, and the host name through tls.connect's checkServerIdentity) unless the secret says
      // "ssl": false. A fresh object per value: pg hands it to tls.connect as it is.
      ssl: s.ssl === false ? false : { rejectUnauthorized: true, ...(ca === undefined ? {} : { ca }) },
    };
  });
  return new RotatingPool({ ...config, maxLifetimeSeconds: checkLifetime(maxLifetimeSeconds, 'createPgPool') }, reader, settings);
}

type ConnectCallback = (error: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

class RotatingPool extends pg.Pool {
  readonly #reader: SecretReader;
  readonly #settings: (secret: SecretObject) => ConnectionSettings;

  constructor(config: pg.PoolConfig, reader: SecretReader, settings: (secret: SecretObject) => ConnectionSettings) {
    // A `password` key, even undefined, makes pg-pool keep the option non-enumerable, out of logs of the pool.
    super({ ...config, password: undefined });
    this.#reader = reader;
    this.#settings = settings;
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | undefined {
    const connected = this.#reader.withSecret((secret) => {
      Object.assign(this.options, this.#settings(secret));
      return super.connect();
    });
    if (callback === undefined) return connected;
    connected.then(
      (client) => callback(undefined, client, (release) => client.release(release as boolean | Error | undefined)),
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error)), undefined, () => undefined),
    );
    return undefined;
  }
}
