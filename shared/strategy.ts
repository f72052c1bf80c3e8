import { CLONE_SUFFIX } from './alternate-user.js';
import type { Rotator } from './rotator.js';
import type { SecretObject } from './secret.js';
import type { RotationSettings, Strategy } from './store.js';

/**
 * Which strategy rotates a secret, and why. In order:
 * 1. the secret's own setting (file store: `secrets rotation --strategy`; AWS: the rotator:strategy tag);
 * 2. the deployment's default (ROTATION_STRATEGY) when it names a zero-downtime strategy;
 * 3. alternating-users when the CURRENT value is shaped like AWS's MultiUser template (a `masterarn`, or a username
 *    that is an alternate, `..._clone`) and the rotator can alternate: such a secret was set up for zero downtime, and
 *    rotating it single-user would silently give that up (a plain ROTATION_STRATEGY=single-user does not opt out:
 *    only the secret's own setting does);
 * 4. the default, single-user when unset.
 */
export interface StrategyChoice {
  strategy: Strategy;
  source: 'secret' | 'default' | 'value';
  /** For `value`: what in the CURRENT value chose alternating-users (key names only, never a value). */
  evidence?: string;
}

export function chooseStrategy(settings: RotationSettings, current: SecretObject, rotator: Rotator, defaultStrategy: Strategy): StrategyChoice {
  if (settings.strategy !== undefined) return { strategy: settings.strategy, source: 'secret' };
  if (defaultStrategy !== 'single-user' || !rotator.strategies.includes('alternating-users')) return { strategy: defaultStrategy, source: 'default' };
  const evidence = multiUserEvidence(current);
  return evidence === undefined ? { strategy: defaultStrategy, source: 'default' } : { strategy: 'alternating-users', source: 'value', evidence };
}

/** What marks a value as AWS's MultiUser template: a master secret named, or an alternate user. */
export function multiUserEvidence(current: SecretObject): string | undefined {
  const found: string[] = [];
  if (typeof current.masterarn === 'string' && current.masterarn.length > 0) found.push('it names a master secret ("masterarn")');
  const user = current.username;
  if (typeof user === 'string' && user.endsWith(CLONE_SUFFIX) && user.length > CLONE_SUFFIX.length) found.push(`its user is an alternate ("${CLONE_SUFFIX}" suffix)`);
  return found.length === 0 ? undefined : found.join(' and ');
}

/** The words an operator needs to pin the strategy chosen from the value (or pick another) on either store. */
export function pinStrategyHint(secretId: string, strategy: Strategy): string {
  return `set it on the secret to make this explicit (file store: rotator secrets rotation ${secretId} --strategy ${strategy}; AWS: tag rotator:strategy=${strategy})`;
}
