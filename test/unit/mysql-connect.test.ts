import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guardedAuthPlugins, labelOf, parseAccount, withSession, type AuthGuard, type Endpoint } from '../../rotators/mysql/connect.js';
import { canaryLogger, recordSecrets } from '../support/canary.js';
import { rejection } from '../support/unreachable.js';

const lines: string[] = [];
const logger = canaryLogger(lines);
const ctx = { logger };

describe('labels of statements handed to session.query', () => {
  it('cut the statement before the first secret it carries', () => {
    const hash = '*2B602296A79E0A8784ACC5C88D92E46588CCA3C3';
    expect(labelOf(`CREATE USER \`app_clone\`@\`%\` IDENTIFIED BY PASSWORD '${hash}'`, [hash])).toBe('CREATE USER `app_clone`@`%` IDENTIFIED BY PASSWORD ...');
    // The secret appears escaped in the statement; the label still stops before it.
    const password = "it's\\secret";
    expect(labelOf("ALTER USER `a`@`%` IDENTIFIED BY 'it\\'s\\\\secret' RETAIN CURRENT PASSWORD", [password])).toBe('ALTER USER `a`@`%` IDENTIFIED BY ...');
    expect(labelOf("ALTER USER `a`@`%` IDENTIFIED BY 'it''s\\secret'", [password])).toBe('ALTER USER `a`@`%` IDENTIFIED BY ...');
  });

  it('withhold a sensitive statement whose secret it cannot find, and keep plain ones', () => {
    expect(labelOf('SET PASSWORD = PASSWORD(CONCAT(...))', ['not-in-there'])).toBe('SET PASSWORD ... (statement withheld)');
    expect(labelOf('SHOW GRANTS FOR `app`@`%`', [])).toBe('SHOW GRANTS FOR `app`@`%`');
    expect(labelOf(`SELECT '${'x'.repeat(300)}'`, []).length).toBeLessThanOrEqual(203);
  });
});

describe('CURRENT_USER() parsing', () => {
  it('splits at the last @, since user names may hold one and host names may not', () => {
    expect(parseAccount('app@%')).toEqual({ user: 'app', host: '%' });
    expect(parseAccount('we@ird@10.0.%')).toEqual({ user: 'we@ird', host: '10.0.%' });
    expect(parseAccount('@127.0.0.1')).toEqual({ user: '', host: '127.0.0.1' });
  });
});

describe('the public-key guard of caching_sha2_password and sha256_password', () => {
  const scramble = randomBytes(20);
  const connection = (ssl: unknown) => ({ config: { password: 'Sup3r-secret-password', ssl } }) as never;
  const fullAuth = Buffer.from([4]);

  it('stops the login over plaintext where mysql2 would fetch the server key', () => {
    const guard: AuthGuard = { refusedKeyRetrieval: undefined };
    const step = guardedAuthPlugins(false, false, guard).caching_sha2_password?.({ connection: connection(false), command: '' });
    expect(step).toBeDefined();
    const token = step?.(scramble);
    expect(Buffer.isBuffer(token) && token.length).toBe(32); // the scrambled fast-auth token, not the password
    expect(() => step?.(fullAuth)).toThrow(/refusing to fetch the server's RSA public key/);
    expect(guard.refusedKeyRetrieval).toBe('caching_sha2_password');

    const sha256 = guardedAuthPlugins(false, false, guard).sha256_password?.({ connection: connection(false), command: '' });
    expect(() => sha256?.(scramble)).toThrow(/sha256_password/);
  });

  it('lets the fast path through: a cached login never needs the key', () => {
    const guard: AuthGuard = { refusedKeyRetrieval: undefined };
    const step = guardedAuthPlugins(false, false, guard).caching_sha2_password?.({ connection: connection(false), command: '' });
    expect(Buffer.isBuffer(step?.(scramble))).toBe(true);
    expect(step?.(Buffer.from([3]))).toBeNull();
    expect(guard.refusedKeyRetrieval).toBeUndefined();
  });

  it('asks for the key only when retrieval is allowed', () => {
    const guard: AuthGuard = { refusedKeyRetrieval: undefined };
    const step = guardedAuthPlugins(false, true, guard).caching_sha2_password?.({ connection: connection(false), command: '' });
    expect(Buffer.isBuffer(step?.(scramble))).toBe(true);
    expect(step?.(fullAuth)).toEqual(Buffer.from([2]));
    expect(guard.refusedKeyRetrieval).toBeUndefined();
  });

  it('over TLS sends the password inside the tunnel and never asks for a key', () => {
    const guard: AuthGuard = { refusedKeyRetrieval: undefined };
    const plugins = guardedAuthPlugins(true, false, guard);
    const step = plugins.caching_sha2_password?.({ connection: connection({ rejectUnauthorized: true }), command: '' });
    expect(Buffer.isBuffer(step?.(scramble))).toBe(true);
    expect(step?.(fullAuth)).toEqual(Buffer.from('Sup3r-secret-password\0'));
    expect(plugins.mysql_clear_password).toBeDefined();
    expect(guardedAuthPlugins(false, true, guard).mysql_clear_password).toBeUndefined();
  });
});

/**
 * A fake MySQL 8 server that speaks just enough of the protocol to ask for a caching_sha2_password full
 * authentication over plaintext, and records whether the client then asks for its RSA public key.
 */
function packet(seq: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUIntLE(payload.length, 0, 3);
  header.writeUInt8(seq, 3);
  return Buffer.concat([header, payload]);
}

function greeting(): Buffer {
  const CLIENT_LONG_PASSWORD = 0x1;
  const CLIENT_CONNECT_WITH_DB = 0x8;
  const CLIENT_PROTOCOL_41 = 0x200;
  const CLIENT_TRANSACTIONS = 0x2000;
  const CLIENT_SECURE_CONNECTION = 0x8000;
  const CLIENT_PLUGIN_AUTH = 0x80000;
  const caps = CLIENT_LONG_PASSWORD | CLIENT_CONNECT_WITH_DB | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
  const scramble = randomBytes(20);
  const parts = [
    Buffer.from([10]),
    Buffer.from('8.0.36\0'),
    Buffer.from([1, 0, 0, 0]),
    scramble.subarray(0, 8),
    Buffer.from([0]),
    Buffer.from([caps & 0xff, (caps >> 8) & 0xff]),
    Buffer.from([45]),
    Buffer.from([2, 0]),
    Buffer.from([(caps >> 16) & 0xff, (caps >> 24) & 0xff]),
    Buffer.from([21]),
    Buffer.alloc(10),
    Buffer.concat([scramble.subarray(8), Buffer.from([0])]),
    Buffer.from('caching_sha2_password\0'),
  ];
  return packet(0, Buffer.concat(parts));
}

describe('against a server that wants the full password over plaintext (fake MySQL 8)', () => {
  let server: Server;
  let port: number;
  const seen: string[] = [];
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      let step = 0;
      socket.write(greeting());
      socket.on('data', (data) => {
        const seq = data.readUInt8(3);
        const payload = data.subarray(4);
        step += 1;
        if (step === 1) {
          // Handshake response: switch to caching_sha2_password with a fresh scramble.
          seen.push('handshake-response');
          socket.write(packet(seq + 1, Buffer.concat([Buffer.from([0xfe]), Buffer.from('caching_sha2_password\0'), randomBytes(20), Buffer.from([0])])));
        } else if (step === 2) {
          // The token: pretend the cache is cold and ask for the full password.
          seen.push('token');
          socket.write(packet(seq + 1, Buffer.from([0x01, 0x04])));
        } else {
          seen.push(payload.length === 1 && payload[0] === 2 ? 'public-key-request' : `other(${payload.length})`);
          const message = Buffer.from('#28000Access denied (fake server)');
          const err = Buffer.concat([Buffer.from([0xff, 0x15, 0x04]), message]);
          socket.end(packet(seq + 1, err));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  const password = `Fake-${randomBytes(12).toString('hex')}`;
  recordSecrets(password);
  const endpoint = (allowPublicKeyRetrieval: boolean): Endpoint => ({
    host: '127.0.0.1',
    port,
    database: undefined,
    user: 'app',
    password,
    ssl: false,
    allowPublicKeyRetrieval,
  });
  const settings = { connectTimeoutMs: 2_000, statementTimeoutMs: 2_000, tls: {} };


  it('stops before asking for the key, with TARGET_TLS saying how to opt in', async () => {
    seen.length = 0;
    const e = await rejection(() => withSession(endpoint(false), settings, ctx, () => Promise.resolve()));
    expect(e.code).toBe('TARGET_TLS');
    expect(e.message).toMatch(/caching_sha2_password/);
    expect(e.message).toMatch(/"allowPublicKeyRetrieval": true/);
    expect(e.message).not.toContain(password);
    expect(seen).toEqual(['handshake-response', 'token']);
  });

  it('asks for the key when the secret or the deployment allows it', async () => {
    seen.length = 0;
    const e = await rejection(() => withSession(endpoint(true), settings, ctx, () => Promise.resolve()));
    expect(e.code).toBe('TARGET_AUTH_FAILED');
    expect(seen).toEqual(['handshake-response', 'token', 'public-key-request']);
  });

  it('reports a server without TLS when the secret asks for TLS', async () => {
    const e = await rejection(() => withSession({ ...endpoint(false), ssl: true }, settings, ctx, () => Promise.resolve()));
    expect(e.code).toBe('TARGET_TLS');
    expect(e.message).toMatch(/does not offer TLS/);
  });

  it('logged nothing that holds the password', () => {
    expect(lines.join('\n')).not.toContain(password);
  });
});
