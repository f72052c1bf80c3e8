import * as z from 'zod';
import { hasControlCharacter } from '../../shared/control-chars.js';
import { STAGES, STRATEGIES } from '../../shared/store.js';
import { checkSchedule, parseFailure } from '../../shared/schedule.js';
import type { Sealed } from './crypto.js';

/**
 * The store on disk (format version 2): a small manifest at the store path (ROTATOR_STORE) and one file per secret
 * in a directory beside it, so that reading or writing one secret touches only that secret's file.
 *
 *   <path>                       the manifest: { "format": "rotator-file-store", "version": 2, "keyCheck": {iv,tag,data} }
 *   <path>.d/<sha256(id)>.json   one secret: { "format": "rotator-file-store-secret", "version": 2, "secretId",
 *                                  "description"?, "rotation": {enabled, schedule?, strategy?, safeWindowMs?, keepSuperseded?},
 *                                  "tags"?: {key: value}, "createdAt", "lastError"?: "CODE step time",
 *                                  "versions": [ { "versionId", "createdAt", "stages": [...], "value"?: {iv,tag,data},
 *                                                  "promotedAt"? } ] }
 *   <path>.d/<sha256(id)>.json.lock   the short lock a write of that secret holds (lock.ts)
 *   <path>.d/.<sha256(id)>.json.tmp   that write's temporary file before its rename (io.ts)
 *   <path>.lock                  the store lock, held only to create the store or migrate it
 *   <path>.locks/<sha256(id)>.lock    the rotation lock of a secret (file-store.ts)
 *
 * A secret's file is named by the SHA-256 of its id (hex), since ids may contain "/" and names have length limits;
 * the file also names its secret, and one whose `secretId` does not hash to its name (a file copied or renamed onto
 * another secret's) is refused as corrupt. Metadata (ids, labels, dates, rotation settings) is plaintext so a person
 * can inspect the files; each value is an AES-256-GCM ciphertext bound to its secret and version id; `keyCheck` is
 * a known constant under the same key, so a wrong key is told apart from a damaged file. Versions are kept in
 * creation order, so successive files diff cleanly. A version without `value` is the PENDING stub a rotation starts
 * with.
 *
 * Version 1 was one JSON document at the store path, rewritten whole on every change:
 *   { "format": "rotator-file-store", "version": 1, "keyCheck", "secrets": [ <secret as above, without format and
 *     version>, ... ] }  (sorted by id)
 * It is still read as it is; the first write migrates it (migrate.ts).
 */
export const FORMAT_MARKER = 'rotator-file-store';
export const SECRET_FORMAT_MARKER = 'rotator-file-store-secret';
export const FORMAT_VERSION = 2;
export const LEGACY_FORMAT_VERSION = 1;

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

const secretFields = {
  secretId: secretIdSchema,
  description: z.string().max(DESCRIPTION_MAX).optional(),
  rotation: rotationSettingsSchema,
  /** Absent when the secret has none (so a store without tags stays readable by a Rotator that knows none). */
  tags: tagsSchema.optional(),
  createdAt: timestamp,
  versions: z.array(versionSchema),
  /** The last failed rotation (shared/schedule.ts formatFailure), until one succeeds. */
  lastError: z.string().max(128).refine((text) => parseFailure(text) !== undefined, 'must be a recorded failure: CODE step time').optional(),
};

/** Version ids unique, each stage on at most one version, only the PENDING stub without a value. */
function checkVersions(secret: { versions: StoredVersion[] }, ctx: z.RefinementCtx, at: PropertyKey[]): void {
  const versionIds = new Set<string>();
  const seen = new Set<string>();
  secret.versions.forEach((version, j) => {
    const path = [...at, 'versions', j];
    if (versionIds.has(version.versionId)) ctx.addIssue({ code: 'custom', path: [...path, 'versionId'], message: 'duplicate version id' });
    versionIds.add(version.versionId);
    for (const stage of version.stages) {
      if (seen.has(stage)) ctx.addIssue({ code: 'custom', path: [...path, 'stages'], message: `${stage} is on more than one version` });
      seen.add(stage);
    }
    if (version.value === undefined && !version.stages.includes('PENDING')) {
      ctx.addIssue({ code: 'custom', path: [...path, 'value'], message: 'only the PENDING version may lack a value' });
    }
  });
}

// Strict objects: a key this version does not know is refused rather than silently dropped on the next write.
const manifestSchema = z.strictObject({
  format: z.literal(FORMAT_MARKER),
  version: z.literal(FORMAT_VERSION),
  keyCheck: sealedSchema,
});

const secretFileSchema = z
  .strictObject({ format: z.literal(SECRET_FORMAT_MARKER), version: z.literal(FORMAT_VERSION), ...secretFields })
  .superRefine((secret, ctx) => checkVersions(secret, ctx, []));

const legacyDocumentSchema = z
  .strictObject({
    format: z.literal(FORMAT_MARKER),
    version: z.literal(LEGACY_FORMAT_VERSION),
    keyCheck: sealedSchema,
    secrets: z.array(z.strictObject(secretFields)),
  })
  .superRefine((doc, ctx) => {
    const ids = new Set<string>();
    doc.secrets.forEach((secret, i) => {
      if (ids.has(secret.secretId)) ctx.addIssue({ code: 'custom', path: ['secrets', i, 'secretId'], message: 'duplicate secret id' });
      ids.add(secret.secretId);
      checkVersions(secret, ctx, ['secrets', i]);
    });
  });

export type StoredVersion = z.infer<typeof versionSchema> & { value?: Sealed };
export type StoredSecret = z.infer<z.ZodObject<typeof secretFields>>;
export type Manifest = z.infer<typeof manifestSchema>;
export type LegacyDocument = z.infer<typeof legacyDocumentSchema>;

/** Why a file could not be read; the caller adds the path and what to do. */
export type ParseFailure = { ok: false; reason: 'not-json' | 'not-a-store' | 'newer-version' | 'invalid'; detail: string };

/** The file at the store path: the manifest, or a whole version-1 store. */
export type StoreFileOutcome = { ok: true; manifest: Manifest } | { ok: true; legacy: LegacyDocument } | ParseFailure;

export function parseStoreFile(raw: string): StoreFileOutcome {
  const json = parseMarked(raw, FORMAT_MARKER);
  if (!json.ok) return json;
  if ((json.value as { version?: unknown }).version === LEGACY_FORMAT_VERSION) {
    const legacy = validate(legacyDocumentSchema, json.value);
    return legacy.ok ? { ok: true, legacy: legacy.data } : legacy;
  }
  const manifest = validate(manifestSchema, json.value);
  return manifest.ok ? { ok: true, manifest: manifest.data } : manifest;
}

export function parseSecretFile(raw: string): { ok: true; secret: StoredSecret } | ParseFailure {
  const json = parseMarked(raw, SECRET_FORMAT_MARKER);
  if (!json.ok) return json;
  const result = validate(secretFileSchema, json.value);
  if (!result.ok) return result;
  const secret: Partial<typeof result.data> = { ...result.data };
  delete secret.format; // the file's own marker, not the secret's
  delete secret.version;
  return { ok: true, secret: secret as StoredSecret };
}

/** JSON carrying `marker`, and not a version newer than this Rotator's (refused untouched, naming the upgrade). */
function parseMarked(raw: string, marker: string): { ok: true; value: object } | ParseFailure {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, reason: 'not-json', detail: 'it is not valid JSON' };
  }
  if (json === null || typeof json !== 'object' || (json as { format?: unknown }).format !== marker) {
    return { ok: false, reason: 'not-a-store', detail: `it does not carry the "${marker}" format marker` };
  }
  const version = (json as { version?: unknown }).version;
  if (typeof version === 'number' && Number.isInteger(version) && version > FORMAT_VERSION) {
    return { ok: false, reason: 'newer-version', detail: `it is format version ${version}; this Rotator reads versions ${LEGACY_FORMAT_VERSION} and ${FORMAT_VERSION}` };
  }
  return { ok: true, value: json };
}

function validate<S extends z.ZodType>(schema: S, json: unknown): { ok: true; data: z.infer<S> } | ParseFailure {
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, data: result.data };
  // Paths and messages only: zod does not put the offending input into an issue's message.
  const issues = result.error.issues.slice(0, 5).map((issue) => `${issue.path.join('.') || '(document)'}: ${issue.message}`);
  return { ok: false, reason: 'invalid', detail: `it fails validation (${issues.join('; ')})` };
}

export function serializeManifest(keyCheck: Sealed): string {
  const manifest: Manifest = { format: FORMAT_MARKER, version: FORMAT_VERSION, keyCheck };
  return JSON.stringify(manifest, null, 2) + '\n';
}

/** A secret's file; its content depends only on the secret, so a migration that is re-run writes the same bytes. */
export function serializeSecret(secret: StoredSecret): string {
  return JSON.stringify({ format: SECRET_FORMAT_MARKER, version: FORMAT_VERSION, ...secret }, null, 2) + '\n';
}
