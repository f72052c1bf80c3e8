import { STAGES, type Stage } from '../../shared/store.js';
import type { StoredSecret, StoredVersion } from './format.js';

/**
 * Stage labels on a secret held in memory: every write edits a secret with these, then replaces its file whole. Label
 * uniqueness (each stage on at most one version) lives in `moveStage`.
 */

export function withStage(secret: StoredSecret, stage: Stage): StoredVersion | undefined {
  return secret.versions.find((v) => v.stages.includes(stage));
}

export function findVersion(secret: StoredSecret, versionId: string): StoredVersion | undefined {
  return secret.versions.find((v) => v.versionId === versionId);
}

/** Takes `stage` off whichever version has it. */
export function removeStage(secret: StoredSecret, stage: Stage): void {
  for (const v of secret.versions) v.stages = v.stages.filter((s) => s !== stage);
  pruneStubs(secret);
}

/** Puts `stage` on `target` (already in the secret's versions) and on no other. */
export function moveStage(secret: StoredSecret, stage: Stage, target: StoredVersion): void {
  for (const v of secret.versions) if (v !== target) v.stages = v.stages.filter((s) => s !== stage);
  if (!target.stages.includes(stage)) target.stages = STAGES.filter((s) => s === stage || target.stages.includes(s));
  pruneStubs(secret);
}

/** A value-less stub that lost PENDING to another rotation holds nothing and no operation can use it: drop it. */
export function pruneStubs(secret: StoredSecret): void {
  secret.versions = secret.versions.filter((v) => v.value !== undefined || v.stages.includes('PENDING'));
}

export function labels(version: StoredVersion): string {
  return version.stages.length === 0 ? 'no stage label' : `labelled ${version.stages.join(', ')}`;
}

export function byCreation(versions: StoredVersion[]): StoredVersion[] {
  // Array.prototype.sort is stable: versions created in the same millisecond keep their insertion order.
  return [...versions].sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
}
