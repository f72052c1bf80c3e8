import { escapeControl } from '../shared/control-chars.js';
import type { RotationReport } from '../shared/engine.js';
import { statusJson, type SecretStatus } from '../shared/status.js';
import type { SecretInfo } from '../shared/store.js';
import type { SecretSummary } from '../stores/file/index.js';

export { escapeControl };

/**
 * Plain-text renderings for people; --json gives machines the same facts. Whatever came from input (ids, engine
 * names) is printed through escapeControl, so a control character in it cannot forge a line of output.
 */
export function formatDescribe(info: SecretInfo, status: SecretStatus): string {
  const rotation = info.rotation.enabled
    ? `enabled (strategy: ${info.rotation.strategy ?? 'deployment default'})`
    : 'disabled';
  const lines = [`secret ${escapeControl(info.secretId)}`, `  rotation: ${rotation}`, ...scheduleLines(status), `  versions (oldest first):`];
  for (const v of info.versions) {
    const labels = v.stages.length > 0 ? v.stages.join(',') : '-';
    lines.push(`    ${escapeControl(v.versionId)}  ${labels.padEnd(16)} ${v.createdAt?.toISOString() ?? 'created ?'}${v.hasValue ? '' : '  (no value yet)'}`);
  }
  return lines.join('\n') + '\n';
}

/** The schedule part of `secrets describe`: the schedule, the last rotation, the next due date, the last failure. */
function scheduleLines(status: SecretStatus): string[] {
  const lines = [`  schedule: ${status.schedule ?? 'none (rotated only when asked: rotator secrets rotation <id> --every 30d sets one)'}`];
  if (status.lastRotatedAt !== undefined) lines.push(`  last rotated: ${isoSecond(status.lastRotatedAt)}`);
  if (status.overdueSince !== undefined) lines.push(`  next due: OVERDUE since ${isoSecond(status.overdueSince)} (due ${isoSecond(status.nextDueAt ?? status.overdueSince)})`);
  else if (status.nextDueAt !== undefined) lines.push(`  next due: ${isoSecond(status.nextDueAt)}${status.due ? ' (due now)' : ''}`);
  if (status.serviceNextRotationAt !== undefined) lines.push(`  the service's next rotation: ${isoSecond(status.serviceNextRotationAt)}`);
  if (status.lastError !== undefined) {
    lines.push(`  last error: ${status.lastError.code}${status.lastError.step === undefined ? '' : ` in ${status.lastError.step}`} at ${isoSecond(status.lastError.at)}`);
  }
  return lines;
}

export function describeJson(info: SecretInfo, status: SecretStatus): unknown {
  return {
    secretId: info.secretId,
    rotation: info.rotation,
    status: statusJson(status),
    versions: info.versions.map((v) => ({ ...v, createdAt: v.createdAt?.toISOString() })),
  };
}

/** A date for a human line: ISO 8601 in UTC to the second (the same in every time zone). */
export function isoSecond(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function formatStep(step: string, ms: number, outcome: string): string {
  const note = outcome === 'done' ? '' : `  (${outcome})`;
  return `  ${step.padEnd(13)} ${String(ms).padStart(6)} ms${note}\n`;
}

export function formatReport(report: RotationReport): string {
  const how = report.resumed ? 'resumed and finished' : 'rotated';
  return `${how} ${escapeControl(report.secretId)}: CURRENT is now version ${escapeControl(report.versionId)} (${escapeControl(report.engine)}, ${report.strategy}, ${report.totalMs} ms)\n`;
}

/** Rows of cells in columns padded to their widest cell (after escaping), two spaces apart, no trailing blanks. */
export function formatTable(rows: ReadonlyArray<readonly string[]>): string {
  const escaped = rows.map((row) => row.map((cell) => escapeControl(cell)));
  const widths: number[] = [];
  for (const row of escaped) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return escaped.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ') + '\n').join('');
}

/** `secrets list`: one aligned row a secret. */
export function formatList(entries: readonly SecretSummary[]): string {
  return formatTable(entries.map((e) => [e.secretId, `rotation ${e.rotation.enabled ? 'enabled' : 'disabled'}`, `${e.versionCount} version(s)`]));
}
