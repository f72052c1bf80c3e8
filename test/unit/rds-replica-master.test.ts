import { describe, expect, it } from 'vitest';
import { checkedMaster, masterHostPort, type Credential } from '../../rotators/database.js';
import { isRotatorError } from '../../shared/errors.js';

/**
 * The database rules for a master on another host than the secret it rotates: allowed only when the secret names a
 * read replica or reader endpoint of the master's server (the replica hosts the RDS resolver lists), and then the
 * master logs in on its own host, the primary.
 */

const master: Credential & { port: number } = { host: 'primary.example.com', port: 5433, username: 'master', password: 'Master-pw-1234', ssl: true };
const on = (host: string, port = 5432): Credential & { port: number } => ({ host, port, username: 'app', password: 'App-pw-12345678', ssl: true });
const pending = (host: string): Credential => ({ host, username: 'app_clone', password: 'Pending-pw-1234', ssl: true });

function mismatch(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (isRotatorError(error, 'CREDENTIAL_MISMATCH')) return error.message;
    throw error;
  }
  throw new Error('expected CREDENTIAL_MISMATCH');
}

describe('checkedMaster with replica hosts', () => {
  it("accepts the master's own host, in any case", () => {
    expect(checkedMaster(master, on('PRIMARY.example.com'), pending('PRIMARY.example.com'), 'alternating-users')).toBe(master);
  });

  it('accepts a secret on one of the replica hosts, in any case', () => {
    const replicas = ['replica-1.example.com', 'reader.example.com'];
    expect(checkedMaster(master, on('Replica-1.example.com'), pending('Replica-1.example.com'), 'alternating-users', 'pending', replicas)).toBe(master);
    expect(checkedMaster(master, on('reader.example.com'), pending('reader.example.com'), 'alternating-users', 'retired', replicas)).toBe(master);
  });

  it('refuses any other host, naming the replicas it knows (or that it knows none) and never a password', () => {
    const withReplicas = mismatch(() => checkedMaster(master, on('other.example.com'), pending('other.example.com'), 'alternating-users', 'pending', ['replica-1.example.com']));
    expect(withReplicas).toContain('neither that host nor a read replica or reader endpoint of its server (those are replica-1.example.com)');
    const without = mismatch(() => checkedMaster(master, on('other.example.com'), pending('other.example.com'), 'alternating-users'));
    expect(without).toContain('(the master has none known)');
    for (const text of [withReplicas, without]) expect(text).not.toMatch(/pw-/);
  });

  it('still refuses the master user itself as the user being changed', () => {
    const message = mismatch(() => checkedMaster(master, on('replica-1.example.com'), { ...pending('replica-1.example.com'), username: 'master' }, 'alternating-users', 'pending', ['replica-1.example.com']));
    expect(message).toContain('is the master user itself');
  });
});

describe('masterHostPort', () => {
  it("on the master's host, keeps current's host and port (a master secret without a port keeps working)", () => {
    expect(masterHostPort(on('Primary.example.com', 6432), master)).toEqual({ host: 'Primary.example.com', port: 6432 });
  });

  it("on a replica, is the master's host and port: replicas are read-only", () => {
    expect(masterHostPort(on('replica-1.example.com', 5432), master)).toEqual({ host: 'primary.example.com', port: 5433 });
  });
});
