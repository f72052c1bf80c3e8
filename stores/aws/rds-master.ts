import {
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  RDSClient,
  type DBCluster,
  type DBInstance,
  type Endpoint,
  type Filter,
} from '@aws-sdk/client-rds';
import * as z from 'zod';
import { RotatorError, type ErrorCode } from '../../shared/errors.js';
import type { MasterCredential, MasterResolver, RotatorContext } from '../../shared/rotator.js';
import type { SecretObject } from '../../shared/secret.js';
import type { SecretStore } from '../../shared/store.js';
import { awsClientConfig, type AwsClientOptions } from './client-config.js';
import { awsErrorName, networkCode } from './errors.js';

/**
 * Master secrets that RDS manages (`ManageMasterUserPassword`) hold only `username` and `password`; RDS names the
 * server in two system tags on the secret instead. This resolver completes such a secret the way AWS's own rotation
 * templates do (get_connection_params_from_rds_api): the tag's instance or cluster, looked up with
 * DescribeDBInstances / DescribeDBClusters, gives `host`, `port` and `engine`. It also lists the hosts that server
 * feeds (read replicas of an instance; the reader, custom and member-instance endpoints of a cluster), so a secret
 * on a replica may be rotated by that master (AWS's is_rds_replica_database); the rotator then logs in as the master
 * on the master's own host, since replicas are read-only.
 *
 * Decisions:
 * - **Only a master without `host` is looked up.** A secret that names its host is used as stored, with no RDS call
 *   and no replica hosts: what a person wrote is not second-guessed, and user-managed masters cost nothing extra.
 * - **Stored keys win.** Only keys the value lacks are added (host, port, engine, dbname); nothing is replaced.
 * - **The tags are trusted** because the `aws:` prefix is reserved: no principal but AWS can set such a tag, so the
 *   tag cannot point the master's password at a server of someone's choosing. The tag key is matched without regard
 *   to case, as AWS's templates do.
 * - **Every call carries the caller's signal**, so a step near Lambda's deadline stops waiting.
 * - Cross-region read replicas (named by ARN in another region) are not found by this region's DescribeDBInstances
 *   and are left out: a secret on one is refused, as the templates refuse it.
 */

/** Where a local or test endpoint for RDS may be given (e.g. the fake under test/fakes/). */
export const RDS_ENDPOINT_ENV = 'RDS_ENDPOINT';
/** The system tags RDS puts on a master secret it manages: the instance's or the Multi-AZ / Aurora cluster's ARN. */
export const RDS_INSTANCE_TAG = 'aws:rds:primaryDBInstanceArn';
export const RDS_CLUSTER_TAG = 'aws:rds:primaryDBClusterArn';

/**
 * RDS's `Engine` values and the secret `engine` each becomes: exactly the values the rotators serve
 * (POSTGRES_ENGINES, MYSQL_ENGINES). `aurora` is Aurora MySQL 1 (MySQL 5.6-compatible).
 */
export const RDS_ENGINES: Readonly<Record<string, string>> = {
  postgres: 'postgres',
  'aurora-postgresql': 'aurora-postgresql',
  mysql: 'mysql',
  mariadb: 'mariadb',
  'aurora-mysql': 'aurora-mysql',
  aurora: 'aurora-mysql',
};

/** AWS's templates refuse longer ARNs (MAX_RDS_DB_INSTANCE_ARN_LENGTH). */
const MAX_ARN_LENGTH = 256;
const ARN = /^arn:aws[a-z-]*:rds:([a-z0-9-]+):(\d{12}):(db|cluster):([A-Za-z][A-Za-z0-9-]{0,62})$/;

export type RdsClientOptions = AwsClientOptions;

/**
 * The RDS client the resolver expects, built like the Secrets Manager client (adaptive retry, which backs off on the
 * shared DescribeDBInstances quota; RDS_ENDPOINT honoured). Build it once per container.
 */
export function createRdsClient(options: RdsClientOptions = {}): RDSClient {
  return new RDSClient(awsClientConfig(options, RDS_ENDPOINT_ENV));
}

export interface RdsMasterResolverDeps {
  /**
   * Built with createRdsClient, in the region of the databases. Left out, `createRdsClient()` is built on the first
   * lookup, so a Lambda container that never meets a master secret RDS manages does not build one at its cold start.
   */
  rds?: RDSClient;
  /**
   * The store the master secret is in: the resolver reads the secret's tags from its description (`describe` without
   * dates: one DescribeSecret on AWS), never from the service directly.
   */
  store: Pick<SecretStore, 'describe'>;
}

/** What RDS says about the server a master secret belongs to. */
interface RdsServer {
  host: string;
  port: number;
  engine: string;
  dbname: string | undefined;
  replicaHosts: string[];
}

interface TaggedServer {
  kind: 'instance' | 'cluster';
  arn: string;
  region: string;
}

export function createRdsMasterResolver(deps: RdsMasterResolverDeps): MasterResolver {
  let built = deps.rds;
  return async (secretId: string, value: SecretObject, ctx: RotatorContext): Promise<MasterCredential> => {
    if (value.host !== undefined) return { value, replicaHosts: [] };
    const tagged = await taggedServer(deps.store, secretId, ctx);
    const rds = (built ??= createRdsClient());
    const region = await clientRegion(rds);
    if (region !== undefined && region !== tagged.region) {
      throw new RotatorError(
        'INVALID_SECRET',
        `master secret ${secretId} belongs to RDS ${tagged.kind} ${tagged.arn} in region ${tagged.region}, but this function looks up RDS in ${region}; rotate from a function in the database's region`,
      );
    }
    const server = tagged.kind === 'instance' ? await describeInstance(rds, tagged, secretId, ctx) : await describeCluster(rds, tagged.arn, secretId, ctx);
    const completed: SecretObject = { ...value, host: server.host };
    if (completed.port === undefined) completed.port = server.port;
    if (completed.engine === undefined) completed.engine = server.engine;
    if (completed.dbname === undefined && server.dbname !== undefined) completed.dbname = server.dbname;
    ctx.logger.debug(`completed the RDS-managed master secret from its DB ${tagged.kind}`, {
      secretId,
      [tagged.kind]: tagged.arn,
      host: server.host,
      port: server.port,
      engine: server.engine,
      replicaHosts: server.replicaHosts,
    });
    return { value: completed, replicaHosts: server.replicaHosts };
  };
}

// ---- the secret's tags ----

async function taggedServer(store: Pick<SecretStore, 'describe'>, secretId: string, ctx: RotatorContext): Promise<TaggedServer> {
  const { tags } = await store.describe(secretId, { dates: false, ...(ctx.signal === undefined ? {} : { signal: ctx.signal }) });
  const tagValue = (key: string): string | undefined => Object.entries(tags).find(([k]) => k.toLowerCase() === key.toLowerCase())?.[1];
  // RDS sets one of the two; a cluster's tag names the server a cluster-wide master logs in to, so it goes first.
  const cluster = tagValue(RDS_CLUSTER_TAG);
  const instance = tagValue(RDS_INSTANCE_TAG);
  const kind = cluster !== undefined ? 'cluster' : instance !== undefined ? 'instance' : undefined;
  const arn = cluster ?? instance;
  if (kind === undefined || arn === undefined) {
    throw new RotatorError(
      'INVALID_SECRET',
      `master secret ${secretId} has no "host", and it is not a secret RDS manages (no ${RDS_INSTANCE_TAG} or ${RDS_CLUSTER_TAG} tag); add "host", "port" and "engine" to it, or point "masterarn" at the secret RDS manages for the master user`,
    );
  }
  const match = arn.length <= MAX_ARN_LENGTH ? ARN.exec(arn) : null;
  const expected = kind === 'instance' ? 'db' : 'cluster';
  if (match?.[3] !== expected) {
    throw new RotatorError('INVALID_SECRET', `master secret ${secretId} has a ${kind === 'instance' ? RDS_INSTANCE_TAG : RDS_CLUSTER_TAG} tag that is not the ARN of an RDS ${kind}`);
  }
  return { kind, arn, region: match[1] ?? '' };
}

async function clientRegion(rds: RDSClient): Promise<string | undefined> {
  try {
    return await rds.config.region();
  } catch {
    return undefined; // no region configured: the first call fails with the SDK's own message
  }
}

// ---- RDS ----

async function describeInstance(rds: RDSClient, { arn, region }: TaggedServer, secretId: string, ctx: RotatorContext): Promise<RdsServer> {
  const what = `DB instance ${arn}`;
  const out = await rdsCall(ctx, 'DescribeDBInstances', secretId, what, () => rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: arn }), { abortSignal: ctx.signal }));
  const instance = out.DBInstances?.[0];
  if (instance === undefined) throw notFound(secretId, what);
  const endpoint = checkedEndpoint(instance.Endpoint, what, instance.DBInstanceStatus);
  // A cross-region replica is listed by its ARN; this region's RDS cannot describe it (see the module comment).
  const ids = (instance.ReadReplicaDBInstanceIdentifiers ?? []).filter((id) => !id.startsWith('arn:') || ARN.exec(id)?.[1] === region);
  const replicas = ids.length === 0 ? [] : await instances(rds, { Name: 'db-instance-id', Values: ids }, secretId, what, ctx);
  return {
    ...endpoint,
    engine: mappedEngine(instance.Engine, what),
    dbname: instance.DBName,
    replicaHosts: hostsBesides(endpoint.host, replicas.map((r) => r.Endpoint?.Address)),
  };
}

async function describeCluster(rds: RDSClient, arn: string, secretId: string, ctx: RotatorContext): Promise<RdsServer> {
  const what = `DB cluster ${arn}`;
  const out = await rdsCall(ctx, 'DescribeDBClusters', secretId, what, () => rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: arn }), { abortSignal: ctx.signal }));
  const cluster: DBCluster | undefined = out.DBClusters?.[0];
  if (cluster === undefined) throw notFound(secretId, what);
  const writer = checkedEndpoint({ Address: cluster.Endpoint, Port: cluster.Port }, what, cluster.Status);
  // Every member instance's own endpoint (the writer's too: it is the primary itself), plus the reader and custom
  // endpoints, which route to members.
  const members =
    (cluster.DBClusterMembers ?? []).length === 0 || cluster.DBClusterIdentifier === undefined
      ? []
      : await instances(rds, { Name: 'db-cluster-id', Values: [cluster.DBClusterIdentifier] }, secretId, what, ctx);
  return {
    ...writer,
    engine: mappedEngine(cluster.Engine, what),
    dbname: cluster.DatabaseName,
    replicaHosts: hostsBesides(writer.host, [cluster.ReaderEndpoint, ...(cluster.CustomEndpoints ?? []), ...members.map((m) => m.Endpoint?.Address)]),
  };
}

/** DescribeDBInstances with a filter, every page. */
async function instances(rds: RDSClient, filter: Filter, secretId: string, what: string, ctx: RotatorContext): Promise<DBInstance[]> {
  const found: DBInstance[] = [];
  let marker: string | undefined;
  do {
    const page = await rdsCall(ctx, 'DescribeDBInstances', secretId, `the instances of ${what}`, () =>
      rds.send(new DescribeDBInstancesCommand({ Filters: [filter], ...(marker === undefined ? {} : { Marker: marker }) }), { abortSignal: ctx.signal }),
    );
    found.push(...(page.DBInstances ?? []));
    marker = page.Marker;
  } while (marker !== undefined && marker.length > 0);
  return found;
}

const hostSchema = z
  .string()
  .min(1)
  .max(253)
  .refine((s) => !s.includes('/') && !s.includes('\0'));
const portSchema = z.number().int().min(1).max(65_535);

function checkedEndpoint(endpoint: Endpoint | undefined, what: string, status: string | undefined): { host: string; port: number } {
  if (endpoint?.Address === undefined) {
    // A new instance has no endpoint until it is created (and one being deleted may have lost it).
    throw new RotatorError(
      'TARGET_UNREACHABLE',
      `RDS reports no endpoint for ${what} (status ${status ?? 'unknown'}); retry once it is available`,
      { retryable: true },
    );
  }
  const host = hostSchema.safeParse(endpoint.Address);
  const port = portSchema.safeParse(endpoint.Port);
  if (!host.success || !port.success) throw new RotatorError('INTERNAL', `RDS returned an endpoint for ${what} that is not a host name and port`);
  return { host: host.data, port: port.data };
}

function mappedEngine(engine: string | undefined, what: string): string {
  const mapped = engine === undefined ? undefined : RDS_ENGINES[engine];
  if (mapped === undefined) {
    throw new RotatorError(
      'UNSUPPORTED_ENGINE',
      `${what} runs engine "${engine ?? 'unknown'}", which Rotator cannot rotate (supported: ${Object.keys(RDS_ENGINES).join(', ')})`,
    );
  }
  return mapped;
}

/** Distinct host names (lower case: DNS ignores case), without the primary's own. */
function hostsBesides(primary: string, hosts: ReadonlyArray<string | undefined>): string[] {
  const own = primary.toLowerCase();
  const out = new Set<string>();
  for (const host of hosts) {
    if (host === undefined || !hostSchema.safeParse(host).success) continue;
    const lower = host.toLowerCase();
    if (lower !== own) out.add(lower);
  }
  return [...out];
}

// ---- errors ----

const THROTTLED = new Set(['Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException', 'ServiceUnavailable', 'InternalFailure', 'TimeoutError']);
const DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'UnrecognizedClientException', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'ExpiredToken', 'ExpiredTokenException']);

function notFound(secretId: string, what: string): RotatorError {
  return new RotatorError(
    'INVALID_SECRET',
    `master secret ${secretId} is managed by RDS for ${what}, which RDS does not know (deleted, or in another account); point "masterarn" at a live master secret`,
  );
}

/** The caller's abort reason (Lambda's deadline), when the signal fired: it says more than the SDK's AbortError. */
function abortReason(ctx: RotatorContext): RotatorError | undefined {
  if (ctx.signal?.aborted !== true) return undefined;
  const reason: unknown = ctx.signal.reason;
  return reason instanceof RotatorError ? reason : new RotatorError('TARGET_UNREACHABLE', 'the lookup of the master secret in RDS was cancelled; retry', { retryable: true });
}

async function rdsCall<T>(ctx: RotatorContext, operation: string, secretId: string, what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const aborted = abortReason(ctx);
    if (aborted !== undefined) throw aborted;
    const name = awsErrorName(error);
    const network = networkCode(error);
    const make = (errorCode: ErrorCode, message: string, retryable = false): RotatorError => new RotatorError(errorCode, message, { retryable, cause: error });
    if (name === 'DBInstanceNotFoundFault' || name === 'DBClusterNotFoundFault') throw notFound(secretId, what);
    if (DENIED.has(name)) {
      throw make('TARGET_ERROR', `RDS refused ${operation} for ${what} (${name}): the function's role needs rds:${operation} to complete master secret ${secretId}`);
    }
    if (THROTTLED.has(name) || network !== undefined) {
      throw make('TARGET_UNREACHABLE', `RDS ${operation} for ${what} failed after the SDK's retries (${network ?? name}); retry later`, true);
    }
    // RDS messages name identifiers and parameters, never a secret value (the request carries none).
    const message = error instanceof Error ? error.message : String(error);
    throw make('INTERNAL', `RDS ${operation} for ${what} failed (${name}): ${message}`);
  }
}

