import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { fail, loadService, startGrpcFake, Status, timestamp, type RecordedCall, type UnaryImpl } from './grpc.js';

/**
 * A fake Google Secret Manager v1 (the global, non-regional API) over plaintext gRPC on 127.0.0.1, served from the
 * `.proto` files inside @google-cloud/secret-manager, so the real `SecretManagerServiceClient` talks to it through
 * google-gax. `clientOptions()` gives the construction that reaches it without any metadata-server lookup.
 *
 * It enforces what the Secret Manager store relies on, as the service documents it:
 * - RPCs: Create/Get/Update/Delete/ListSecrets, AddSecretVersion, Get/Access/ListSecretVersions and
 *   Enable/Disable/DestroySecretVersion. Every other RPC of the service (IAM, managed rotation) is UNIMPLEMENTED.
 * - Names: `projects/<project>/secrets/<id>[/versions/<version>]` with ids `[A-Za-z0-9_-]{1,255}`; anything else
 *   (regional `locations/` names included) is INVALID_ARGUMENT, without echoing the name. A well-formed name in
 *   another project is PERMISSION_DENIED: the service checks IAM on the resource before it looks the resource up,
 *   so a caller that holds no role there learns nothing about existence; the fake's caller holds roles in its own
 *   project only. A missing secret or version is NOT_FOUND. A request may name the project by id or by number;
 *   answers and notifications always name it by number (`projectNumber`), as the service does.
 * - `latest` is the most recently created version whatever its state: accessing a DISABLED or DESTROYED latest is
 *   FAILED_PRECONDITION, never a fall-back to an older version. `latest` and aliases resolve only in
 *   GetSecretVersion and AccessSecretVersion; Enable/Disable/Destroy need a version number (INVALID_ARGUMENT).
 * - Aliases (`version_aliases`): at most 50; names start with a letter, then letters, digits, `_` and `-`, at most
 *   63 characters, never `latest` or `new` (any case); each must name an existing version: INVALID_ARGUMENT
 *   otherwise. Conservative choice (the documentation does not settle it): disabling or destroying a version an
 *   alias names is FAILED_PRECONDITION, so a store must move the alias first (Rotator's store always does).
 * - etags (quoted, opaque): every UpdateSecret gives the secret a new etag, even one that changes nothing;
 *   AddSecretVersion does not change it. Each version has its own etag, renewed by Enable/Disable/Destroy. A
 *   non-empty etag that does not match (UpdateSecret, DeleteSecret, Enable/Disable/DestroySecretVersion) is
 *   FAILED_PRECONDITION; an empty one skips the check.
 * - UpdateSecret needs an update mask of known snake_case paths (labels, annotations, version_aliases, rotation,
 *   rotation.next_rotation_time, rotation.rotation_period, topics, expire_time, ttl, version_destroy_ttl); only
 *   those fields change. An empty or unknown path is INVALID_ARGUMENT.
 * - Labels: at most 64, keys `[a-z][a-z0-9_-]{0,62}`, values `[a-z0-9_-]{0,63}`. Annotations: keys 1-63 characters,
 *   alphanumeric at both ends and `[A-Za-z0-9._-]` between, keys and values at most 16 KiB (UTF-8) in total.
 *   INVALID_ARGUMENT otherwise; messages never carry a label or annotation value.
 * - CreateSecret needs a replication policy (automatic, or user-managed with replicas); an existing id is
 *   ALREADY_EXISTS.
 * - Payloads: present, at most 65,536 bytes (INVALID_ARGUMENT); a `data_crc32c` the client sends must be the CRC32C
 *   of the data (INVALID_ARGUMENT), and AccessSecretVersion returns the checksum as the service does. Version
 *   numbers start at 1 and are never reused, also after a version is destroyed.
 * - Lists: versions newest first, secrets by name; `pageSize` (negative is INVALID_ARGUMENT; 0 or none means the
 *   server's choice, here 25 so that a caller that ignores `nextPageToken` fails in tests; at most 25,000); page
 *   tokens are opaque cursors bound to the request that made them (another or a forged one is INVALID_ARGUMENT).
 *   Paging by cursor neither repeats nor skips when versions are added between pages.
 * - ListSecrets `filter`: terms joined by ` AND ` or spaces, each `labels.<key>=<value>` (exact match),
 *   `labels.<key>:*` (the label is present) or `name:<text>` (the secret id contains the text, as the service's
 *   `:` operator does; a store narrowing by prefix must check the prefix itself); a label value may be in double
 *   quotes. ListSecretVersions takes `state:<STATE>` (or none). Anything else is INVALID_ARGUMENT, so a store
 *   sending a filter this fake does not understand fails loudly.
 * - Rotation: `rotation_period` in whole seconds, at least 3,600 and at most 3,153,600,000 (100 years), and only
 *   with `next_rotation_time`; a `next_rotation_time` being set must be at least 300 s and at most 100 years ahead
 *   of the clock; a secret with a rotation needs at least one topic. Topics: at most 10, `projects/<p>/topics/<t>`.
 *   The proto marks `rotation_period` input-only and the documentation does not say whether reads show it; the fake
 *   returns it, so a store must treat it as optional (it may be absent in production).
 * - `version_destroy_ttl` (delayed destruction, at least 24 hours): DestroySecretVersion then makes the version
 *   DISABLED with `scheduledDestroyTime` = now + ttl; once the clock passes that, it is DESTROYED and its payload
 *   dropped. EnableSecretVersion before then cancels the destruction. Without a ttl, destroy drops the payload at once.
 *   `expire_time`/`ttl` on a secret deletes it once the clock passes the expiry.
 * - `fireDueRotations()` plays the service's scheduler: for each secret whose next_rotation_time has come, one
 *   SECRET_ROTATE per topic; next_rotation_time then moves on by the period (once: a schedule missed for several
 *   periods is due again at the next call), and a one-time schedule (no period) is used up. Conservative choice:
 *   this changes the secret's etag, as any other write of the secret does, so a store's compare-and-swap racing a
 *   rotation notification must re-read and retry.
 * - Notifications, for secrets with topics, one message per topic into `published`: SECRET_CREATE, SECRET_UPDATE,
 *   SECRET_DELETE, SECRET_VERSION_ADD, SECRET_VERSION_ENABLE, SECRET_VERSION_DISABLE, SECRET_VERSION_DESTROY and
 *   SECRET_VERSION_DESTROY_SCHEDULED on the matching operations; SECRET_ROTATE from `fireDueRotations()`.
 *   Attributes `eventType`, `secretId` (the secret's full name), `dataFormat` (`JSON_API_V1`), `timestamp`
 *   (RFC 3339), `versionId` (the version's full name, version events only) and `deleteType` (SECRET_DELETE only);
 *   `data` is the base64 of the Secret's JSON (the SecretVersion's for version events) in the REST API's form.
 * - Times come from the injectable clock; createTime and friends are protobuf Timestamps.
 *
 * `calls` records every RPC with the resource it named and its status, never a payload.
 */

export type ClientOptions = NonNullable<ConstructorParameters<typeof SecretManagerServiceClient>[0]>;

export interface SecretManagerFakeOptions {
  /** The project whose secrets the fake serves (default `test-project`). */
  project?: string;
  /**
   * The project's number (default 123456789012). Requests may name the project by id or by number; answers and
   * notifications name it by number, as the service does, so a client must not expect its own spelling back.
   */
  projectNumber?: string;
  /** The clock for create times, scheduled destruction, expiry and rotation (default: the real one). */
  clock?: () => Date;
}

export type VersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED';

export interface SecretView {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  versionAliases: Record<string, number>;
  etag: string;
  rotation?: { nextRotationTime?: Date; rotationPeriodSeconds?: number };
  topics: string[];
  versionDestroyTtlSeconds?: number;
}

export interface VersionView {
  n: number;
  state: VersionState;
  createTime: Date;
  scheduledDestroyTime?: Date;
}

export type EventType =
  | 'SECRET_CREATE'
  | 'SECRET_UPDATE'
  | 'SECRET_DELETE'
  | 'SECRET_VERSION_ADD'
  | 'SECRET_VERSION_ENABLE'
  | 'SECRET_VERSION_DISABLE'
  | 'SECRET_VERSION_DESTROY'
  | 'SECRET_VERSION_DESTROY_SCHEDULED'
  | 'SECRET_ROTATE';

export interface PublishedMessage {
  /** `projects/<p>/topics/<t>`, one of the secret's topics. */
  topic: string;
  attributes: { eventType: EventType; secretId: string; dataFormat: 'JSON_API_V1'; timestamp: string; versionId?: string; deleteType?: string };
  /** Base64 of the resource's JSON, as Pub/Sub carries it. */
  data: string;
}

export interface SecretManagerFake {
  readonly port: number;
  readonly project: string;
  /** Every RPC: name, resource, status (never payloads). */
  readonly calls: RecordedCall[];
  /** Options for `new SecretManagerServiceClient(...)` that reach this fake and never touch a metadata server. */
  clientOptions(): ClientOptions;
  /** Fail the next `times` (default 1) calls of `rpc` (e.g. `AccessSecretVersion`) with gRPC `code`. */
  failNext(rpc: string, code: number, times?: number): void;
  /** The secret's metadata, bypassing the API (undefined when it does not exist). */
  secret(secretId: string): SecretView | undefined;
  /** The secret's versions, oldest first, without payloads (empty when the secret does not exist). */
  versions(secretId: string): VersionView[];
  /** A version's payload (undefined when missing or destroyed): for the leak canary's harvest in tests. */
  payload(secretId: string, n: number): Buffer | undefined;
  /** Pub/Sub messages the service would have published to the secrets' topics, oldest first. */
  readonly published: PublishedMessage[];
  /** Publishes SECRET_ROTATE for each secret whose nextRotationTime <= clock() and advances it by the period. */
  fireDueRotations(): PublishedMessage[];
  close(): Promise<void>;
}

const SERVICE = 'google.cloud.secretmanager.v1.SecretManagerService';
const PROTO = 'google/cloud/secretmanager/v1/service.proto';

const SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/;
const PROJECT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const VERSION_NUMBER = /^[1-9][0-9]{0,15}$/;
const VERSION_SEGMENT = /^[A-Za-z0-9_-]{1,63}$/;
const ALIAS = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
const RESERVED_ALIASES = new Set(['latest', 'new']);
const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;
const ANNOTATION_KEY = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const TOPIC = /^projects\/[a-z0-9][a-z0-9-]{0,62}\/topics\/[A-Za-z][A-Za-z0-9._~+%-]{2,254}$/;

const MAX_PAYLOAD_BYTES = 65_536;
const MAX_LABELS = 64;
const MAX_ALIASES = 50;
const MAX_ANNOTATION_BYTES = 16 * 1024;
const MAX_TOPICS = 10;
const MIN_ROTATION_PERIOD_S = 3_600;
const MAX_DURATION_S = 3_153_600_000;
const MIN_ROTATION_LEAD_MS = 300_000;
const MIN_DESTROY_TTL_S = 86_400;
const DEFAULT_PAGE = 25;
const MAX_PAGE = 25_000;

const UPDATE_PATHS = new Set([
  'labels',
  'annotations',
  'version_aliases',
  'rotation',
  'rotation.next_rotation_time',
  'rotation.rotation_period',
  'topics',
  'expire_time',
  'ttl',
  'version_destroy_ttl',
]);

interface Version {
  n: number;
  state: VersionState;
  data?: Buffer;
  /** Whether the client sent a checksum with the payload (the service reports it). */
  clientChecksum: boolean;
  createTime: Date;
  etag: string;
  destroyTime?: Date;
  scheduledDestroyTime?: Date;
}

interface Rotation {
  nextRotationTime?: Date;
  rotationPeriodSeconds?: number;
}

interface Secret {
  id: string;
  createTime: Date;
  replication: Record<string, unknown>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  versionAliases: Record<string, number>;
  etag: string;
  rotation?: Rotation;
  topics: string[];
  expireTime?: Date;
  versionDestroyTtlSeconds?: number;
  /** Oldest first. Versions are never removed (destroyed ones stay, without payload), so numbers are never reused. */
  versions: Version[];
}

type Request = Record<string, unknown>;

const invalid = (details: string) => fail(Status.INVALID_ARGUMENT, details);
const newEtag = () => `"${randomBytes(7).toString('hex')}"`;

function record(value: unknown): Request | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !Buffer.isBuffer(value) ? (value as Request) : undefined;
}

function stringField(request: Request, key: string): string {
  const value = request[key];
  return typeof value === 'string' ? value : '';
}

/** A map field (labels, annotations) as strings only; proto-loader gives plain objects. */
function stringMap(value: unknown, what: string): Record<string, string> {
  const entries = Object.entries(record(value) ?? {});
  if (entries.some(([, entry]) => typeof entry !== 'string')) throw invalid(`${what} must map strings to strings`);
  // fromEntries makes own properties of every key, so a hostile key cannot reach a prototype.
  return Object.fromEntries(entries) as Record<string, string>;
}

/** Seconds of a google.protobuf.Duration, whole seconds only (longs arrive as strings). */
function durationSeconds(value: unknown, what: string): number {
  const duration = record(value);
  const seconds = Number(duration?.seconds ?? 0);
  const nanos = Number(duration?.nanos ?? 0);
  if (!Number.isSafeInteger(seconds) || nanos !== 0) throw invalid(`${what} must be a whole number of seconds`);
  return seconds;
}

function timestampDate(value: unknown, what: string): Date {
  const ts = record(value);
  const seconds = Number(ts?.seconds ?? 0);
  const nanos = Number(ts?.nanos ?? 0);
  if (!Number.isSafeInteger(seconds) || !Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) throw invalid(`${what} is not a valid timestamp`);
  return new Date(seconds * 1000 + Math.floor(nanos / 1_000_000));
}

const durationString = (seconds: number) => `${seconds}s`;

/** CRC32C (Castagnoli), the checksum Secret Manager uses for payloads. */
const CRC32C_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32c(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = (CRC32C_TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export async function startSecretManagerFake(options: SecretManagerFakeOptions = {}): Promise<SecretManagerFake> {
  const project = options.project ?? 'test-project';
  if (!PROJECT_ID.test(project)) throw new Error('startSecretManagerFake: project must be a project id');
  const clock = options.clock ?? (() => new Date());
  const projectNumber = options.projectNumber ?? '123456789012';
  if (!/^[1-9][0-9]{0,19}$/.test(projectNumber)) throw new Error('startSecretManagerFake: projectNumber must be digits');
  const parent = `projects/${project}`;
  const secrets = new Map<string, Secret>();
  const published: PublishedMessage[] = [];
  const failures = new Map<string, { code: grpc.status; times: number }>();
  const service = loadService('@google-cloud/secret-manager', PROTO, SERVICE);
  const rpcs = new Set(Object.keys(service));

  const secretName = (secret: Secret) => `projects/${projectNumber}/secrets/${secret.id}`;
  const versionName = (secret: Secret, version: Version) => `${secretName(secret)}/versions/${version.n}`;

  // --- names -------------------------------------------------------------------------------------------------

  function checkProject(name: string, projectPart: string): void {
    if (!PROJECT_ID.test(projectPart) && !/^[0-9]{1,20}$/.test(projectPart)) throw invalid('malformed resource name');
    if (projectPart !== project && projectPart !== projectNumber) throw fail(Status.PERMISSION_DENIED, `Permission denied on resource ${name} (or it may not exist).`);
  }

  function checkParent(name: string): void {
    const match = /^projects\/([^/]+)$/.exec(name);
    if (match?.[1] === undefined) throw invalid('malformed parent: expected projects/<project>');
    checkProject(name, match[1]);
  }

  function secretByName(name: string): Secret {
    const match = /^projects\/([^/]+)\/secrets\/([^/]+)$/.exec(name);
    if (match?.[1] === undefined || match[2] === undefined || !SECRET_ID.test(match[2])) throw invalid('malformed secret name: expected projects/<project>/secrets/<id>');
    checkProject(name, match[1]);
    const secret = secrets.get(match[2]);
    if (secret === undefined) throw fail(Status.NOT_FOUND, `Secret [${name}] not found.`);
    return secret;
  }

  /** A version by name; `latest` and aliases only where `symbolic` (Get and AccessSecretVersion). */
  function versionByName(name: string, symbolic: boolean): { secret: Secret; version: Version } {
    const match = /^(projects\/[^/]+\/secrets\/[^/]+)\/versions\/([^/]+)$/.exec(name);
    if (match?.[1] === undefined || match[2] === undefined || !VERSION_SEGMENT.test(match[2])) {
      throw invalid('malformed version name: expected projects/<project>/secrets/<id>/versions/<version>');
    }
    const secret = secretByName(match[1]);
    const segment = match[2];
    let n: number | undefined;
    if (VERSION_NUMBER.test(segment)) n = Number(segment);
    else if (!symbolic) throw invalid('this method needs a version number, not latest or an alias');
    else if (segment === 'latest') n = secret.versions.at(-1)?.n;
    else n = Object.hasOwn(secret.versionAliases, segment) ? secret.versionAliases[segment] : undefined;
    const version = n === undefined ? undefined : secret.versions.find((v) => v.n === n);
    if (version === undefined) throw fail(Status.NOT_FOUND, `Secret Version [${name}] not found.`);
    return { secret, version };
  }

  // --- validation --------------------------------------------------------------------------------------------

  function validLabels(labels: Record<string, string>): Record<string, string> {
    const entries = Object.entries(labels);
    if (entries.length > MAX_LABELS) throw invalid(`a secret has at most ${MAX_LABELS} labels`);
    for (const [key, value] of entries) {
      if (!LABEL_KEY.test(key)) throw invalid('a label key must start with a lower-case letter and hold at most 63 lower-case letters, digits, _ and -');
      if (!LABEL_VALUE.test(value)) throw invalid(`the value of label ${key} must hold at most 63 lower-case letters, digits, _ and -`);
    }
    return { ...labels };
  }

  function validAnnotations(annotations: Record<string, string>): Record<string, string> {
    let bytes = 0;
    for (const [key, value] of Object.entries(annotations)) {
      if (!ANNOTATION_KEY.test(key)) throw invalid('an annotation key must be 1-63 characters, alphanumeric at both ends, with letters, digits, ., _ and - between');
      bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
    }
    if (bytes > MAX_ANNOTATION_BYTES) throw invalid(`annotation keys and values must total at most ${MAX_ANNOTATION_BYTES} bytes`);
    return { ...annotations };
  }

  function validAliases(value: unknown, secret: Secret | undefined): Record<string, number> {
    const out: Record<string, number> = {};
    const map = record(value) ?? {};
    const entries = Object.entries(map);
    if (entries.length > MAX_ALIASES) throw invalid(`a secret has at most ${MAX_ALIASES} version aliases`);
    for (const [alias, raw] of entries) {
      if (!ALIAS.test(alias) || RESERVED_ALIASES.has(alias.toLowerCase())) {
        throw invalid('an alias must start with a letter, hold at most 63 letters, digits, _ and -, and not be latest or new');
      }
      const n = Number(raw);
      if (!Number.isSafeInteger(n) || n < 1 || secret?.versions.some((v) => v.n === n) !== true) throw invalid(`alias ${alias} names a version that does not exist`);
      out[alias] = n;
    }
    return out;
  }

  function validTopics(value: unknown): string[] {
    if (value === undefined) return [];
    if (!Array.isArray(value)) throw invalid('topics must be a list');
    if (value.length > MAX_TOPICS) throw invalid(`a secret has at most ${MAX_TOPICS} topics`);
    return value.map((entry) => {
      const name = record(entry)?.name;
      if (typeof name !== 'string' || !TOPIC.test(name)) throw invalid('a topic must be named projects/<project>/topics/<topic>');
      return name;
    });
  }

  /** The rotation a request sets (`fields` says which parts it sets), checked against the clock. */
  function validRotation(value: unknown, previous: Rotation | undefined, fields: 'all' | 'next' | 'period'): Rotation | undefined {
    const rotation = record(value);
    const next: Rotation = fields === 'all' ? {} : { ...previous };
    if (fields !== 'period') {
      delete next.nextRotationTime;
      if (rotation?.nextRotationTime !== undefined && rotation.nextRotationTime !== null) {
        const at = timestampDate(rotation.nextRotationTime, 'rotation.next_rotation_time');
        const lead = at.getTime() - clock().getTime();
        if (lead < MIN_ROTATION_LEAD_MS || lead > MAX_DURATION_S * 1000) throw invalid('rotation.next_rotation_time must be at least 5 minutes and at most 100 years ahead');
        next.nextRotationTime = at;
      }
    }
    if (fields !== 'next') {
      delete next.rotationPeriodSeconds;
      if (rotation?.rotationPeriod !== undefined && rotation.rotationPeriod !== null) {
        const seconds = durationSeconds(rotation.rotationPeriod, 'rotation.rotation_period');
        if (seconds < MIN_ROTATION_PERIOD_S || seconds > MAX_DURATION_S) throw invalid('rotation.rotation_period must be at least 3600 s and at most 100 years');
        next.rotationPeriodSeconds = seconds;
      }
    }
    if (next.rotationPeriodSeconds !== undefined && next.nextRotationTime === undefined) throw invalid('rotation.rotation_period needs rotation.next_rotation_time');
    return next.nextRotationTime === undefined && next.rotationPeriodSeconds === undefined ? undefined : next;
  }

  function validReplication(value: unknown): Record<string, unknown> {
    const replication = record(value);
    if (record(replication?.automatic) !== undefined) return { automatic: {} };
    const replicas = record(replication?.userManaged)?.replicas;
    if (Array.isArray(replicas) && replicas.length > 0 && replicas.every((r) => typeof record(r)?.location === 'string' && record(r)?.location !== '')) {
      return { userManaged: { replicas: replicas.map((r) => ({ location: String(record(r)?.location) })) } };
    }
    throw invalid('a secret needs a replication policy: automatic, or user-managed with at least one replica');
  }

  function checkEtag(given: unknown, current: string, what: string): void {
    if (typeof given === 'string' && given !== '' && given !== current) {
      throw fail(Status.FAILED_PRECONDITION, `The etag provided in the request does not match the current etag of the ${what}.`);
    }
  }

  // --- time: delayed destruction and expiry --------------------------------------------------------------------

  /** Applies what the clock made due: scheduled destructions, expired secrets. Runs before every call and look. */
  function settle(): void {
    const now = clock();
    for (const secret of [...secrets.values()]) {
      if (secret.expireTime !== undefined && secret.expireTime <= now) {
        publish(secret, 'SECRET_DELETE', secretJson(secret), { deleteType: 'EXPIRATION' }, secret.expireTime);
        secrets.delete(secret.id);
        continue;
      }
      for (const version of secret.versions) {
        if (version.scheduledDestroyTime !== undefined && version.scheduledDestroyTime <= now) {
          destroyNow(version, version.scheduledDestroyTime);
          publish(secret, 'SECRET_VERSION_DESTROY', versionJson(secret, version), { versionId: versionName(secret, version) }, version.destroyTime);
        }
      }
    }
  }

  function destroyNow(version: Version, at: Date): void {
    version.state = 'DESTROYED';
    delete version.data;
    delete version.scheduledDestroyTime;
    version.destroyTime = at;
    version.etag = newEtag();
  }

  // --- resources on the wire ---------------------------------------------------------------------------------

  function secretOut(secret: Secret): Request {
    return {
      name: secretName(secret),
      replication: secret.replication,
      createTime: timestamp(secret.createTime),
      labels: { ...secret.labels },
      annotations: { ...secret.annotations },
      versionAliases: Object.fromEntries(Object.entries(secret.versionAliases).map(([alias, n]) => [alias, String(n)])),
      etag: secret.etag,
      topics: secret.topics.map((name) => ({ name })),
      ...(secret.rotation === undefined
        ? {}
        : {
            rotation: {
              ...(secret.rotation.nextRotationTime === undefined ? {} : { nextRotationTime: timestamp(secret.rotation.nextRotationTime) }),
              ...(secret.rotation.rotationPeriodSeconds === undefined ? {} : { rotationPeriod: { seconds: String(secret.rotation.rotationPeriodSeconds), nanos: 0 } }),
            },
          }),
      ...(secret.expireTime === undefined ? {} : { expireTime: timestamp(secret.expireTime) }),
      ...(secret.versionDestroyTtlSeconds === undefined ? {} : { versionDestroyTtl: { seconds: String(secret.versionDestroyTtlSeconds), nanos: 0 } }),
    };
  }

  function versionOut(secret: Secret, version: Version): Request {
    return {
      name: versionName(secret, version),
      createTime: timestamp(version.createTime),
      state: version.state,
      etag: version.etag,
      clientSpecifiedPayloadChecksum: version.clientChecksum,
      replicationStatus: { automatic: {} },
      ...(version.destroyTime === undefined ? {} : { destroyTime: timestamp(version.destroyTime) }),
      ...(version.scheduledDestroyTime === undefined ? {} : { scheduledDestroyTime: timestamp(version.scheduledDestroyTime) }),
    };
  }

  /** The Secret as the REST API (proto3 JSON mapping) shows it: what notifications carry. */
  function secretJson(secret: Secret): Record<string, unknown> {
    return {
      name: secretName(secret),
      replication: secret.replication,
      createTime: secret.createTime.toISOString(),
      ...(Object.keys(secret.labels).length === 0 ? {} : { labels: { ...secret.labels } }),
      ...(secret.topics.length === 0 ? {} : { topics: secret.topics.map((name) => ({ name })) }),
      ...(secret.expireTime === undefined ? {} : { expireTime: secret.expireTime.toISOString() }),
      etag: secret.etag,
      ...(secret.rotation === undefined
        ? {}
        : {
            rotation: {
              ...(secret.rotation.nextRotationTime === undefined ? {} : { nextRotationTime: secret.rotation.nextRotationTime.toISOString() }),
              ...(secret.rotation.rotationPeriodSeconds === undefined ? {} : { rotationPeriod: durationString(secret.rotation.rotationPeriodSeconds) }),
            },
          }),
      // int64 map values are strings in the proto3 JSON mapping.
      ...(Object.keys(secret.versionAliases).length === 0
        ? {}
        : { versionAliases: Object.fromEntries(Object.entries(secret.versionAliases).map(([alias, n]) => [alias, String(n)])) }),
      ...(Object.keys(secret.annotations).length === 0 ? {} : { annotations: { ...secret.annotations } }),
      ...(secret.versionDestroyTtlSeconds === undefined ? {} : { versionDestroyTtl: durationString(secret.versionDestroyTtlSeconds) }),
    };
  }

  function versionJson(secret: Secret, version: Version): Record<string, unknown> {
    return {
      name: versionName(secret, version),
      createTime: version.createTime.toISOString(),
      ...(version.destroyTime === undefined ? {} : { destroyTime: version.destroyTime.toISOString() }),
      state: version.state,
      replicationStatus: { automatic: {} },
      etag: version.etag,
      ...(version.clientChecksum ? { clientSpecifiedPayloadChecksum: true } : {}),
      ...(version.scheduledDestroyTime === undefined ? {} : { scheduledDestroyTime: version.scheduledDestroyTime.toISOString() }),
    };
  }

  function publish(secret: Secret, eventType: EventType, resource: Record<string, unknown>, extra: { versionId?: string; deleteType?: string } = {}, at = clock()): PublishedMessage[] {
    const data = Buffer.from(JSON.stringify(resource)).toString('base64');
    const messages = secret.topics.map((topic) => ({
      topic,
      attributes: { eventType, secretId: secretName(secret), dataFormat: 'JSON_API_V1' as const, timestamp: at.toISOString(), ...extra },
      data,
    }));
    published.push(...messages);
    return messages;
  }

  // --- paging ------------------------------------------------------------------------------------------------

  /** An opaque cursor: the last key served, bound to the list (`scope`) it came from. */
  function pageToken(scope: string, cursor: string): string {
    return Buffer.from(JSON.stringify([scope, cursor])).toString('base64url');
  }

  function cursorOf(token: string, scope: string, shape: RegExp): string | undefined {
    if (token === '') return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    } catch {
      throw invalid('invalid page token');
    }
    if (!Array.isArray(parsed) || parsed.length !== 2 || parsed[0] !== scope || typeof parsed[1] !== 'string' || !shape.test(parsed[1])) {
      throw invalid('invalid page token');
    }
    return parsed[1];
  }

  function pageSizeOf(request: Request): number {
    const size = Number(request.pageSize ?? 0);
    if (!Number.isInteger(size) || size < 0) throw invalid('page_size must not be negative');
    return size === 0 ? DEFAULT_PAGE : Math.min(size, MAX_PAGE);
  }

  /** Items after the cursor (`after` says whether an item comes after it), one page, and the next token. */
  function page<T>(items: T[], request: Request, scope: string, key: (item: T) => string, shape: RegExp, after: (item: T, cursor: string) => boolean) {
    const size = pageSizeOf(request);
    const cursor = cursorOf(stringField(request, 'pageToken'), scope, shape);
    const rest = cursor === undefined ? items : items.filter((item) => after(item, cursor));
    const served = rest.slice(0, size);
    const last = served.at(-1);
    const nextPageToken = rest.length > size && last !== undefined ? pageToken(scope, key(last)) : '';
    return { served, nextPageToken };
  }

  // --- ListSecrets filter ------------------------------------------------------------------------------------

  type Term = (secret: Secret) => boolean;

  function parseFilter(filter: string): Term[] {
    const terms: Term[] = [];
    for (const word of filter.trim().split(/\s+/)) {
      if (word === '' || word === 'AND') continue;
      const label = /^labels\.([a-z][a-z0-9_-]{0,62})([=:])(.*)$/.exec(word);
      if (label?.[1] !== undefined && label[3] !== undefined) {
        const [key, op] = [label[1], label[2]];
        const value = /^"(.*)"$/.exec(label[3])?.[1] ?? label[3];
        if (op === ':' && value === '*') terms.push((s) => Object.hasOwn(s.labels, key));
        else if (LABEL_VALUE.test(value) && value !== '') terms.push((s) => s.labels[key] === value);
        else throw invalid('unsupported filter: labels.<key>=<value> with a label value, or labels.<key>:*');
        continue;
      }
      const name = /^name:([A-Za-z0-9_-]{1,255})$/.exec(word);
      if (name?.[1] !== undefined) {
        const text = name[1];
        terms.push((s) => s.id.includes(text));
        continue;
      }
      throw invalid('unsupported filter: this fake takes labels.<key>=<value>, labels.<key>:* and name:<text>, joined by AND');
    }
    return terms;
  }

  // --- the RPCs ----------------------------------------------------------------------------------------------

  function requireTopics(rotation: Rotation | undefined, topics: string[]): void {
    if (rotation !== undefined && topics.length === 0) throw invalid('a secret with a rotation needs at least one topic');
  }

  const impl: Record<string, (request: Request) => unknown> = {
    CreateSecret(request) {
      checkParent(stringField(request, 'parent'));
      const id = stringField(request, 'secretId');
      if (!SECRET_ID.test(id)) throw invalid('secret_id must be 1-255 letters, digits, _ and -');
      const body = record(request.secret);
      if (body === undefined) throw invalid('secret is required');
      if (secrets.has(id)) throw fail(Status.ALREADY_EXISTS, `Secret [${parent}/secrets/${id}] already exists.`);
      const now = clock();
      const topics = validTopics(body.topics);
      const rotation = validRotation(body.rotation, undefined, 'all');
      const secret: Secret = {
        id,
        createTime: now,
        replication: validReplication(body.replication),
        labels: validLabels(stringMap(body.labels, 'labels')),
        annotations: validAnnotations(stringMap(body.annotations, 'annotations')),
        versionAliases: {},
        etag: newEtag(),
        topics,
        versions: [],
      };
      // No version exists yet, so any alias names a missing version.
      secret.versionAliases = validAliases(body.versionAliases, secret);
      requireTopics(rotation, topics);
      if (rotation !== undefined) secret.rotation = rotation;
      const expireTime = expiryOf(body, now);
      if (expireTime !== undefined) secret.expireTime = expireTime;
      if (body.versionDestroyTtl !== undefined && body.versionDestroyTtl !== null) secret.versionDestroyTtlSeconds = destroyTtl(body.versionDestroyTtl);
      secrets.set(id, secret);
      publish(secret, 'SECRET_CREATE', secretJson(secret));
      return secretOut(secret);
    },

    GetSecret: (request) => secretOut(secretByName(stringField(request, 'name'))),

    UpdateSecret(request) {
      const body = record(request.secret);
      if (body === undefined) throw invalid('secret is required');
      const secret = secretByName(stringField(body, 'name'));
      const paths = record(request.updateMask)?.paths;
      if (!Array.isArray(paths) || paths.length === 0) throw invalid('update_mask is required and must name at least one field');
      for (const path of paths) {
        if (typeof path !== 'string' || !UPDATE_PATHS.has(path)) throw invalid('update_mask holds a path this API does not update (use snake_case field names)');
      }
      checkEtag(body.etag, secret.etag, 'secret');
      const has = (path: string) => paths.includes(path);
      // Compute everything first, so that a refused update changes nothing.
      const labels = has('labels') ? validLabels(stringMap(body.labels, 'labels')) : secret.labels;
      const annotations = has('annotations') ? validAnnotations(stringMap(body.annotations, 'annotations')) : secret.annotations;
      const versionAliases = has('version_aliases') ? validAliases(body.versionAliases, secret) : secret.versionAliases;
      const topics = has('topics') ? validTopics(body.topics) : secret.topics;
      let rotation = secret.rotation;
      if (has('rotation')) rotation = validRotation(body.rotation, undefined, 'all');
      else if (has('rotation.next_rotation_time') || has('rotation.rotation_period')) {
        const fields = has('rotation.next_rotation_time') && has('rotation.rotation_period') ? 'all' : has('rotation.next_rotation_time') ? 'next' : 'period';
        rotation = validRotation(body.rotation, secret.rotation, fields);
      }
      requireTopics(rotation, topics);
      let expireTime = secret.expireTime;
      if (has('expire_time') || has('ttl')) expireTime = expiryOf(body, clock());
      let ttl = secret.versionDestroyTtlSeconds;
      if (has('version_destroy_ttl')) ttl = body.versionDestroyTtl === undefined || body.versionDestroyTtl === null ? undefined : destroyTtl(body.versionDestroyTtl);

      secret.labels = labels;
      secret.annotations = annotations;
      secret.versionAliases = versionAliases;
      secret.topics = topics;
      if (rotation === undefined) delete secret.rotation;
      else secret.rotation = rotation;
      if (expireTime === undefined) delete secret.expireTime;
      else secret.expireTime = expireTime;
      if (ttl === undefined) delete secret.versionDestroyTtlSeconds;
      else secret.versionDestroyTtlSeconds = ttl;
      secret.etag = newEtag();
      publish(secret, 'SECRET_UPDATE', secretJson(secret));
      return secretOut(secret);
    },

    DeleteSecret(request) {
      const secret = secretByName(stringField(request, 'name'));
      checkEtag(request.etag, secret.etag, 'secret');
      secrets.delete(secret.id);
      publish(secret, 'SECRET_DELETE', secretJson(secret), { deleteType: 'REQUESTED' });
      return {};
    },

    ListSecrets(request) {
      const parentName = stringField(request, 'parent');
      checkParent(parentName);
      const filter = stringField(request, 'filter');
      const terms = parseFilter(filter);
      const matching = [...secrets.values()].filter((s) => terms.every((term) => term(s))).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const { served, nextPageToken } = page(matching, request, `secrets\n${parentName}\n${filter}`, (s) => s.id, SECRET_ID, (s, cursor) => s.id > cursor);
      return { secrets: served.map(secretOut), nextPageToken, totalSize: matching.length };
    },

    AddSecretVersion(request) {
      const secret = secretByName(stringField(request, 'parent'));
      const payload = record(request.payload);
      const data = payload?.data;
      if (!Buffer.isBuffer(data)) throw invalid('payload is required');
      if (data.length > MAX_PAYLOAD_BYTES) throw invalid(`the payload must be at most ${MAX_PAYLOAD_BYTES} bytes`);
      const checksum = payload?.dataCrc32c;
      const clientChecksum = checksum !== undefined && checksum !== null;
      if (clientChecksum && Number(checksum) !== crc32c(data)) throw invalid('data_crc32c does not match the payload');
      const version: Version = { n: (secret.versions.at(-1)?.n ?? 0) + 1, state: 'ENABLED', data: Buffer.from(data), clientChecksum, createTime: clock(), etag: newEtag() };
      secret.versions.push(version); // the secret's own etag stays: an add cannot be conditioned
      publish(secret, 'SECRET_VERSION_ADD', versionJson(secret, version), { versionId: versionName(secret, version) });
      return versionOut(secret, version);
    },

    GetSecretVersion(request) {
      const { secret, version } = versionByName(stringField(request, 'name'), true);
      return versionOut(secret, version);
    },

    AccessSecretVersion(request) {
      const { secret, version } = versionByName(stringField(request, 'name'), true);
      if (version.state !== 'ENABLED' || version.data === undefined) {
        throw fail(Status.FAILED_PRECONDITION, `Secret Version [${versionName(secret, version)}] is in ${version.state} state.`);
      }
      return { name: versionName(secret, version), payload: { data: Buffer.from(version.data), dataCrc32c: String(crc32c(version.data)) } };
    },

    ListSecretVersions(request) {
      const parentName = stringField(request, 'parent');
      const secret = secretByName(parentName);
      const filter = stringField(request, 'filter').trim();
      const state = /^state[:=](ENABLED|DISABLED|DESTROYED)$/.exec(filter)?.[1];
      if (filter !== '' && state === undefined) throw invalid('unsupported filter: this fake takes state:<STATE> or none');
      const newestFirst = [...secret.versions].reverse().filter((v) => state === undefined || v.state === state);
      const { served, nextPageToken } = page(newestFirst, request, `versions\n${parentName}\n${filter}`, (v) => String(v.n), VERSION_NUMBER, (v, cursor) => v.n < Number(cursor));
      return { versions: served.map((v) => versionOut(secret, v)), nextPageToken, totalSize: newestFirst.length };
    },

    EnableSecretVersion(request) {
      const { secret, version } = versionByName(stringField(request, 'name'), false);
      checkEtag(request.etag, version.etag, 'secret version');
      if (version.state === 'DESTROYED') throw fail(Status.FAILED_PRECONDITION, `Secret Version [${versionName(secret, version)}] is in DESTROYED state.`);
      version.state = 'ENABLED';
      delete version.scheduledDestroyTime; // enabling cancels a delayed destruction
      version.etag = newEtag();
      publish(secret, 'SECRET_VERSION_ENABLE', versionJson(secret, version), { versionId: versionName(secret, version) });
      return versionOut(secret, version);
    },

    DisableSecretVersion(request) {
      const { secret, version } = versionByName(stringField(request, 'name'), false);
      checkEtag(request.etag, version.etag, 'secret version');
      if (version.state === 'DESTROYED') throw fail(Status.FAILED_PRECONDITION, `Secret Version [${versionName(secret, version)}] is in DESTROYED state.`);
      refuseIfAliased(secret, version, 'disable');
      version.state = 'DISABLED';
      version.etag = newEtag();
      publish(secret, 'SECRET_VERSION_DISABLE', versionJson(secret, version), { versionId: versionName(secret, version) });
      return versionOut(secret, version);
    },

    DestroySecretVersion(request) {
      const { secret, version } = versionByName(stringField(request, 'name'), false);
      checkEtag(request.etag, version.etag, 'secret version');
      if (version.state === 'DESTROYED') throw fail(Status.FAILED_PRECONDITION, `Secret Version [${versionName(secret, version)}] is already DESTROYED.`);
      refuseIfAliased(secret, version, 'destroy');
      const now = clock();
      if (secret.versionDestroyTtlSeconds !== undefined && secret.versionDestroyTtlSeconds > 0) {
        if (version.scheduledDestroyTime !== undefined) throw fail(Status.FAILED_PRECONDITION, `Secret Version [${versionName(secret, version)}] is already scheduled for destruction.`);
        version.state = 'DISABLED';
        version.scheduledDestroyTime = new Date(now.getTime() + secret.versionDestroyTtlSeconds * 1000);
        version.etag = newEtag();
        publish(secret, 'SECRET_VERSION_DESTROY_SCHEDULED', versionJson(secret, version), { versionId: versionName(secret, version) });
      } else {
        destroyNow(version, now);
        publish(secret, 'SECRET_VERSION_DESTROY', versionJson(secret, version), { versionId: versionName(secret, version) });
      }
      return versionOut(secret, version);
    },
  };

  function refuseIfAliased(secret: Secret, version: Version, action: string): void {
    const alias = Object.keys(secret.versionAliases).find((a) => secret.versionAliases[a] === version.n);
    if (alias !== undefined) throw fail(Status.FAILED_PRECONDITION, `Cannot ${action} version ${version.n}: the alias ${alias} names it; move the alias first.`);
  }

  function expiryOf(body: Request, now: Date): Date | undefined {
    if (body.expireTime !== undefined && body.expireTime !== null) {
      const at = timestampDate(body.expireTime, 'expire_time');
      if (at <= now) throw invalid('expire_time must be in the future');
      return at;
    }
    if (body.ttl !== undefined && body.ttl !== null) {
      const seconds = durationSeconds(body.ttl, 'ttl');
      if (seconds <= 0) throw invalid('ttl must be positive');
      return new Date(now.getTime() + seconds * 1000);
    }
    return undefined;
  }

  function destroyTtl(value: unknown): number {
    const seconds = durationSeconds(value, 'version_destroy_ttl');
    if (seconds < MIN_DESTROY_TTL_S || seconds > MAX_DURATION_S) throw invalid('version_destroy_ttl must be at least 24 hours');
    return seconds;
  }

  const handlers: Record<string, UnaryImpl> = {};
  for (const [rpc, fn] of Object.entries(impl)) {
    handlers[rpc] = (request) => {
      settle();
      return fn(request);
    };
  }

  const server = await startGrpcFake(service, handlers, (rpc) => {
    const failure = failures.get(rpc);
    if (failure === undefined) return;
    failure.times -= 1;
    if (failure.times <= 0) failures.delete(rpc);
    throw fail(failure.code, `injected failure of ${rpc}`);
  });

  const lookup = (secretId: string) => {
    settle();
    return secrets.get(secretId);
  };

  return {
    port: server.port,
    project,
    calls: server.calls,
    published,
    clientOptions: () => ({
      apiEndpoint: '127.0.0.1',
      port: server.port,
      sslCreds: grpc.credentials.createInsecure(),
      universeDomain: 'googleapis.com',
      projectId: project,
      // google-gax asks the auth object for the universe domain; with plaintext sslCreds it never asks for a token.
      // Without an explicit object, google-auth-library may wait on a metadata server that is not there.
      auth: { getUniverseDomain: () => Promise.resolve('googleapis.com'), getClient: () => Promise.resolve({}), getProjectId: () => Promise.resolve(project) } as unknown as ClientOptions['auth'],
    }),
    failNext(rpc, code, times = 1) {
      if (!rpcs.has(rpc)) throw new Error(`failNext: ${rpc} is not an RPC of ${SERVICE}`);
      const status = (Object.values(Status) as unknown[]).find((s): s is grpc.status => typeof s === 'number' && s === code && s !== 0);
      if (status === undefined) throw new Error('failNext: code must be a gRPC status other than OK');
      if (!Number.isInteger(times) || times < 1) throw new Error('failNext: times must be a positive integer');
      failures.set(rpc, { code: status, times });
    },
    secret(secretId) {
      const secret = lookup(secretId);
      if (secret === undefined) return undefined;
      return {
        labels: { ...secret.labels },
        annotations: { ...secret.annotations },
        versionAliases: { ...secret.versionAliases },
        etag: secret.etag,
        ...(secret.rotation === undefined
          ? {}
          : {
              rotation: {
                ...(secret.rotation.nextRotationTime === undefined ? {} : { nextRotationTime: new Date(secret.rotation.nextRotationTime) }),
                ...(secret.rotation.rotationPeriodSeconds === undefined ? {} : { rotationPeriodSeconds: secret.rotation.rotationPeriodSeconds }),
              },
            }),
        topics: [...secret.topics],
        ...(secret.versionDestroyTtlSeconds === undefined ? {} : { versionDestroyTtlSeconds: secret.versionDestroyTtlSeconds }),
      };
    },
    versions(secretId) {
      return (lookup(secretId)?.versions ?? []).map((v) => ({
        n: v.n,
        state: v.state,
        createTime: new Date(v.createTime),
        ...(v.scheduledDestroyTime === undefined ? {} : { scheduledDestroyTime: new Date(v.scheduledDestroyTime) }),
      }));
    },
    payload(secretId, n) {
      const data = lookup(secretId)?.versions.find((v) => v.n === n)?.data;
      return data === undefined ? undefined : Buffer.from(data);
    },
    fireDueRotations() {
      settle();
      const now = clock();
      const out: PublishedMessage[] = [];
      for (const secret of [...secrets.values()].sort((a, b) => (a.id < b.id ? -1 : 1))) {
        const at = secret.rotation?.nextRotationTime;
        if (secret.rotation === undefined || at === undefined || at > now) continue;
        // The service advances nextRotationTime by the period as it notifies; a one-time schedule is used up.
        const period = secret.rotation.rotationPeriodSeconds;
        if (period === undefined) delete secret.rotation;
        else secret.rotation.nextRotationTime = new Date(at.getTime() + period * 1000);
        secret.etag = newEtag();
        out.push(...publish(secret, 'SECRET_ROTATE', secretJson(secret)));
      }
      return out;
    },
    close: () => server.close(),
  };
}
