import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RDSClient } from '@aws-sdk/client-rds';
import { FAKE_ACCOUNT, FAKE_REGION } from './secrets-manager.js';

/**
 * A fake Amazon RDS on 127.0.0.1 that speaks the service's wire protocol, awsQuery: `POST /` with a form-encoded
 * body (`Action=DescribeDBInstances&Version=2014-10-31&DBInstanceIdentifier=...`, lists as
 * `Filters.Filter.1.Values.Value.1`), XML answers wrapped in `<{Action}Response><{Action}Result>`, and errors as
 * `<ErrorResponse><Error><Type>Sender</Type><Code>...` with the HTTP status of the real service, so the real
 * `RDSClient` talks to it and raises its typed errors (DBInstanceNotFoundFault from code `DBInstanceNotFound`, 404).
 * Element names follow the SDK's schemas (@aws-sdk/client-rds, dist-es/schemas/schemas_0.js). SigV4 signatures are
 * accepted unchecked.
 *
 * What it implements, only what Rotator reads:
 * - DescribeDBInstances: `DBInstanceIdentifier` by identifier or ARN (unknown: 404 DBInstanceNotFound), `Filters`
 *   `db-instance-id` and `db-cluster-id` (identifiers or ARNs; another name: 400 InvalidParameterValue),
 *   `MaxRecords` 20-100 and `Marker` paging. A replica appears in its source's `ReadReplicaDBInstanceIdentifiers`
 *   and names it in `ReadReplicaSourceDBInstanceIdentifier`; an instance without an endpoint (status `creating`)
 *   has no `<Endpoint>`, as RDS answers while it creates one.
 * - DescribeDBClusters: `DBClusterIdentifier` by identifier or ARN (unknown: 404 DBClusterNotFoundFault), `Filters`
 *   `db-cluster-id`; members come from the instances that name the cluster.
 * Instances and clusters are set by the test. Any other action is 400 InvalidAction; another Version is 400
 * InvalidParameterValue.
 */

export const RDS_XML_NAMESPACE = 'http://rds.amazonaws.com/doc/2014-10-31/';
const API_VERSION = '2014-10-31';

export interface FakeDbInstance {
  identifier: string;
  /** RDS's engine name: postgres, aurora-postgresql, mysql, mariadb, aurora-mysql... */
  engine: string;
  /** Default `available`, or `creating` when `endpoint` is absent. */
  status?: string;
  /** Absent while the instance is being created. */
  endpoint?: { address: string; port: number };
  dbName?: string;
  /** Makes this a read replica of that instance (identifier). */
  replicaOf?: string;
  /** Makes this a member of that cluster (identifier). */
  cluster?: string;
  /** For a cluster member: whether it is the writer. */
  writer?: boolean;
}

export interface FakeDbCluster {
  identifier: string;
  engine: string;
  status?: string;
  /** The writer (cluster) endpoint; absent while the cluster is being created. */
  endpoint?: string;
  readerEndpoint?: string;
  customEndpoints?: string[];
  port: number;
  databaseName?: string;
}

export interface RecordedRdsRequest {
  action: string;
  /** The form parameters as sent (RDS requests carry no secret). */
  params: Record<string, string>;
}

export interface InjectedRdsFailure {
  action: string;
  /** The error code on the wire, e.g. Throttling, AccessDenied. */
  code: string;
  status?: number;
  times?: number;
}

export interface RdsFake {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly requests: RecordedRdsRequest[];
  /** How many requests of `action` (or all) arrived. */
  count(action?: string): number;
  putInstance(instance: FakeDbInstance): void;
  removeInstance(identifier: string): void;
  putCluster(cluster: FakeDbCluster): void;
  instanceArn(identifier: string): string;
  clusterArn(identifier: string): string;
  fail(failure: InjectedRdsFailure): void;
  /** A real SDK client pointed at the fake, with fake credentials. */
  client(config?: Partial<ConstructorParameters<typeof RDSClient>[0]>): RDSClient;
  close(): Promise<void>;
}

class RdsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export async function startRdsFake(): Promise<RdsFake> {
  const instances = new Map<string, FakeDbInstance>();
  const clusters = new Map<string, FakeDbCluster>();
  const requests: RecordedRdsRequest[] = [];
  let failures: InjectedRdsFailure[] = [];
  const instanceArn = (id: string): string => `arn:aws:rds:${FAKE_REGION}:${FAKE_ACCOUNT}:db:${id}`;
  const clusterArn = (id: string): string => `arn:aws:rds:${FAKE_REGION}:${FAKE_ACCOUNT}:cluster:${id}`;
  /** An identifier or the ARN of one, as the API takes either; identifiers are case-insensitive (stored lower case). */
  const idOf = (value: string, kind: 'db' | 'cluster'): string => {
    const prefix = `arn:aws:rds:${FAKE_REGION}:${FAKE_ACCOUNT}:${kind}:`;
    return (value.startsWith(prefix) ? value.slice(prefix.length) : value).toLowerCase();
  };

  const server = createServer((req, res) => {
    void handle(req, res);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const params = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    const action = params.Action ?? '';
    try {
      if (req.method !== 'POST') throw new RdsError('InvalidAction', 'expected POST / with a form-encoded body');
      requests.push({ action, params });
      if (params.Version !== API_VERSION) throw new RdsError('InvalidParameterValue', `Version must be ${API_VERSION}`);
      const failure = failures.find((f) => f.action === action);
      if (failure !== undefined) {
        failure.times = (failure.times ?? 1) - 1;
        failures = failures.filter((f) => (f.times ?? 1) > 0);
        throw new RdsError(failure.code, `injected ${failure.code} for ${action}`, failure.status ?? 400);
      }
      let result: string;
      if (action === 'DescribeDBInstances') result = describeInstances(params);
      else if (action === 'DescribeDBClusters') result = describeClusters(params);
      else throw new RdsError('InvalidAction', `The action ${action} is not valid for this web service.`);
      sendXml(res, 200, `<${action}Response xmlns="${RDS_XML_NAMESPACE}"><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`);
    } catch (error) {
      const e = error instanceof RdsError ? error : new RdsError('InternalFailure', `the fake failed: ${error instanceof Error ? error.message : String(error)}`, 500);
      const type = e.status >= 500 ? 'Receiver' : 'Sender';
      sendXml(
        res,
        e.status,
        `<ErrorResponse xmlns="${RDS_XML_NAMESPACE}"><Error><Type>${type}</Type><Code>${xml(e.code)}</Code><Message>${xml(e.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
      );
    }
  }

  function describeInstances(params: Record<string, string>): string {
    const id = params.DBInstanceIdentifier;
    let found: FakeDbInstance[];
    if (id !== undefined) {
      const instance = instances.get(idOf(id, 'db'));
      if (instance === undefined) throw new RdsError('DBInstanceNotFound', `DBInstance ${id} not found.`, 404);
      found = [instance];
    } else {
      found = [...instances.values()];
    }
    for (const { name, values } of filters(params)) {
      if (name === 'db-instance-id') {
        const ids = new Set(values.map((v) => idOf(v, 'db')));
        found = found.filter((i) => ids.has(i.identifier.toLowerCase()));
      } else if (name === 'db-cluster-id') {
        const ids = new Set(values.map((v) => idOf(v, 'cluster')));
        found = found.filter((i) => i.cluster !== undefined && ids.has(i.cluster.toLowerCase()));
      } else {
        throw new RdsError('InvalidParameterValue', `Unrecognized filter name: ${name}`);
      }
    }
    const page = paged(found, params);
    return `<DBInstances>${page.items.map(instanceXml).join('')}</DBInstances>${page.marker === undefined ? '' : `<Marker>${page.marker}</Marker>`}`;
  }

  function describeClusters(params: Record<string, string>): string {
    const id = params.DBClusterIdentifier;
    let found: FakeDbCluster[];
    if (id !== undefined) {
      const cluster = clusters.get(idOf(id, 'cluster'));
      if (cluster === undefined) throw new RdsError('DBClusterNotFoundFault', `DBCluster ${id} not found.`, 404);
      found = [cluster];
    } else {
      found = [...clusters.values()];
    }
    for (const { name, values } of filters(params)) {
      if (name !== 'db-cluster-id') throw new RdsError('InvalidParameterValue', `Unrecognized filter name: ${name}`);
      const ids = new Set(values.map((v) => idOf(v, 'cluster')));
      found = found.filter((c) => ids.has(c.identifier.toLowerCase()));
    }
    const page = paged(found, params);
    return `<DBClusters>${page.items.map(clusterXml).join('')}</DBClusters>${page.marker === undefined ? '' : `<Marker>${page.marker}</Marker>`}`;
  }

  function instanceXml(i: FakeDbInstance): string {
    const replicas = [...instances.values()].filter((r) => r.replicaOf?.toLowerCase() === i.identifier.toLowerCase()).map((r) => r.identifier);
    return (
      '<DBInstance>' +
      el('DBInstanceIdentifier', i.identifier) +
      el('DBInstanceArn', instanceArn(i.identifier)) +
      el('DBInstanceClass', 'db.t3.micro') +
      el('Engine', i.engine) +
      el('DBInstanceStatus', i.status ?? (i.endpoint === undefined ? 'creating' : 'available')) +
      el('MasterUsername', 'master') +
      (i.dbName === undefined ? '' : el('DBName', i.dbName)) +
      (i.endpoint === undefined ? '' : `<Endpoint>${el('Address', i.endpoint.address)}${el('Port', String(i.endpoint.port))}${el('HostedZoneId', 'Z2R2ITUGPM61AM')}</Endpoint>`) +
      el('AllocatedStorage', '20') +
      el('MultiAZ', 'false') +
      (i.replicaOf === undefined ? '' : el('ReadReplicaSourceDBInstanceIdentifier', i.replicaOf)) +
      `<ReadReplicaDBInstanceIdentifiers>${replicas.map((r) => el('ReadReplicaDBInstanceIdentifier', r)).join('')}</ReadReplicaDBInstanceIdentifiers>` +
      '<ReadReplicaDBClusterIdentifiers/>' +
      (i.cluster === undefined ? '' : el('DBClusterIdentifier', i.cluster)) +
      el('PubliclyAccessible', 'false') +
      el('StorageEncrypted', 'true') +
      '</DBInstance>'
    );
  }

  function clusterXml(c: FakeDbCluster): string {
    const members = [...instances.values()].filter((i) => i.cluster?.toLowerCase() === c.identifier.toLowerCase());
    return (
      '<DBCluster>' +
      el('DBClusterIdentifier', c.identifier) +
      el('DBClusterArn', clusterArn(c.identifier)) +
      el('Engine', c.engine) +
      el('Status', c.status ?? (c.endpoint === undefined ? 'creating' : 'available')) +
      (c.databaseName === undefined ? '' : el('DatabaseName', c.databaseName)) +
      (c.endpoint === undefined ? '' : el('Endpoint', c.endpoint)) +
      (c.readerEndpoint === undefined ? '' : el('ReaderEndpoint', c.readerEndpoint)) +
      `<CustomEndpoints>${(c.customEndpoints ?? []).map((e) => el('member', e)).join('')}</CustomEndpoints>` +
      el('Port', String(c.port)) +
      el('MasterUsername', 'master') +
      el('MultiAZ', String(members.length > 1)) +
      '<DBClusterMembers>' +
      members
        .map(
          (m) =>
            `<DBClusterMember>${el('DBInstanceIdentifier', m.identifier)}${el('IsClusterWriter', String(m.writer === true))}${el('DBClusterParameterGroupStatus', 'in-sync')}${el('PromotionTier', '1')}</DBClusterMember>`,
        )
        .join('') +
      '</DBClusterMembers>' +
      '</DBCluster>'
    );
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;

  return {
    endpoint,
    requests,
    count: (action) => requests.filter((r) => action === undefined || r.action === action).length,
    putInstance: (instance) => {
      instances.set(instance.identifier.toLowerCase(), { ...instance });
    },
    removeInstance: (identifier) => {
      instances.delete(identifier.toLowerCase());
    },
    putCluster: (cluster) => {
      clusters.set(cluster.identifier.toLowerCase(), { ...cluster });
    },
    instanceArn,
    clusterArn,
    fail: (failure) => {
      failures.push({ ...failure });
    },
    client: (config = {}) =>
      new RDSClient({
        endpoint,
        region: FAKE_REGION,
        credentials: { accessKeyId: 'AKIDFAKEFAKEFAKE', secretAccessKey: 'fake-secret-access-key' },
        ...config,
      }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error === undefined ? resolve() : reject(error)));
      }),
  };
}

/** `Filters.Filter.N.Name` and `Filters.Filter.N.Values.Value.M`, as the query serializer writes a FilterList. */
function filters(params: Record<string, string>): Array<{ name: string; values: string[] }> {
  const out: Array<{ name: string; values: string[] }> = [];
  for (let n = 1; params[`Filters.Filter.${n}.Name`] !== undefined; n++) {
    const name = params[`Filters.Filter.${n}.Name`] ?? '';
    const values: string[] = [];
    for (let m = 1; params[`Filters.Filter.${n}.Values.Value.${m}`] !== undefined; m++) values.push(params[`Filters.Filter.${n}.Values.Value.${m}`] ?? '');
    if (values.length === 0) throw new RdsError('InvalidParameterValue', `The filter ${name} needs at least one value`);
    out.push({ name, values });
  }
  return out;
}

function paged<T>(items: readonly T[], params: Record<string, string>): { items: T[]; marker?: string } {
  const max = params.MaxRecords === undefined ? 100 : Number(params.MaxRecords);
  if (!Number.isInteger(max) || max < 20 || max > 100) throw new RdsError('InvalidParameterValue', 'MaxRecords must be between 20 and 100');
  const start = params.Marker === undefined ? 0 : Number.parseInt(Buffer.from(params.Marker, 'base64').toString('utf8'), 10);
  if (!Number.isInteger(start) || start < 0 || start > items.length) throw new RdsError('InvalidParameterValue', 'The marker is not valid');
  const end = Math.min(items.length, start + max);
  return end < items.length ? { items: items.slice(start, end), marker: Buffer.from(String(end), 'utf8').toString('base64') } : { items: items.slice(start, end) };
}

function xml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&apos;');
}

function el(name: string, text: string): string {
  return `<${name}>${xml(text)}</${name}>`;
}

function sendXml(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body), 'x-amzn-requestid': randomUUID() });
  res.end(body);
}
