import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/**
 * What the Google fakes share: a gRPC server on 127.0.0.1 (plaintext) for one service, built from the `.proto`
 * files that ship inside the npm package whose real client the tests use (and google-gax's common protos), so the
 * fake and the client can never disagree on the wire format. Each fake gives plain functions from request to
 * response; this turns them into gRPC handlers that record every call (never the payload bytes) and answer a thrown
 * `GrpcFailure` with its status code.
 */

const require = createRequire(import.meta.url);

export const Status = grpc.status;

/** A gRPC error as the service sends it: a status code and its details text. */
export class GrpcFailure extends Error {
  readonly code: grpc.status;
  readonly details: string;
  constructor(code: grpc.status, details: string) {
    super(details);
    this.code = code;
    this.details = details;
  }
}

export function fail(code: grpc.status, details: string): GrpcFailure {
  return new GrpcFailure(code, details);
}

/** The directory of the protos bundled in `pkg` (an npm package with a `build/protos` folder) and google-gax's. */
function protoRoots(pkg: string): string[] {
  const root = join(dirname(require.resolve(`${pkg}/package.json`)), 'build/protos');
  // google-gax exports no package.json; resolve it from the client package's own location (its dependency).
  const gax = join(dirname(createRequire(require.resolve(pkg)).resolve('google-gax')), '../protos');
  return [root, gax];
}

/**
 * The service definition `service` (e.g. `google.cloud.secretmanager.v1.SecretManagerService`) from `file` inside
 * `pkg`. Field names are camelCase, longs and enums strings, as the Node clients send and expect them.
 */
export function loadService(pkg: string, file: string, service: string): grpc.ServiceDefinition {
  const definition = protoLoader.loadSync(file, { includeDirs: protoRoots(pkg), keepCase: false, longs: String, enums: String, defaults: false, oneofs: true });
  let node: unknown = grpc.loadPackageDefinition(definition);
  for (const part of service.split('.')) node = (node as Record<string, unknown>)[part];
  const ctor = node as { service?: grpc.ServiceDefinition } | undefined;
  if (ctor?.service === undefined) throw new Error(`no service ${service} in ${file}`);
  return ctor.service;
}

export interface RecordedCall {
  rpc: string;
  /** The resource the call named (`name`, `parent`, or the resource's own `name`), for counting and asserting. */
  resource?: string;
  /** The gRPC status it was answered with (0 = OK). */
  status: number;
}

export type UnaryImpl = (request: Record<string, unknown>, metadata: grpc.Metadata) => unknown;

export interface GrpcFake {
  port: number;
  calls: RecordedCall[];
  close(): Promise<void>;
}

/** What a request names, without looking at any payload. */
function resourceOf(request: Record<string, unknown>): string | undefined {
  for (const key of ['name', 'parent']) if (typeof request[key] === 'string') return request[key];
  for (const value of Object.values(request)) {
    if (value !== null && typeof value === 'object' && typeof (value as { name?: unknown }).name === 'string') return (value as { name: string }).name;
  }
  return undefined;
}

/**
 * Serves `impl` (rpc name -> function) for `service` on 127.0.0.1 and an ephemeral port. RPCs the fake does not
 * implement answer UNIMPLEMENTED, as a real server does for an unknown method. `before` runs ahead of every call
 * (a test's injected failure: throw a GrpcFailure to answer with it).
 */
export async function startGrpcFake(
  service: grpc.ServiceDefinition,
  impl: Record<string, UnaryImpl>,
  before?: (rpc: string, request: Record<string, unknown>) => void,
): Promise<GrpcFake> {
  const calls: RecordedCall[] = [];
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const [rpc, fn] of Object.entries(impl)) {
    handlers[rpc] = (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const resource = resourceOf(call.request);
      const record: RecordedCall = { rpc, ...(resource === undefined ? {} : { resource }), status: Status.OK };
      calls.push(record);
      try {
        before?.(rpc, call.request);
        callback(null, fn(call.request, call.metadata));
      } catch (error) {
        const failure = error instanceof GrpcFailure ? error : fail(Status.INTERNAL, `fake error in ${rpc}: ${String(error)}`);
        record.status = failure.code;
        callback({ code: failure.code, details: failure.details, name: 'Error', message: failure.details });
      }
    };
  }
  const server = new grpc.Server();
  server.addService(service, handlers);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error)));
  });
  return {
    port,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        // A client that keeps a stream open would hold tryShutdown forever.
        setTimeout(() => server.forceShutdown(), 2_000).unref();
      }),
  };
}

/** A protobuf Timestamp for `date`, as the Node clients decode it (seconds as a string with longs: String). */
export function timestamp(date: Date): { seconds: string; nanos: number } {
  const ms = date.getTime();
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}
