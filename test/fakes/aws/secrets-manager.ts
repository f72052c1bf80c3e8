import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/**
 * A fake AWS Secrets Manager on 127.0.0.1 that speaks the service's wire protocol (AWS JSON 1.1: `POST /`,
 * `X-Amz-Target: secretsmanager.<Operation>`, JSON bodies, errors as HTTP 400 with `__type`), so the real
 * `SecretsManagerClient` talks to it and maps its errors by name. SigV4 signatures are accepted unchecked.
 *
 * It implements the documented rules the rotation protocol depends on:
 * - each staging label is on at most one version; moving AWSCURRENT moves AWSPREVIOUS to the old current;
 * - UpdateSecretVersionStage refuses to move a label that is attached to another version unless
 *   RemoveFromVersionId names that version, and never leaves the secret without AWSCURRENT;
 * - PutSecretValue: ClientRequestToken of 32-64 characters, SecretString up to 65,536 bytes, VersionStages
 *   default AWSCURRENT; the same token with the same value is ignored, with another value is
 *   ResourceExistsException; the same token as a value-less stub fills the stub;
 * - RotateSecret creates a value-less AWSPENDING stub (reading it is ResourceNotFoundException) and is refused
 *   with InvalidRequestException while AWSPENDING sits on a version other than AWSCURRENT. By default it invokes no
 *   Lambda: it returns the stub's VersionId, and the test drives the four steps as the service would. With a
 *   `rotationFunction` it does what the service does: it answers first, then invokes the function once per step
 *   (createSecret, setSecret, testSecret, finishSecret) with a RotationToken, in the background, stopping at the
 *   first step that throws (AWSPENDING then stays); a secret with no rotation function ARN is refused;
 *   RotateImmediately=false only records the rotation settings (the service would run testSecret on a
 *   throwaway version and remove it again);
 * - LastRotatedDate is set when a rotation completes, i.e. when AWSCURRENT moves onto the AWSPENDING version;
 * - versions that lose their last label stay (the service deletes them later); ListSecretVersionIds shows
 *   them with IncludeDeprecated, DescribeSecret's VersionIdsToStages does not;
 * - RotationRules as the service checks them: AutomaticallyAfterDays (1-1000) or ScheduleExpression, not both;
 *   `rate(N hours)` from 4 to 23 hours, `rate(N days)` from 1 to 999 days, `cron(...)` with six fields; Duration
 *   `Nh` from 1h to 24h and, for a rate in hours, no longer than the rate. A rate in days is described with
 *   AutomaticallyAfterDays as well (the service computes it). NextRotationDate, while rotation is on, is roughly
 *   the service's: a rate counts from the last rotation (or the creation), a rate in days from that day's UTC
 *   midnight; a cron gets none here (the fake does not evaluate cron);
 * - tags (TagResource's reference): at most 50 per secret, keys 1-127 and values 0-255 characters of letters,
 *   digits, spaces and `_ . : / = + - @`; `aws:` keys are AWS's (set by CreateSecret here, standing in for the
 *   service that makes such a secret; never by TagResource or UntagResource; not counted); UntagResource removes
 *   keys, absent ones silently;
 * - ListSecrets returns what DescribeSecret does per secret, with SecretVersionsToStages for VersionIdsToStages.
 *
 * Each request is recorded with its arrival time, so a benchmark can count calls per operation and the busiest
 * second of each.
 */

export const FAKE_REGION = 'us-east-1';
export const FAKE_ACCOUNT = '123456789012';
const MAX_SECRET_STRING_BYTES = 65_536;
const NAME_PATTERN = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

interface Version {
  versionId: string;
  value?: string;
  stages: string[];
  createdDate: number; // epoch seconds, as the protocol sends timestamps
}

interface Tag {
  Key: string;
  Value: string;
}

interface Secret {
  name: string;
  arn: string;
  createdDate: number;
  lastChangedDate: number;
  /** When a rotation last completed: AWSCURRENT moved onto the AWSPENDING version. */
  lastRotatedDate?: number;
  versions: Version[];
  tags: Tag[];
  rotationEnabled?: boolean;
  rotationLambdaArn?: string;
  rotationRules?: Record<string, unknown>;
  description?: string;
}

type Body = Record<string, unknown>;

/** A service error: the `__type` the SDK turns into an exception of that name. */
export class FakeServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface RecordedRequest {
  operation: string;
  /** When it arrived (Date.now(), the real clock whatever the fake's: it measures request rates). */
  at: number;
  /** The JSON body, with SecretString replaced by its length so test output never holds a value. */
  body: Body;
}

export interface InjectedFailure {
  operation: string;
  type: string;
  status?: number;
  /** How many matching requests fail (default 1). */
  times?: number;
}

export interface SecretsManagerFake {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** Every request received, in order (retries included). */
  readonly requests: RecordedRequest[];
  /** How many requests named `operation` (or all, without one) arrived since the last reset. */
  count(operation?: string): number;
  /** Operation -> request count since the last reset. */
  counts(): Record<string, number>;
  resetCounts(): void;
  /** Makes the next matching request(s) fail with the given error type. */
  fail(failure: InjectedFailure): void;
  /**
   * From now on DescribeSecret and ListSecrets answer these fields for the secret as given, whatever they hold (the
   * service's answer as hostile as a test wants: RotationRules the service would never accept, odd dates, tags).
   */
  answerWith(secretName: string, fields: Record<string, unknown>): void;
  /** A real SDK client pointed at the fake, with fake credentials. Extra config (e.g. maxAttempts) merges in. */
  client(config?: Partial<ConstructorParameters<typeof SecretsManagerClient>[0]>): SecretsManagerClient;
  /** Every step the rotation function was invoked for, in order (with `rotationFunction` only). */
  readonly invocations: RotationInvocation[];
  /** Resolves when every rotation started so far has run its steps. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export interface SecretsManagerFakeOptions {
  /** The clock for CreatedDate and friends (default: the real one). */
  clock?: () => Date;
  /** The Lambda the service invokes for each step after RotateSecret (see the comment at the top). */
  rotationFunction?: (event: RotationEvent) => Promise<unknown>;
}

/** What Secrets Manager sends a rotation function for one step. */
export interface RotationEvent {
  SecretId: string;
  ClientRequestToken: string;
  Step: 'createSecret' | 'setSecret' | 'testSecret' | 'finishSecret';
  RotationToken: string;
}

/** One step the fake invoked its rotation function for, and how the function answered. */
export interface RotationInvocation {
  event: RotationEvent;
  outcome: 'ok' | 'failed';
}

export async function startSecretsManagerFake(options: SecretsManagerFakeOptions = {}): Promise<SecretsManagerFake> {
  const invocations: RotationInvocation[] = [];
  const running = new Set<Promise<void>>();
  const rotationFunction = options.rotationFunction;
  // The service answers RotateSecret first and invokes the function afterwards, one step after another.
  const invoke =
    rotationFunction === undefined
      ? undefined
      : (arn: string, token: string): void => {
          const run = (async () => {
            await new Promise((resolve) => setImmediate(resolve));
            const RotationToken = randomUUID();
            for (const Step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const) {
              const event: RotationEvent = { SecretId: arn, ClientRequestToken: token, Step, RotationToken };
              try {
                await rotationFunction(event);
                invocations.push({ event, outcome: 'ok' });
              } catch {
                invocations.push({ event, outcome: 'failed' });
                return;
              }
            }
          })();
          running.add(run);
          void run.finally(() => running.delete(run));
        };
  const service = new FakeSecretsManagerService(options.clock ?? (() => new Date()), invoke);
  const requests: RecordedRequest[] = [];
  let failures: InjectedFailure[] = [];

  const server = createServer((req, res) => {
    void handle(req, res);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = req.headers['x-amz-target'];
    const operation = typeof target === 'string' && target.startsWith('secretsmanager.') ? target.slice('secretsmanager.'.length) : '';
    try {
      if (req.method !== 'POST' || operation === '') throw new FakeServiceError('UnknownOperationException', 'expected POST / with X-Amz-Target: secretsmanager.<Operation>');
      let body: Body;
      try {
        const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
        body = parsed as Body;
      } catch {
        throw new FakeServiceError('SerializationException', 'the request body is not a JSON object');
      }
      requests.push({ operation, at: Date.now(), body: typeof body.SecretString === 'string' ? { ...body, SecretString: `<${body.SecretString.length} chars>` } : body });
      const failure = failures.find((f) => f.operation === operation);
      if (failure !== undefined) {
        failure.times = (failure.times ?? 1) - 1;
        failures = failures.filter((f) => (f.times ?? 1) > 0);
        throw new FakeServiceError(failure.type, `injected ${failure.type} for ${operation}`, failure.status ?? 400);
      }
      send(res, 200, service.dispatch(operation, body));
    } catch (error) {
      if (error instanceof FakeServiceError) {
        res.setHeader('x-amzn-errortype', error.type);
        send(res, error.status, { __type: error.type, message: error.message });
      } else {
        send(res, 500, { __type: 'InternalServiceError', message: 'the fake failed: ' + (error instanceof Error ? error.message : String(error)) });
      }
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  let since = 0;

  return {
    endpoint,
    requests,
    count: (operation) => requests.slice(since).filter((r) => operation === undefined || r.operation === operation).length,
    counts: () => {
      const out: Record<string, number> = {};
      for (const r of requests.slice(since)) out[r.operation] = (out[r.operation] ?? 0) + 1;
      return out;
    },
    resetCounts: () => {
      since = requests.length;
    },
    fail: (failure) => {
      failures.push({ ...failure });
    },
    answerWith: (secretName, fields) => {
      service.overrides.set(secretName, fields);
    },
    client: (config = {}) =>
      new SecretsManagerClient({
        endpoint,
        region: FAKE_REGION,
        credentials: { accessKeyId: 'AKIDFAKEFAKEFAKE', secretAccessKey: 'fake-secret-access-key' },
        ...config,
      }),
    invocations,
    idle: async () => {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error === undefined ? resolve() : reject(error)));
      }),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text), 'x-amzn-requestid': randomUUID() });
  res.end(text);
}

// ---- request field helpers ----

function invalid(message: string): FakeServiceError {
  return new FakeServiceError('InvalidParameterException', message);
}

function str(body: Body, key: string, required: true): string;
function str(body: Body, key: string, required?: false): string | undefined;
function str(body: Body, key: string, required = false): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) {
    if (required) throw new FakeServiceError('ValidationException', `1 validation error detected: Value null at '${key}' failed to satisfy constraint: Member must not be null`);
    return undefined;
  }
  if (typeof value !== 'string') throw new FakeServiceError('SerializationException', `${key} must be a string`);
  return value;
}

function stringList(body: Body, key: string): string[] | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new FakeServiceError('SerializationException', `${key} must be a list of strings`);
  return value;
}

const MAX_TAGS = 50;
const TAG_CHARS = /^[\p{L}\p{N}\p{Zs}_.:/=+\-@]*$/u;

/**
 * The request's Tags. `aws:` keys are AWS's own: nobody may add, change or remove one (TagResource, UntagResource),
 * but a secret an AWS service creates carries them (RDS's `aws:rds:primaryDBInstanceArn`), so CreateSecret, which
 * stands in for that service here, may set them.
 */
function tags(body: Body, allowAwsKeys = false): Tag[] {
  const value = body.Tags;
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new FakeServiceError('SerializationException', 'Tags must be a list');
  return value.map((t: unknown) => {
    const tag = t as Partial<Tag> | null;
    if (tag === null || typeof tag.Key !== 'string' || typeof tag.Value !== 'string') throw invalid('each tag needs a Key and a Value');
    if (!allowAwsKeys) refuseAwsKey(tag.Key);
    return { Key: checkTagKey(tag.Key), Value: checkTagValue(tag.Value) };
  });
}

function refuseAwsKey(key: string): void {
  if (isAwsKey(key)) throw invalid('A tag key can\u2019t start with aws:, which is reserved for AWS use');
}

const isAwsKey = (key: string): boolean => key.toLowerCase().startsWith('aws:');

/** The 50-tag limit, which AWS's own `aws:` tags do not count against. */
function checkTagCount(all: readonly Tag[]): void {
  if (all.filter((t) => !isAwsKey(t.Key)).length > MAX_TAGS) throw invalid(`A secret can have at most ${MAX_TAGS} tags.`);
}

function checkTagKey(key: string): string {
  if (key.length < 1 || key.length > 127) throw new FakeServiceError('ValidationException', "1 validation error detected: Value at 'tags.member.key' failed to satisfy constraint: Member must have length between 1 and 127");
  if (!TAG_CHARS.test(key)) throw invalid('A tag key can contain only letters, numbers, spaces and _ . : / = + - @');
  return key;
}

function checkTagValue(value: string): string {
  if (value.length > 255) throw new FakeServiceError('ValidationException', "1 validation error detected: Value at 'tags.member.value' failed to satisfy constraint: Member must have length less than or equal to 255");
  if (!TAG_CHARS.test(value)) throw invalid('A tag value can contain only letters, numbers, spaces and _ . : / = + - @');
  return value;
}

/** The service's RotationRules checks; what it keeps (a rate in days also as AutomaticallyAfterDays). */
function checkRules(value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new FakeServiceError('SerializationException', 'RotationRules must be an object');
  const { AutomaticallyAfterDays: days, ScheduleExpression: expression, Duration: duration, ...rest } = value as Record<string, unknown>;
  if (Object.keys(rest).length > 0) throw new FakeServiceError('SerializationException', `unknown RotationRules field ${Object.keys(rest)[0] ?? ''}`);
  if (days !== undefined && expression !== undefined) throw invalid('You can set AutomaticallyAfterDays or ScheduleExpression, but not both.');
  if (days === undefined && expression === undefined) throw invalid('RotationRules needs AutomaticallyAfterDays or ScheduleExpression.');
  const rules: Record<string, unknown> = {};
  let rateHours: number | undefined;
  if (days !== undefined) {
    if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > 1000) throw invalid('AutomaticallyAfterDays must be between 1 and 1000.');
    rules.AutomaticallyAfterDays = days;
  } else {
    if (typeof expression !== 'string' || expression.length > 256) throw invalid('ScheduleExpression must be a string of at most 256 characters.');
    const rate = /^rate\((\d+) (hour|hours|day|days)\)$/.exec(expression);
    if (rate !== null) {
      const n = Number(rate[1]);
      const inHours = (rate[2] ?? '').startsWith('hour');
      if (inHours ? n < 4 || n > 23 : n < 1 || n > 999) throw invalid(`Invalid rate() expression: ${inHours ? 'hours must be between 4 and 23' : 'days must be between 1 and 999'}.`);
      if (inHours) rateHours = n;
      else rules.AutomaticallyAfterDays = n;
    } else if (!/^cron\(\S+( \S+){5}\)$/.test(expression)) {
      throw invalid('Invalid ScheduleExpression: use rate(N hours|days) or cron(minutes hours day-of-month month day-of-week year).');
    }
    rules.ScheduleExpression = expression;
  }
  if (duration !== undefined) {
    const match = typeof duration === 'string' ? /^(\d{1,2})h$/.exec(duration) : null;
    const hours = Number(match?.[1] ?? NaN);
    if (!(hours >= 1 && hours <= 24)) throw invalid('Duration must be between 1h and 24h.');
    if (rateHours !== undefined && hours > rateHours) throw invalid('The rotation window must not extend into the next rotation window.');
    rules.Duration = duration;
  }
  return rules;
}

/** Roughly when the service rotates next: the rate after the last rotation (a rate in days from that UTC midnight). */
function nextRotationDate(secret: Secret): number | undefined {
  const rules = secret.rotationRules;
  if (secret.rotationEnabled !== true || rules === undefined) return undefined;
  const from = (secret.lastRotatedDate ?? secret.createdDate) * 1000;
  const rate = typeof rules.ScheduleExpression === 'string' ? /^rate\((\d+) hours?\)$/.exec(rules.ScheduleExpression) : null;
  if (rate !== null) return (from + Number(rate[1]) * 3_600_000) / 1000;
  if (typeof rules.AutomaticallyAfterDays !== 'number') return undefined;
  const day = new Date(from);
  return Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate() + rules.AutomaticallyAfterDays) / 1000;
}

/** ListSecrets' Filters: only `name` (a case-insensitive prefix match, as the service does) is implemented. */
function nameFilter(body: Body): string[] | undefined {
  const filters = body.Filters;
  if (filters === undefined) return undefined;
  if (!Array.isArray(filters)) throw invalid('Filters must be a list');
  let prefixes: string[] | undefined;
  for (const f of filters as unknown[]) {
    const { Key, Values } = (f ?? {}) as { Key?: unknown; Values?: unknown };
    if (Key !== 'name') throw invalid(`the fake implements only the name filter, not ${String(Key)}`);
    if (!Array.isArray(Values) || Values.length === 0 || !Values.every((v) => typeof v === 'string')) throw invalid('a filter needs 1 or more Values');
    prefixes = [...(prefixes ?? []), ...Values];
  }
  return prefixes;
}

function checkToken(token: string): string {
  if (token.length < 32 || token.length > 64) {
    throw new FakeServiceError('ValidationException', `1 validation error detected: Value at 'clientRequestToken' failed to satisfy constraint: Member must have length between 32 and 64`);
  }
  return token;
}

function checkSecretString(value: string): string {
  if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_STRING_BYTES) {
    // As the service does, the message names the constraint and never echoes the (sensitive) value.
    throw new FakeServiceError('ValidationException', `1 validation error detected: Value at 'secretString' failed to satisfy constraint: Member must have length less than or equal to ${MAX_SECRET_STRING_BYTES}`);
  }
  return value;
}

function paging(body: Body, total: number): { start: number; end: number; next?: string } {
  const max = body.MaxResults === undefined ? 100 : Number(body.MaxResults);
  if (!Number.isInteger(max) || max < 1 || max > 100) throw invalid('MaxResults must be between 1 and 100');
  const token = str(body, 'NextToken');
  const start = token === undefined ? 0 : Number.parseInt(Buffer.from(token, 'base64').toString('utf8'), 10);
  if (!Number.isInteger(start) || start < 0 || start > total) throw new FakeServiceError('InvalidNextTokenException', 'the NextToken is invalid');
  const end = Math.min(total, start + max);
  return end < total ? { start, end, next: Buffer.from(String(end), 'utf8').toString('base64') } : { start, end };
}

// ---- the service ----

class FakeSecretsManagerService {
  readonly #secrets = new Map<string, Secret>();
  /** See SecretsManagerFake.answerWith. */
  readonly overrides = new Map<string, Body>();

  constructor(
    readonly clock: () => Date,
    /** Invokes the rotation function for a rotation RotateSecret started (unset: the test drives the steps). */
    readonly invoke?: (arn: string, token: string) => void,
  ) {}

  dispatch(operation: string, body: Body): Body {
    switch (operation) {
      case 'CreateSecret':
        return this.createSecret(body);
      case 'DescribeSecret':
        return this.describeSecret(body);
      case 'GetSecretValue':
        return this.getSecretValue(body);
      case 'PutSecretValue':
        return this.putSecretValue(body);
      case 'UpdateSecretVersionStage':
        return this.updateSecretVersionStage(body);
      case 'ListSecrets':
        return this.listSecrets(body);
      case 'ListSecretVersionIds':
        return this.listSecretVersionIds(body);
      case 'RotateSecret':
        return this.rotateSecret(body);
      case 'TagResource':
        return this.tagResource(body);
      case 'UntagResource':
        return this.untagResource(body);
      default:
        throw new FakeServiceError('UnknownOperationException', `the fake does not implement ${operation}`);
    }
  }

  #now(): number {
    return this.clock().getTime() / 1000;
  }

  /** By name or by full ARN, as the service accepts. */
  #find(body: Body): Secret {
    const id = str(body, 'SecretId', true);
    const secret = this.#secrets.get(id) ?? [...this.#secrets.values()].find((s) => s.arn === id);
    if (secret === undefined) throw new FakeServiceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return secret;
  }

  #version(secret: Secret, versionId: string): Version | undefined {
    return secret.versions.find((v) => v.versionId === versionId);
  }

  #withStage(secret: Secret, stage: string): Version | undefined {
    return secret.versions.find((v) => v.stages.includes(stage));
  }

  /** Puts `stage` on `target` and on no other version; moving AWSCURRENT moves AWSPREVIOUS to the old current. */
  #attach(secret: Secret, stage: string, target: Version): void {
    const holder = this.#withStage(secret, stage);
    if (holder === target) return;
    if (holder !== undefined) holder.stages = holder.stages.filter((s) => s !== stage);
    // The service records the end of a rotation (its finishSecret moves AWSCURRENT onto the AWSPENDING version).
    if (stage === 'AWSCURRENT' && target.stages.includes('AWSPENDING')) secret.lastRotatedDate = this.#now();
    target.stages.push(stage);
    if (stage === 'AWSCURRENT' && holder !== undefined) this.#attach(secret, 'AWSPREVIOUS', holder);
    secret.lastChangedDate = this.#now();
  }

  #ids(secret: Secret): Body {
    return { ARN: secret.arn, Name: secret.name };
  }

  createSecret(body: Body): Body {
    const name = str(body, 'Name', true);
    if (!NAME_PATTERN.test(name)) throw invalid('the secret name may contain only ASCII letters, digits and /_+=.@- (1-512 characters)');
    if (this.#secrets.has(name)) throw new FakeServiceError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
    const value = str(body, 'SecretString');
    const token = checkToken(str(body, 'ClientRequestToken') ?? randomUUID());
    const now = this.#now();
    const suffix = Array.from({ length: 6 }, () => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'[Math.floor(Math.random() * 52)]).join('');
    const description = str(body, 'Description');
    const initialTags = tags(body, true);
    checkTagCount(initialTags);
    const secret: Secret = {
      name,
      arn: `arn:aws:secretsmanager:${FAKE_REGION}:${FAKE_ACCOUNT}:secret:${name}-${suffix}`,
      createdDate: now,
      lastChangedDate: now,
      versions: [],
      tags: initialTags,
      ...(description === undefined ? {} : { description }),
    };
    if (value !== undefined) secret.versions.push({ versionId: token, value: checkSecretString(value), stages: ['AWSCURRENT'], createdDate: now });
    this.#secrets.set(name, secret);
    return { ...this.#ids(secret), ...(value === undefined ? {} : { VersionId: token }) };
  }

  /** What DescribeSecret and each ListSecrets entry say of a secret, but its labelled versions. */
  #metadata(secret: Secret): Body {
    const next = nextRotationDate(secret);
    return {
      ...this.#ids(secret),
      ...(secret.description === undefined ? {} : { Description: secret.description }),
      ...(secret.rotationEnabled === undefined ? {} : { RotationEnabled: secret.rotationEnabled }),
      ...(secret.rotationLambdaArn === undefined ? {} : { RotationLambdaARN: secret.rotationLambdaArn }),
      ...(secret.rotationRules === undefined ? {} : { RotationRules: secret.rotationRules }),
      CreatedDate: secret.createdDate,
      LastChangedDate: secret.lastChangedDate,
      ...(secret.lastRotatedDate === undefined ? {} : { LastRotatedDate: secret.lastRotatedDate }),
      ...(next === undefined ? {} : { NextRotationDate: next }),
      Tags: secret.tags.map((t) => ({ ...t })),
      ...this.overrides.get(secret.name),
    };
  }

  #labelled(secret: Secret): Record<string, string[]> {
    return Object.fromEntries(secret.versions.filter((v) => v.stages.length > 0).map((v) => [v.versionId, [...v.stages]]));
  }

  describeSecret(body: Body): Body {
    const secret = this.#find(body);
    return { ...this.#metadata(secret), VersionIdsToStages: this.#labelled(secret) };
  }

  getSecretValue(body: Body): Body {
    const secret = this.#find(body);
    const versionId = str(body, 'VersionId');
    const stage = str(body, 'VersionStage');
    let version: Version | undefined;
    if (versionId !== undefined) {
      version = this.#version(secret, versionId);
      if (version !== undefined && stage !== undefined && !version.stages.includes(stage)) version = undefined;
    } else {
      version = this.#withStage(secret, stage ?? 'AWSCURRENT');
    }
    if (version?.value === undefined) {
      const which = versionId === undefined ? `staging label ${stage ?? 'AWSCURRENT'}` : `VersionId ${versionId}${stage === undefined ? '' : ` and staging label ${stage}`}`;
      throw new FakeServiceError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for ${which}`);
    }
    return { ...this.#ids(secret), VersionId: version.versionId, SecretString: version.value, VersionStages: [...version.stages], CreatedDate: version.createdDate };
  }

  putSecretValue(body: Body): Body {
    const secret = this.#find(body);
    const token = checkToken(str(body, 'ClientRequestToken', true));
    const value = str(body, 'SecretString');
    if (value === undefined) throw invalid('You must provide either SecretString or SecretBinary.');
    checkSecretString(value);
    const rotationToken = body.RotationToken;
    if (rotationToken !== undefined && (typeof rotationToken !== 'string' || rotationToken.length === 0)) throw invalid('RotationToken must be a non-empty string');
    const stages = stringList(body, 'VersionStages') ?? ['AWSCURRENT'];
    if (stages.length === 0 || stages.length > 20) throw invalid('VersionStages must hold 1-20 labels');
    const existing = this.#version(secret, token);
    if (existing?.value !== undefined) {
      if (existing.value === value) return { ...this.#ids(secret), VersionId: token, VersionStages: [...existing.stages] }; // ignored: idempotent
      throw new FakeServiceError('ResourceExistsException', `You can't modify an existing version, you can only create a new version. VersionId: ${token}`);
    }
    let version = existing;
    if (version === undefined) {
      version = { versionId: token, stages: [], createdDate: this.#now() };
      secret.versions.push(version);
    }
    version.value = value;
    const first = this.#withStage(secret, 'AWSCURRENT') === undefined;
    for (const stage of first && !stages.includes('AWSCURRENT') ? [...stages, 'AWSCURRENT'] : stages) this.#attach(secret, stage, version);
    secret.lastChangedDate = this.#now();
    return { ...this.#ids(secret), VersionId: token, VersionStages: [...version.stages] };
  }

  updateSecretVersionStage(body: Body): Body {
    const secret = this.#find(body);
    const stage = str(body, 'VersionStage', true);
    const moveTo = str(body, 'MoveToVersionId');
    const removeFrom = str(body, 'RemoveFromVersionId');
    if (moveTo === undefined && removeFrom === undefined) throw invalid('You must specify MoveToVersionId, RemoveFromVersionId, or both.');
    const holder = this.#withStage(secret, stage);
    if (removeFrom !== undefined && this.#version(secret, removeFrom) === undefined) {
      throw new FakeServiceError('ResourceNotFoundException', `Secrets Manager can't find the specified secret version: ${removeFrom}`);
    }
    if (moveTo === undefined) {
      if (holder === undefined || holder.versionId !== removeFrom) throw invalid(`The staging label ${stage} is not attached to version ${String(removeFrom)}.`);
      if (stage === 'AWSCURRENT') throw invalid('You can only move staging label AWSCURRENT to a different secret version. It can\u2019t be completely removed.');
      holder.stages = holder.stages.filter((s) => s !== stage);
      secret.lastChangedDate = this.#now();
      return this.#ids(secret);
    }
    const target = this.#version(secret, moveTo);
    if (target === undefined) throw new FakeServiceError('ResourceNotFoundException', `Secrets Manager can't find the specified secret version: ${moveTo}`);
    if (holder !== undefined && holder !== target && holder.versionId !== removeFrom) {
      throw invalid(
        `The parameter RemoveFromVersionId doesn't match. Staging label ${stage} is currently attached to version ${holder.versionId}, so you must explicitly reference that version in RemoveFromVersionId.`,
      );
    }
    if (holder === undefined && removeFrom !== undefined) throw invalid(`The staging label ${stage} is not attached to version ${removeFrom}.`);
    this.#attach(secret, stage, target);
    return this.#ids(secret);
  }

  listSecrets(body: Body): Body {
    const prefixes = nameFilter(body);
    const all = [...this.#secrets.values()]
      .filter((s) => prefixes === undefined || prefixes.some((p) => s.name.toLowerCase().startsWith(p.toLowerCase())))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const page = paging(body, all.length);
    return {
      SecretList: all.slice(page.start, page.end).map((s) => ({ ...this.#metadata(s), SecretVersionsToStages: this.#labelled(s) })),
      ...(page.next === undefined ? {} : { NextToken: page.next }),
    };
  }

  listSecretVersionIds(body: Body): Body {
    const secret = this.#find(body);
    const versions = body.IncludeDeprecated === true ? secret.versions : secret.versions.filter((v) => v.stages.length > 0);
    const page = paging(body, versions.length);
    return {
      ...this.#ids(secret),
      Versions: versions.slice(page.start, page.end).map((v) => ({
        VersionId: v.versionId,
        ...(v.stages.length === 0 ? {} : { VersionStages: [...v.stages] }),
        CreatedDate: v.createdDate,
      })),
      ...(page.next === undefined ? {} : { NextToken: page.next }),
    };
  }

  rotateSecret(body: Body): Body {
    const secret = this.#find(body);
    const token = checkToken(str(body, 'ClientRequestToken') ?? randomUUID());
    const lambda = str(body, 'RotationLambdaARN');
    const rules = body.RotationRules === undefined ? undefined : checkRules(body.RotationRules);
    const immediately = body.RotateImmediately !== false;
    const current = this.#withStage(secret, 'AWSCURRENT');
    const pending = this.#withStage(secret, 'AWSPENDING');
    // A retry of the RotateSecret call that created this stub: the same answer, nothing new.
    if (immediately && pending?.versionId === token && pending !== current) return { ...this.#ids(secret), VersionId: token };
    if (pending !== undefined && pending !== current) {
      throw new FakeServiceError('InvalidRequestException', 'A previous rotation isn\u2019t complete. That rotation will be reattempted.');
    }
    if (immediately && this.#version(secret, token) !== undefined) {
      throw new FakeServiceError('ResourceExistsException', `A version with VersionId ${token} already exists.`);
    }
    if (current === undefined) throw new FakeServiceError('InvalidRequestException', 'the secret has no AWSCURRENT version to rotate');
    if (this.invoke !== undefined && lambda === undefined && secret.rotationLambdaArn === undefined) {
      throw new FakeServiceError('InvalidRequestException', 'No Lambda rotation function ARN is associated with this secret.');
    }
    secret.rotationEnabled = true;
    if (lambda !== undefined) secret.rotationLambdaArn = lambda;
    if (rules !== undefined) secret.rotationRules = rules;
    secret.lastChangedDate = this.#now();
    if (!immediately) return this.#ids(secret);
    const stub: Version = { versionId: token, stages: [], createdDate: this.#now() };
    secret.versions.push(stub);
    this.#attach(secret, 'AWSPENDING', stub);
    this.invoke?.(secret.arn, token);
    return { ...this.#ids(secret), VersionId: token };
  }

  tagResource(body: Body): Body {
    const secret = this.#find(body);
    const added = tags(body);
    const merged = [...secret.tags.filter((t) => !added.some((a) => a.Key === t.Key)), ...added];
    checkTagCount(merged);
    secret.tags = merged;
    return {};
  }

  untagResource(body: Body): Body {
    const secret = this.#find(body);
    const keys = stringList(body, 'TagKeys');
    if (keys === undefined) throw new FakeServiceError('ValidationException', "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null");
    keys.forEach(refuseAwsKey);
    secret.tags = secret.tags.filter((t) => !keys.includes(t.Key));
    return {};
  }
}
