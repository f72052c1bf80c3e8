import * as z from 'zod';
import { hasControlCharacter } from '../../shared/control-chars.js';
import { STAGES, STRATEGIES } from '../../shared/store.js';
import { checkSchedule, parseFailure } from '../../shared/schedule.js';
import type { Sealed } from './crypto.js';

/**
 * The store file: one JSON document, rewritten whole on every change (see io.ts). Metadata (ids, labels,
 * dates, rotation settings) is plaintext so a person can inspect the file; each value is an AES-256-GCM
 * ciphertext bound to its secret and version id; `keyCheck` is a known constant under the same key.
 *
 *   { "format": "rotator-file-store", "version": 1, "keyCheck": {iv,tag,data},
 *     "secrets": [ { "secretId", "description"?, "rotation": {enabled, schedule?, strategy?, safeWindowMs?, keepSuperseded?},
 *                    "tags"?: {key: value}, "createdAt", "lastError"?: "CODE step time",
 *                    "versions": [ { "versionId", "createdAt", "stages": [...], "value"?: {iv,tag,data} } ] } ] }
 *
 * Secrets are kept sorted by id and versions in creation order, so successive files diff cleanly. A version
 * without `value` is the PENDING stub a rotation starts with.
 */
export const FORMAT_MARKER = 'rotator-file-store';
export const FORMAT_VERSION = 1;

export const SECRET_ID_RULE = '1 to 512 characters of A-Z a-z 0-9 and / _ + = . @ : -';
export const secretIdSchema = z
  .string()
  .min(1, `must be ${SECRET_ID_RULE}`)
  .max(512, `must be ${SECRET_ID_RULE}`)
  .regex(/^[A-Za-z0-9/_+=.@:-]+$/, `must be ${SECRET_ID_RULE}`);

// Version ids are rotation tokens: UUIDs from the engine, ClientRequestTokens (32 to 64 characters) on AWS.
export const VERSION_ID_RULE = '1 to 128 characters of A-Z a-z 0-9 and / _ + = . @ : -';
export const versionIdSchema = z
  .string()
  .min(1, `must be ${VERSION_ID_RULE}`)
  .max(128, `must be ${VERSION_ID_RULE}`)
  .regex(/^[A-Za-z0-9/_+=.@:-]+$/, `must be ${VERSION_ID_RULE}`);

export const DESCRIPTION_MAX = 2048;

/**
 * Tags: the metadata a secret carries (SecretInfo.tags), within AWS's tag limits so a secret moves between the stores
 * either way: at most 50, keys of 1-128 and values of 0-256 characters, no control characters, and no `aws:` prefix
 * (reserved there).
 */
export const TAGS_MAX = 50;
export const TAG_RULE = 'keys of 1 to 128 and values of at most 256 characters, no control characters, keys not starting with "aws:" and not "__proto__"';
const tagRule = `tags need ${TAG_RULE}`;
export const tagsSchema = z
  .record(
    z.string().min(1, tagRule).max(128, tagRule).refine((k) => !hasControlCharacter(k) && !k.toLowerCase().startsWith('aws:') && k !== '__proto__', tagRule),
    z.string().max(256, tagRule).refine((v) => !hasControlCharacter(v), tagRule),
  )
  .refine((tags) => Object.keys(tags).length <= TAGS_MAX, `at most ${TAGS_MAX} tags`);

const scheduleSchema = z
  .discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('rate'), everyMs: z.number().int(), windowMs: z.number().int().optional() }),
    z.strictObject({ kind: z.literal('cron'), expression: z.string().max(256), windowMs: z.number().int().optional() }),
  ])
  // The same bounds as an operator's input: a hand-edited file cannot schedule what `--every` would refuse.
  .refine((schedule) => {
    try {
      checkSchedule(schedule, 'the schedule');
      return true;
    } catch {
      return false;
    }
  }, 'must be a rate from 1 hour to 1000 days or a valid cron expression, with a window of 1 to 24 hours');

export const rotationSettingsSchema = z.strictObject({
  enabled: z.boolean(),
  schedule: scheduleSchema.optional(),
  strategy: z.enum(STRATEGIES).optional(),
  safeWindowMs: z.number().int().min(0).optional(),
  keepSuperseded: z.number().int().min(0).max(1000).optional(),
});

/** The same settings as given by a caller: unknown keys are dropped rather than refused. */
export const rotationInputSchema = z.object(rotationSettingsSchema.shape);

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
const sealedSchema = z.strictObject({ iv: base64, tag: base64, data: base64 });
const timestamp = z.iso.datetime({ offset: true });

const versionSchema = z.strictObject({
  versionId: versionIdSchema,
  createdAt: timestamp,
  stages: z.array(z.enum(STAGES)),
  value: sealedSchema.optional(),
  /** When the version last became CURRENT (the purger measures the safe window from its successor's). */
  promotedAt: timestamp.optional(),
});

const secretSchema = z.strictObject({
  secretId: secretIdSchema,
  description: z.string().max(DESCRIPTION_MAX).optional(),
  rotation: rotationSettingsSchema,
  /** Absent when the secret has none (so a store without tags stays readable by a Rotator that knows none). */
  tags: tagsSchema.optional(),
  createdAt: timestamp,
  versions: z.array(versionSchema),
  /** The last failed rotation (shared/schedule.ts formatFailure), until one succeeds. */
  lastError: z.string().max(128).refine((text) => parseFailure(text) !== undefined, 'must be a recorded failure: CODE step time').optional(),
});

// Strict objects: a key this version does not know is refused rather than silently dropped on the next write.
const documentSchema = z
  .strictObject({
    format: z.literal(FORMAT_MARKER),
    version: z.literal(FORMAT_VERSION),
    keyCheck: sealedSchema,
    secrets: z.array(secretSchema),
  })
  .superRefine((doc, ctx) => {
    const ids = new Set<string>();
    doc.secrets.forEach((secret, i) => {
      if (ids.has(secret.secretId)) ctx.addIssue({ code: 'custom', path: ['secrets', i, 'secretId'], message: 'duplicate secret id' });
      ids.add(secret.secretId);
      const versionIds = new Set<string>();
      const seen = new Set<string>();
      secret.versions.forEach((version, j) => {
        const at = ['secrets', i, 'versions', j];
        if (versionIds.has(version.versionId)) ctx.addIssue({ code: 'custom', path: [...at, 'versionId'], message: 'duplicate version id' });
        versionIds.add(version.versionId);
        for (const stage of version.stages) {
          if (seen.has(stage)) ctx.addIssue({ code: 'custom', path: [...at, 'stages'], message: `${stage} is on more than one version` });
          seen.add(stage);
        }
        if (version.value === undefined && !version.stages.includes('PENDING')) {
          ctx.addIssue({ code: 'custom', path: [...at, 'value'], message: 'only the PENDING version may lack a value' });
        }
      });
    });
  });

export type StoredVersion = z.infer<typeof versionSchema> & { value?: Sealed };
export type StoredSecret = z.infer<typeof secretSchema>;
export type StoreDocument = z.infer<typeof documentSchema>;

/** Why a file could not be read as a store; the caller adds the path and what to do. */
export type ParseOutcome =
  | { ok: true; document: StoreDocument }
  | { ok: false; reason: 'not-json' | 'not-a-store' | 'newer-version' | 'invalid'; detail: string };

export function parseDocument(raw: string): ParseOutcome {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, reason: 'not-json', detail: 'it is not valid JSON' };
  }
  if (json === null || typeof json !== 'object' || (json as { format?: unknown }).format !== FORMAT_MARKER) {
    return { ok: false, reason: 'not-a-store', detail: `it does not carry the "${FORMAT_MARKER}" format marker` };
  }
  const version = (json as { version?: unknown }).version;
  if (typeof version === 'number' && Number.isInteger(version) && version > FORMAT_VERSION) {
    return { ok: false, reason: 'newer-version', detail: `it is format version ${version}; this Rotator reads version ${FORMAT_VERSION}` };
  }
  const result = documentSchema.safeParse(json);
  if (!result.success) {
    // Paths and messages only: zod does not put the offending input into an issue's message.
    const issues = result.error.issues.slice(0, 5).map((issue) => `${issue.path.join('.') || '(document)'}: ${issue.message}`);
    return { ok: false, reason: 'invalid', detail: `it fails validation (${issues.join('; ')})` };
  }
  return { ok: true, document: result.data };
}

export function serializeDocument(document: StoreDocument): string {
  return JSON.stringify(document, null, 2) + '\n';
}

export function emptyDocument(keyCheck: Sealed): StoreDocument {
  return { format: FORMAT_MARKER, version: FORMAT_VERSION, keyCheck, secrets: [] };
}
