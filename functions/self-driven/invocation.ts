import { alertingLogger, type Alerter } from '../../shared/alerts.js';
import { RotationEngine, type RotationReport } from '../../shared/engine.js';
import type { LogLevel, Logger } from '../../shared/logger.js';
import { Purger, type RetentionPolicy } from '../../shared/purger.js';
import { Redactor } from '../../shared/redact.js';
import type { MasterResolver, Rotator } from '../../shared/rotator.js';
import { pendingRotation, versionWithStage, type Lease, type SecretStore, type Strategy } from '../../shared/store.js';

/**
 * What the functions of a self-driven cloud (Azure, Google Cloud) are built from, and what they share: the store
 * rotates under its own lock, one invocation runs all four steps, and a trigger may be delivered more than once.
 * Everything is passed in (the store, the rotators, the clock), nothing created deep inside, so a test drives the
 * handlers with a file store and real databases, and each cloud's entry module with its own store.
 */
export interface SelfDrivenDeps {
  /** The cloud's store (a file store in tests): the SecretStore port, nothing cloud-specific. */
  store: SecretStore;
  /** The secrets whose CURRENT version is due for rotation at `now` (the cloud store's `dueSecretIds`). */
  dueSecretIds?: (now: Date) => Promise<string[]>;
  /** Every rotator: a deployment serves every engine of its store. */
  rotators: readonly Rotator[];
  defaultStrategy: Strategy;
  retention: RetentionPolicy;
  logLevel: LogLevel;
  /** Where the password policy variables are read (PASSWORD_LENGTH, EXCLUDE_*). Default process.env. */
  env?: NodeJS.ProcessEnv;
  resolveMaster?: MasterResolver;
  clock?: () => Date;
  /** Retry-After of a 409 ROTATION_IN_PROGRESS: about one lease of the lock (default 60 s). */
  retryAfterSeconds?: number;
  /** The sweep starts no new rotation after this long, and reports the rest for the next run (default 20 min). */
  sweepBudgetMs?: number;
  /** ROTATOR_ALERT_WEBHOOK's alerter: it hears every failure line; the handlers flush it before they answer. */
  alerter?: Alerter;
}

/** The invocation's logger over the redactor it was given: each cloud writes its lines its own way. */
export type LoggerFactory = (redactor: Redactor) => Logger;

/**
 * One invocation's tools. A fresh redactor, logger and engine per invocation: the logger writes the way its cloud
 * attributes lines to an invocation (Azure: through the invocation's context), and the redactor holds only the
 * values this invocation learned. Building an engine is cheap (it is a few fields); a self-driven rotation runs all
 * four steps in one invocation, so nothing is lost by not keeping it warm.
 */
export interface Invocation {
  redactor: Redactor;
  logger: Logger;
  engine(store?: SecretStore): RotationEngine;
  purger(): Purger;
}

export function invocation(deps: SelfDrivenDeps, makeLogger: LoggerFactory): Invocation {
  const redactor = new Redactor();
  const logger = alertingLogger(makeLogger(redactor), deps.alerter);
  const shared = {
    rotators: deps.rotators,
    logger,
    defaultStrategy: deps.defaultStrategy,
    ...(deps.resolveMaster === undefined ? {} : { resolveMaster: deps.resolveMaster }),
  };
  return {
    redactor,
    logger,
    engine: (store = deps.store) => new RotationEngine({ ...shared, store, ...(deps.env === undefined ? {} : { env: deps.env }) }),
    purger: () => new Purger({ ...shared, store: deps.store, defaultPolicy: deps.retention, ...(deps.clock === undefined ? {} : { clock: deps.clock }) }),
  };
}

export type GuardedOutcome =
  | { outcome: 'rotated' | 'resumed'; report: RotationReport }
  /** CURRENT was renewed (rotated, or put by hand) at or after `since`: the trigger has been dealt with. */
  | { outcome: 'already-rotated'; versionId: string; renewedAt: string };

/**
 * Rotates `secretId` unless its CURRENT version was renewed at or after `since` (the event's time, or the sweep's
 * `now`), deciding under the secret's rotation lock.
 *
 * Why: `engine.rotate` is self-driven and starts a fresh rotation whenever none is PENDING, so a second delivery of
 * one trigger (Event Grid and Pub/Sub deliver at least once, and redeliver after an error or a timeout; a Cloud
 * Scheduler job may fire together with Secret Manager's own notification) would rotate the secret a second time. The check is made while holding the lock, so two deliveries racing each other
 * cannot both pass it: the second one either meets the lock (ROTATION_IN_PROGRESS, redelivered later) or, after
 * the first has finished, a CURRENT renewed after the event. A rotation left PENDING is always resumed.
 * The engine is given the store with this lease already held (its own `lockRotation` call gets the same lease,
 * whose release is left to us), so the check and the rotation are one critical section.
 */
export async function rotateUnlessRenewed(kit: Invocation, store: SecretStore, secretId: string, since: Date): Promise<GuardedOutcome> {
  const lease = await store.lockRotation(secretId);
  try {
    const info = await store.describe(secretId);
    const current = versionWithStage(info, 'CURRENT');
    if (pendingRotation(info) === undefined && current !== undefined) {
      const renewed = [current.promotedAt, current.createdAt].filter((d): d is Date => d !== undefined).sort((a, b) => b.getTime() - a.getTime())[0];
      if (renewed !== undefined && renewed.getTime() >= since.getTime()) {
        return { outcome: 'already-rotated', versionId: current.versionId, renewedAt: renewed.toISOString() };
      }
    }
    const report = await kit.engine(withHeldLease(store, secretId, lease)).rotate(secretId);
    return { outcome: report.resumed ? 'resumed' : 'rotated', report };
  } finally {
    try {
      await lease.release();
    } catch (error) {
      kit.logger.warn('could not release the rotation lock; it expires on its own', { secretId, error });
    }
  }
}

/** `store`, except that locking `secretId` hands out `lease` (already held), whose release the caller keeps. */
function withHeldLease(store: SecretStore, secretId: string, lease: Lease): SecretStore {
  const held = new Proxy(lease, {
    get: (target, name) => (name === 'release' ? () => Promise.resolve() : bound(target, name)),
  });
  return new Proxy(store, {
    get: (target, name) => (name === 'lockRotation' ? (id: string) => (id === secretId ? Promise.resolve(held) : target.lockRotation(id)) : bound(target, name)),
  });
}

function bound(target: object, name: string | symbol): unknown {
  const member: unknown = Reflect.get(target, name);
  return typeof member === 'function' ? (member as (...args: unknown[]) => unknown).bind(target) : member;
}

/**
 * `handlers`, each waiting for the alerts it raised before it returns (or throws): a serverless runtime freezes the
 * instance once the handler has answered, and a send still under way would never leave.
 */
export function flushingAlerts<H extends object>(handlers: H, alerter: Alerter | undefined): H {
  if (alerter === undefined) return handlers;
  const wrapped: Record<string, unknown> = {};
  for (const [name, handler] of Object.entries(handlers)) {
    wrapped[name] =
      typeof handler === 'function'
        ? async (...args: unknown[]) => {
            try {
              return (await (handler as (...a: unknown[]) => Promise<unknown>)(...args));
            } finally {
              await alerter.flush();
            }
          }
        : handler;
  }
  return wrapped as H;
}
