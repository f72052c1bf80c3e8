import type { RotationReport } from '../shared/engine.js';
import type { SecretInfo } from '../shared/store.js';

/** Plain-text renderings for people; --json gives machines the same facts. */
export function formatDescribe(info: SecretInfo): string {
  const rotation = info.rotation.enabled
    ? `enabled (strategy: ${info.rotation.strategy ?? 'deployment default'})`
    : 'disabled';
  const lines = [`secret ${info.secretId}`, `  rotation: ${rotation}`, `  versions (oldest first):`];
  for (const v of info.versions) {
    const labels = v.stages.length > 0 ? v.stages.join(',') : '-';
    lines.push(`    ${v.versionId}  ${labels.padEnd(16)} ${v.createdAt?.toISOString() ?? 'created ?'}${v.hasValue ? '' : '  (no value yet)'}`);
  }
  return lines.join('\n') + '\n';
}

export function describeJson(info: SecretInfo): unknown {
  return {
    secretId: info.secretId,
    rotation: info.rotation,
    versions: info.versions.map((v) => ({ ...v, createdAt: v.createdAt?.toISOString() })),
  };
}

export function formatStep(step: string, ms: number, outcome: string): string {
  const note = outcome === 'done' ? '' : `  (${outcome})`;
  return `  ${step.padEnd(13)} ${String(ms).padStart(6)} ms${note}\n`;
}

export function formatReport(report: RotationReport): string {
  const how = report.resumed ? 'resumed and finished' : 'rotated';
  return `${how} ${report.secretId}: CURRENT is now version ${report.versionId} (${report.engine}, ${report.strategy}, ${report.totalMs} ms)\n`;
}
