import mysql from 'mysql2';
import type { Pool as PromisePool } from 'mysql2/promise';
import { guardedAuthPlugins } from '../rotators/mysql/connect.js';
import { parseMysqlSecret } from '../rotators/mysql/secret.js';
import type { SecretObject } from '../shared/secret.js';
import { DEFAULT_MAX_LIFETIME_SECONDS, checkLifetime, perSecret, refuseSecretKeys } from './pool-options.js';
import type { SecretReader } from './reader.js';

/**
 * A mysql2 pool (the promise API) whose every new connection logs in with the secret's CURRENT value as the reader
 * holds it: user, password, host, port, database and TLS from the one value. A login refused as a bad credential
 * (1045) makes the reader read the store again and the connection is tried once more. Connections already open keep
 * working: MySQL and MariaDB check the password at login only.
 *
 * How: mysql2 has no password function, but its pool copies one connection config (`pool.config.connectionConfig`)
 * for each connection it opens, in `getConnection`, which `query` and `execute` go through too. The core pool's
 * `getConnection` is replaced on this instance by one that first sets that config from the reader's value, in the
 * same synchronous step in which mysql2 copies it, so each connection gets one consistent user and password.
 *
 * mysql2's pool has no limit on a connection's life; this one closes a connection that is older than
 * `maxLifetimeSeconds` when it is next handed out.
 */
const FROM_SECRET = ['uri', 'host', 'port', 'socketPath', 'user', 'password', 'password1', 'password2', 'password3', 'passwordSha1', 'database', 'ssl', 'authPlugins', 'stream'] as const;

export interface MysqlPoolOptions extends Omit<mysql.PoolOptions, (typeof FROM_SECRET)[number]> {
  reader: SecretReader;
  /** CA certificates (PEM) to trust for the server's certificate instead of Node's, e.g. the RDS bundle. */
  ca?: string | Buffer;
  /** Closes a connection this long after it was opened, when it is next handed out. Default 3600; 0: no limit. */
  maxLifetimeSeconds?: number;
}

/** What one value of the secret sets on the pool's connection config. */
interface ConnectionSettings {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string | undefined;
  ssl: mysql.SslOptions | false;
  authPlugins: mysql.ConnectionOptions['authPlugins'];
}

/** The core pool as it is at run time: its typings call `config` PoolOptions, but mysql2 keeps a PoolConfig there. */
interface CorePool extends mysql.Pool {
  config: mysql.PoolOptions & { connectionConfig: ConnectionSettings };
}

type GetConnectionCallback = Parameters<mysql.Pool['getConnection']>[0];

export function createMysqlPool(options: MysqlPoolOptions): PromisePool {
  const { reader, ca, maxLifetimeSeconds = DEFAULT_MAX_LIFETIME_SECONDS, ...config } = options;
  refuseSecretKeys(config, FROM_SECRET, 'createMysqlPool');
  const lifetimeMs = checkLifetime(maxLifetimeSeconds, 'createMysqlPool') * 1000;
  const settings = perSecret((secret: SecretObject): ConnectionSettings => {
    const s = parseMysqlSecret(secret, 'the secret of the MySQL pool');
    const tls = s.ssl !== false;
    return {
      host: s.host,
      port: s.port,
      user: s.username,
      password: s.password,
      database: s.dbname,
      // Chain and host name both verified (mysql2 checks the name only with verifyIdentity). One object per value: mysql2
      // keeps its TLS sessions per ssl object and per host:port, so a session is resumed only with the same settings.
      ssl: tls ? { rejectUnauthorized: true, verifyIdentity: true, ...(ca === undefined ? {} : { ca }) } : false,
      // The rotator's plugins: no unauthenticated RSA key fetch over plaintext unless the secret allows it, no
      // cleartext password outside TLS.
      authPlugins: guardedAuthPlugins(tls, s.allowPublicKeyRetrieval, { refusedKeyRetrieval: undefined }),
    };
  });

  const core = mysql.createPool(config) as CorePool;
  const openedAt = new WeakMap<object, number>();
  core.on('connection', (connection) => openedAt.set(connection, Date.now()));
  const expired = (connection: mysql.PoolConnection): boolean => lifetimeMs > 0 && Date.now() - (openedAt.get(connection) ?? Date.now()) > lifetimeMs;

  const getConnection = core.getConnection.bind(core);
  const acquire = (secret: SecretObject): Promise<mysql.PoolConnection> => {
    Object.assign(core.config.connectionConfig, settings(secret));
    return new Promise((resolve, reject) => getConnection((error, connection) => (error === null ? resolve(connection) : reject(error))));
  };
  core.getConnection = (callback: GetConnectionCallback): void => {
    reader
      .withSecret(async (secret) => {
        // Each old connection handed out is destroyed (which takes it out of the pool), so this ends.
        for (;;) {
          const connection = await acquire(secret);
          if (!expired(connection)) return connection;
          connection.destroy();
        }
      })
      .then(
        (connection) => {
          callback(null, connection);
        },
        (error: unknown) => {
          callback(error as NodeJS.ErrnoException, undefined as never);
        },
      );
  };
  return core.promise();
}
