import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '@cdktf/hcl2json';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * infra/gcp is checked offline: Terraform cannot run here, so its files are parsed with HashiCorp's HCL parser
 * (compiled to WebAssembly in @cdktf/hcl2json) and the security-relevant shape is asserted: the four functions and
 * their accounts, every IAM grant against an allow-list, the custom roles' exact permissions, the secret-prefix
 * condition, the notification path (topic, publisher, Eventarc trigger), the jobs' OIDC tokens, the alert, and the
 * checks on the variables (their regular expressions are run here against good and bad values).
 */
const DIR = fileURLToPath(new URL('../../infra/gcp/', import.meta.url));

type Block = Record<string, unknown>;
interface Terraform {
  resource: Record<string, Record<string, Block[]>>;
  data: Record<string, Record<string, Block[]>>;
  variable: Record<string, Block[]>;
  output: Record<string, Block[]>;
  terraform: Block[];
  locals: Block;
}

let tf: Terraform;

/** An interpolation as the parser writes it: `${expr}`. */
const ref = (expr: string): string => '${' + expr + '}';

function resource(type: string, name: string): Block {
  const block = tf.resource[type]?.[name]?.[0];
  if (block === undefined) throw new Error(`infra/gcp declares no ${type}.${name}`);
  return block;
}

/** Every block of a resource type, by name. */
function resources(type: string): [string, Block][] {
  return Object.entries(tf.resource[type] ?? {}).map(([name, blocks]) => {
    const block = blocks[0];
    if (block === undefined) throw new Error(`${type}.${name} is empty`);
    return [name, block];
  });
}

function first(block: Block, key: string): Block {
  const nested = (block[key] as Block[] | undefined)?.[0];
  if (nested === undefined) throw new Error(`no ${key} block`);
  return nested;
}

function variable(name: string): Block {
  const block = tf.variable[name]?.[0];
  if (block === undefined) throw new Error(`infra/gcp declares no variable ${name}`);
  return block;
}

/** A value with a whole-string `${local.a.b}` reference replaced by what the locals say. */
function resolve(value: unknown): unknown {
  const match = typeof value === 'string' ? /^\$\{local\.([\w.]+)\}$/.exec(value) : null;
  if (match?.[1] === undefined) return value;
  let current: unknown = tf.locals;
  for (const key of match[1].split('.')) {
    if (typeof current !== 'object' || current === null || !(key in current)) throw new Error(`no local ${match[1]}`);
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** Every string in a parsed tree, keys included (comments are not in it). */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (typeof value === 'object' && value !== null) return Object.entries(value).flatMap(([k, v]) => [k, ...strings(v)]);
  return [];
}

/** Roles and permissions no Rotator grant may carry, wherever they appear. */
const FORBIDDEN = [
  /\broles\/(owner|editor|viewer)\b/,
  /\broles\/secretmanager\.admin\b/,
  /setIamPolicy/,
  /\bsecretmanager\.secrets\.(create|delete)\b/,
  /\ballUsers\b|\ballAuthenticatedUsers\b/,
];
const forbiddenIn = (tree: unknown): string[] => strings(tree).filter((s) => FORBIDDEN.some((re) => re.test(s)));

/** The only role granted that is not one of this configuration's custom roles. */
const ALLOWED_PREDEFINED_ROLES = ['roles/run.invoker'];

/** Exactly what each custom role may do (see infra/gcp/iam.tf for why each permission is there). */
const CUSTOM_ROLES: Record<string, string[]> = {
  rotation: [
    'secretmanager.secrets.get',
    'secretmanager.secrets.update',
    'secretmanager.versions.access',
    'secretmanager.versions.add',
    'secretmanager.versions.destroy',
    'secretmanager.versions.get',
    'secretmanager.versions.list',
  ],
  purge: [
    'secretmanager.secrets.get',
    'secretmanager.secrets.update',
    'secretmanager.versions.access',
    'secretmanager.versions.destroy',
    'secretmanager.versions.get',
    'secretmanager.versions.list',
  ],
  secret_lister: ['secretmanager.secrets.list'],
  schedule_reader: ['secretmanager.secrets.get'],
  job_reconciler: ['cloudscheduler.jobs.create', 'cloudscheduler.jobs.delete', 'cloudscheduler.jobs.get', 'cloudscheduler.jobs.list', 'cloudscheduler.jobs.update'],
  act_as_scheduler: ['iam.serviceAccounts.actAs'],
  topic_publisher: ['pubsub.topics.publish'],
  master_reader: ['secretmanager.secrets.get', 'secretmanager.versions.access', 'secretmanager.versions.get'],
};

const ENTRY_POINTS: Record<string, string> = {
  on_secret_event: 'onSecretEvent',
  rotate: 'rotate',
  purge: 'purge',
  reconcile_jobs: 'reconcileJobs',
};

/** The custom role a binding grants (its resource name), or undefined for a predefined role. */
function customRoleOf(binding: Block): string | undefined {
  return /^\$\{google_project_iam_custom_role\.(\w+)\.id\}$/.exec(String(binding.role))?.[1];
}

/** The service account (resource name) a member string names, e.g. serviceAccount:${google_service_account.x.email}. */
function accountOf(member: unknown): string | undefined {
  return /^serviceAccount:\$\{google_service_account\.(\w+)\.email\}$/.exec(String(member))?.[1];
}

/** Every IAM grant of the configuration, whatever the resource it is made on. */
function bindings(): { type: string; name: string; block: Block }[] {
  return Object.keys(tf.resource)
    .filter((type) => /_iam_(member|binding|policy)$/.test(type))
    .flatMap((type) => resources(type).map(([name, block]) => ({ type, name, block })));
}

/** The first regex("...") of a variable's validation, unescaped from HCL, as a JavaScript RegExp. */
function validationRegex(name: string): RegExp {
  const condition = String(first(variable(name), 'validation').condition);
  const literal = /regex\("((?:[^"\\]|\\.)*)"/.exec(condition)?.[1];
  if (literal === undefined) throw new Error(`variable ${name} is not checked with regex()`);
  return new RegExp(literal.replace(/\\(.)/g, '$1'));
}

beforeAll(async () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.tf'));
  const merged: Terraform = { resource: {}, data: {}, variable: {}, output: {}, terraform: [], locals: {} };
  for (const file of files) {
    const parsed = (await parse(file, readFileSync(join(DIR, file), 'utf8'))) as Partial<Omit<Terraform, 'locals'>> & { locals?: Block[] };
    for (const [type, byName] of Object.entries(parsed.resource ?? {})) merged.resource[type] = { ...merged.resource[type], ...byName };
    for (const [type, byName] of Object.entries(parsed.data ?? {})) merged.data[type] = { ...merged.data[type], ...byName };
    Object.assign(merged.variable, parsed.variable ?? {});
    Object.assign(merged.output, parsed.output ?? {});
    merged.terraform.push(...(parsed.terraform ?? []));
    for (const block of parsed.locals ?? []) Object.assign(merged.locals, block);
  }
  tf = merged;
});

describe('infra/gcp (parsed offline)', () => {
  it('the parser refuses broken HCL, so a typo in the files fails this suite', async () => {
    await expect(parse('broken.tf', 'resource "x" "y" { a = }')).rejects.toThrow();
  });

  it('needs the google provider 6.x, and google-beta only for the Secret Manager service agent', () => {
    const providers = first(tf.terraform[0] ?? {}, 'required_providers');
    expect(providers.google).toMatchObject({ source: 'hashicorp/google', version: '~> 6.0' });
    expect(providers['google-beta']).toMatchObject({ source: 'hashicorp/google-beta', version: '~> 6.0' });
    const beta = Object.values(tf.resource).flatMap((byName) => Object.entries(byName)).filter(([, blocks]) => blocks[0]?.provider === ref('google-beta'));
    expect(beta.map(([name]) => name)).toEqual(['secretmanager']);
  });

  it('declares exactly four Cloud Run functions (2nd gen), on nodejs22, with their entry points, built from the uploaded source', () => {
    expect(tf.resource.google_cloudfunctions_function, 'no 1st gen function').toBeUndefined();
    const functions = resources('google_cloudfunctions2_function');
    expect(functions.map(([name]) => name).sort()).toEqual(Object.keys(ENTRY_POINTS).sort());
    const names = resolve(ref('local.function_names')) as Record<string, string>;
    for (const [name, fn] of functions) {
      const build = first(fn, 'build_config');
      expect(resolve(build.runtime), name).toBe('nodejs22');
      expect(build.entry_point, name).toBe(ENTRY_POINTS[name]);
      const buildEnv = build.environment_variables as Record<string, string>;
      expect(resolve(buildEnv.GOOGLE_FUNCTION_SOURCE), name).toBe('dist/functions/gcp/index.js');
      const storage = first(first(build, 'source'), 'storage_source');
      expect(storage).toEqual({ bucket: ref('google_storage_bucket.source.name'), object: ref('google_storage_bucket_object.source.name') });
      expect(resolve(fn.name), name).toBe(names[name]);
    }
    // Four distinct Cloud Run services.
    expect(new Set(Object.values(names)).size).toBe(4);
  });

  it('uploads the repository without node_modules, dist, git, tests, benchmarks or infra/ (Terraform state) to a private bucket', () => {
    const archive = tf.data.archive_file?.source?.[0];
    expect(archive?.source_dir).toBe(ref('path.module') + '/../..');
    expect(archive?.excludes).toEqual(
      expect.arrayContaining(['node_modules', 'dist', '.git', 'test', 'bench', 'infra', '.rotator', 'coverage', '**/*.tfstate*', '**/.env*']),
    );
    const object = resource('google_storage_bucket_object', 'source');
    expect(String(object.name)).toContain(ref('data.archive_file.source.output_md5'));
    const bucket = resource('google_storage_bucket', 'source');
    expect(bucket.uniform_bucket_level_access).toBe(true);
    expect(bucket.public_access_prevention).toBe('enforced');
  });

  it('runs each function as its own service account; the scheduler jobs and the Eventarc trigger have theirs', () => {
    const accounts = resources('google_service_account').map(([name]) => name).sort();
    expect(accounts).toEqual(['on_secret_event', 'purge', 'reconcile_jobs', 'rotate', 'scheduler', 'trigger']);
    const used = resources('google_cloudfunctions2_function').map(([name, fn]) => {
      const account = /^\$\{google_service_account\.(\w+)\.email\}$/.exec(String(first(fn, 'service_config').service_account_email))?.[1];
      expect(account, `${name} names its account`).toBeDefined();
      return account;
    });
    expect(new Set(used).size).toBe(4);
    expect(used).not.toContain('scheduler');
    expect(used).not.toContain('trigger');
    // Nothing holds a key to any of them.
    expect(tf.resource.google_service_account_key).toBeUndefined();
  });

  it('keeps ingress internal-only (rotate: by default), instances bounded, and timeouts within the platform limits', () => {
    const config = (name: string): Block => first(resource('google_cloudfunctions2_function', name), 'service_config');
    for (const name of ['on_secret_event', 'purge', 'reconcile_jobs']) expect(config(name).ingress_settings, name).toBe('ALLOW_INTERNAL_ONLY');
    expect(config('rotate').ingress_settings).toBe(ref('var.rotate_ingress'));
    expect(variable('rotate_ingress').default).toBe('ALLOW_INTERNAL_ONLY');

    // Event-driven functions run at most 540 s; the HTTP rotate and purge get longer (HTTP allows 3600 s).
    expect(config('on_secret_event').timeout_seconds).toBeLessThanOrEqual(540);
    for (const name of ['rotate', 'purge']) {
      expect(config(name).timeout_seconds, name).toBeGreaterThan(540);
      expect(config(name).timeout_seconds, name).toBeLessThanOrEqual(3600);
    }
    for (const [name] of resources('google_cloudfunctions2_function')) {
      const max = config(name).max_instance_count;
      expect(typeof max, `${name} bounds its instances`).toBe('number');
      expect(max, name).toBeGreaterThanOrEqual(1);
      expect(max, name).toBeLessThanOrEqual(10);
    }
    expect(config('purge').max_instance_count).toBe(1);
    expect(config('reconcile_jobs').max_instance_count).toBe(1);
  });

  it('gives the functions the settings the design names, none of them a secret; the reconciler also where, what and as whom', () => {
    const env = resolve(ref('local.function_env')) as Record<string, string>;
    expect(env).toEqual({
      ROTATOR_PROJECT: ref('var.project_id'),
      ROTATOR_PROJECT_NUMBER: ref('var.project_number'),
      ROTATOR_SECRET_PREFIX: ref('var.secret_name_prefix'),
      ROTATION_STRATEGY: ref('var.rotation_strategy'),
      ROTATOR_SAFE_WINDOW: ref('var.safe_window'),
      ROTATOR_KEEP_SUPERSEDED: ref('tostring(var.keep_superseded)'),
      LOG_LEVEL: ref('var.log_level'),
    });
    for (const name of ['on_secret_event', 'rotate', 'purge']) {
      expect(first(resource('google_cloudfunctions2_function', name), 'service_config').environment_variables, name).toBe(ref('local.function_env'));
    }
    const reconciler = first(resource('google_cloudfunctions2_function', 'reconcile_jobs'), 'service_config');
    expect(reconciler.environment_variables).toBe(ref('merge(local.function_env, local.reconciler_env)'));
    const extra = resolve(ref('local.reconciler_env')) as Record<string, string>;
    expect(extra).toEqual({
      ROTATOR_SCHEDULER_LOCATION: ref('var.region'),
      ROTATOR_ROTATE_URL: ref('google_cloudfunctions2_function.rotate.service_config[0].uri'),
      ROTATOR_SCHEDULER_SERVICE_ACCOUNT: ref('google_service_account.scheduler.email'),
    });
    for (const name of [...Object.keys(env), ...Object.keys(extra)]) expect(name).not.toMatch(/KEY$|PASSWORD|SECRET$|TOKEN|CREDENTIAL/i);
    // One secret reaches the functions, and only by reference: the alert webhook's URL, when one is configured.
    for (const [name, fn] of resources('google_cloudfunctions2_function')) {
      const service = first(fn, 'service_config');
      expect(service.secret_environment_variables, name).toBeUndefined();
      expect(service.secret_volumes, name).toBeUndefined();
      const webhook = ((service.dynamic as Block | undefined)?.secret_environment_variables as Block[] | undefined)?.[0];
      expect(webhook?.for_each, name).toBe(ref('var.alert_webhook_secret_id == null ? [] : [var.alert_webhook_secret_id]'));
      expect(first(webhook ?? {}, 'content'), name).toEqual({
        key: 'ROTATOR_ALERT_WEBHOOK',
        project_id: ref('var.project_id'),
        secret: ref('secret_environment_variables.value'),
        version: 'latest',
      });
    }
    // The functions that reach databases can go through the VPC connector; the reconciler reaches none.
    for (const name of ['on_secret_event', 'rotate', 'purge']) {
      expect(first(resource('google_cloudfunctions2_function', name), 'service_config').vpc_connector, name).toBe(ref('var.vpc_connector'));
    }
    expect(reconciler.vpc_connector).toBeUndefined();
  });

  it('grants only custom roles of this configuration or roles/run.invoker (the allow-list), never an authoritative binding', () => {
    const all = bindings();
    expect(all.length).toBeGreaterThanOrEqual(15);
    for (const { type, name, block } of all) {
      expect(type, `${type}.${name} adds a member, it does not replace a policy`).toMatch(/_iam_member$/);
      const custom = customRoleOf(block);
      if (custom === undefined) {
        expect(ALLOWED_PREDEFINED_ROLES, `${type}.${name}`).toContain(block.role);
        expect(type, 'run.invoker only on a function').toBe('google_cloud_run_v2_service_iam_member');
      } else {
        expect(Object.keys(CUSTOM_ROLES), `${type}.${name} grants a declared custom role`).toContain(custom);
      }
    }
  });

  it('contains no primitive role, no Secret Manager admin, no IAM-policy or secret create/delete permission, no public member', () => {
    expect(forbiddenIn(tf)).toEqual([]);
    // The scan itself can fail:
    expect(forbiddenIn({ role: 'roles/editor' })).toEqual(['roles/editor']);
    expect(forbiddenIn({ permissions: ['secretmanager.secrets.delete', 'resourcemanager.projects.setIamPolicy'] })).toHaveLength(2);
    expect(forbiddenIn({ member: 'allUsers' })).toEqual(['allUsers']);
  });

  it('holds exactly the expected permissions in each custom role, with unique role ids from the name prefix', () => {
    const roles = resources('google_project_iam_custom_role');
    expect(roles.map(([name]) => name).sort()).toEqual(Object.keys(CUSTOM_ROLES).sort());
    const ids = new Set<string>();
    for (const [name, role] of roles) {
      expect([...(role.permissions as string[])].sort(), name).toEqual(CUSTOM_ROLES[name]);
      expect(String(role.role_id), name).toMatch(/^\$\{var\.name_prefix\}[A-Z][A-Za-z]+$/);
      ids.add(String(role.role_id));
    }
    expect(ids.size).toBe(roles.length);
  });

  it('reaches secrets only through the prefix condition (by project number), or one named master secret at a time, read-only', () => {
    expect(resolve(ref('local.secret_condition'))).toBe(
      'resource.name.startsWith("projects/' + ref('var.project_number') + '/secrets/' + ref('var.secret_name_prefix') + '")',
    );
    const granted: Record<string, string[]> = {};
    for (const [name, binding] of resources('google_project_iam_member')) {
      const role = customRoleOf(binding);
      const account = accountOf(binding.member);
      expect(role, name).toBeDefined();
      expect(account, name).toBeDefined();
      if (role === undefined || account === undefined) continue;
      (granted[account] ??= []).push(role);
      const perms = CUSTOM_ROLES[role] ?? [];
      // Listing is checked on the project, where a name condition would never hold; every other secret permission
      // must carry the condition.
      const onSecrets = perms.some((p) => p.startsWith('secretmanager.') && p !== 'secretmanager.secrets.list');
      if (onSecrets) expect((binding.condition as Block[] | undefined)?.[0]?.expression, name).toBe(ref('local.secret_condition'));
      else expect(binding.condition, `${name} has nothing to narrow`).toBeUndefined();
    }
    for (const roles of Object.values(granted)) roles.sort();
    expect(granted).toEqual({
      on_secret_event: ['rotation'],
      rotate: ['rotation', 'secret_lister'],
      purge: ['purge', 'secret_lister'],
      reconcile_jobs: ['job_reconciler', 'schedule_reader', 'secret_lister'],
    });

    const masters = resources('google_secret_manager_secret_iam_member');
    expect(masters.map(([name]) => name).sort()).toEqual(['alert_webhook_reader', 'master_reader']);
    const webhook = resource('google_secret_manager_secret_iam_member', 'alert_webhook_reader');
    expect(customRoleOf(webhook)).toBe('master_reader');
    expect(webhook.secret_id).toBe(ref('var.alert_webhook_secret_id'));
    expect(String(webhook.for_each)).toBe(ref('var.alert_webhook_secret_id == null ? {} : local.function_accounts'));
    // Every function's account: the master readers and the reconciler.
    const accounts = String(resolve(ref('local.function_accounts')));
    expect(accounts).toContain('local.master_readers');
    expect(accounts).toContain('google_service_account.reconcile_jobs.email');
    const master = resource('google_secret_manager_secret_iam_member', 'master_reader');
    expect(customRoleOf(master)).toBe('master_reader');
    expect(master.secret_id).toBe(ref('each.value.secret_id'));
    expect(String(master.for_each)).toContain('var.master_secret_ids');
    const readers = resolve(ref('local.master_readers')) as Record<string, string>;
    expect(Object.values(readers).map(accountOf).sort()).toEqual(['on_secret_event', 'purge', 'rotate']);
  });

  it('lets the reconciler act as the scheduler account only, and the scheduler invoke exactly rotate, purge and reconcileJobs', () => {
    const actAs = resources('google_service_account_iam_member');
    expect(actAs).toHaveLength(1);
    const [, grant] = actAs[0] ?? [];
    expect(grant?.service_account_id).toBe(ref('google_service_account.scheduler.name'));
    expect(grant && customRoleOf(grant)).toBe('act_as_scheduler');
    expect(accountOf(grant?.member)).toBe('reconcile_jobs');

    const invokes: Record<string, string[]> = {};
    for (const [name, binding] of resources('google_cloud_run_v2_service_iam_member')) {
      expect(binding.role, name).toBe('roles/run.invoker');
      const fn = /^\$\{google_cloudfunctions2_function\.(\w+)\.name\}$/.exec(String(binding.name))?.[1];
      expect(fn, `${name} targets one function's service`).toBeDefined();
      const who = accountOf(binding.member) ?? String(binding.member);
      (invokes[who] ??= []).push(fn ?? '');
    }
    for (const targets of Object.values(invokes)) targets.sort();
    expect(invokes).toEqual({
      scheduler: ['purge', 'reconcile_jobs', 'rotate'],
      trigger: ['on_secret_event'],
      [ref('each.value')]: ['rotate'],
    });
    expect(String(resource('google_cloud_run_v2_service_iam_member', 'people_invoke_rotate').for_each)).toBe(ref('toset(var.rotate_invokers)'));
  });

  it("makes Secret Manager's service agent, and only it, the publisher on the rotation topic", () => {
    const agent = resource('google_project_service_identity', 'secretmanager');
    expect(agent.service).toBe('secretmanager.googleapis.com');
    const publishers = resources('google_pubsub_topic_iam_member');
    expect(publishers).toHaveLength(1);
    const [, publisher] = publishers[0] ?? [];
    expect(publisher?.topic).toBe(ref('google_pubsub_topic.rotation.name'));
    expect(publisher && customRoleOf(publisher)).toBe('topic_publisher');
    expect(publisher?.member).toBe('serviceAccount:' + ref('google_project_service_identity.secretmanager.email'));
    expect(resource('google_pubsub_topic', 'rotation').name).toBe(ref('var.rotation_topic_name'));
  });

  it('routes messagePublished from that topic, through Eventarc, to onSecretEvent as the trigger account', () => {
    const triggers = resources('google_eventarc_trigger');
    expect(triggers).toHaveLength(1);
    const trigger = resource('google_eventarc_trigger', 'secret_rotate');
    expect(trigger.matching_criteria).toEqual([{ attribute: 'type', value: 'google.cloud.pubsub.topic.v1.messagePublished' }]);
    expect(first(first(trigger, 'transport'), 'pubsub').topic).toBe(ref('google_pubsub_topic.rotation.id'));
    const target = first(first(trigger, 'destination'), 'cloud_run_service');
    expect(target.service).toBe(ref('google_cloudfunctions2_function.on_secret_event.name'));
    expect(target.region).toBe(ref('var.region'));
    expect(first(resource('google_cloudfunctions2_function', 'on_secret_event'), 'build_config').entry_point).toBe('onSecretEvent');
    expect(trigger.service_account).toBe(ref('google_service_account.trigger.email'));
  });

  it("runs the sweep, purge and reconcile jobs with the scheduler account's OIDC token, each function's URL as audience", () => {
    const expected: Record<string, string> = { sweep: 'rotate', purge: 'purge', reconcile: 'reconcile_jobs' };
    const jobs = resources('google_cloud_scheduler_job');
    expect(jobs.map(([name]) => name).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, job] of jobs) {
      const url = ref(`google_cloudfunctions2_function.${expected[name] ?? ''}.service_config[0].uri`);
      const http = first(job, 'http_target');
      expect(http.http_method, name).toBe('POST');
      expect(http.uri, name).toBe(url);
      expect(http.headers, name).toEqual({ 'Content-Type': 'application/json' });
      expect(http.oauth_token, `${name}: OIDC, not OAuth`).toBeUndefined();
      expect(first(http, 'oidc_token'), name).toEqual({ service_account_email: ref('google_service_account.scheduler.email'), audience: url });
      expect(job.time_zone, name).toBe('Etc/UTC');
      expect(job.schedule, name).toBe(ref(`var.${name}_schedule`));
      // The per-secret jobs' id prefix belongs to the reconciler.
      expect(String(job.name).replace(ref('var.name_prefix'), String(variable('name_prefix').default)), name).not.toMatch(/^rotator-secret-/);
      // Cloud Scheduler waits at most 30 minutes for an HTTP target, and never longer than the function runs.
      const deadline = Number(/^(\d+)s$/.exec(String(job.attempt_deadline))?.[1]);
      const timeout = first(resource('google_cloudfunctions2_function', expected[name] ?? ''), 'service_config').timeout_seconds as number;
      expect(deadline, name).toBeLessThanOrEqual(Math.min(1800, timeout));
    }
    const sweep = first(resource('google_cloud_scheduler_job', 'sweep'), 'http_target');
    expect(sweep.body).toBe(ref('base64encode(local.sweep_request)'));
    expect(JSON.parse(String(resolve(ref('local.sweep_request'))))).toEqual({ due: true });
  });

  it('alerts on the ERROR lines "rotation failed" / "purge failed" of the four functions, counted by a log-based metric', () => {
    const metric = resource('google_logging_metric', 'failures');
    const filter = String(metric.filter);
    expect(filter).toContain('resource.type = "cloud_run_revision"');
    expect(filter).toContain('severity >= ERROR');
    for (const name of Object.keys(ENTRY_POINTS)) expect(filter).toContain(`"${ref(`local.function_names.${name}`)}"`);
    // The pattern the filter matches messages with, run here on what the functions log.
    const pattern = /=~ "([^"]+)"/.exec(filter)?.[1];
    expect(pattern).toBeDefined();
    const failed = new RegExp(pattern ?? '$^');
    expect(failed.test('rotation failed: TARGET_AUTH_FAILED {"secretId":"db-app"}')).toBe(true);
    expect(failed.test('purge failed: STORE_IO {"secretId":"db-app"}')).toBe(true);
    expect(failed.test('reconcile failed: STORE_IO')).toBe(true);
    expect(failed.test('rotation finished {"secretId":"db-app"}')).toBe(false);
    expect(failed.test('a rotation failed earlier')).toBe(false);
    expect(first(metric, 'metric_descriptor')).toMatchObject({ metric_kind: 'DELTA', value_type: 'INT64' });

    const alert = resource('google_monitoring_alert_policy', 'rotation_failed');
    const condition = first(first(alert, 'conditions'), 'condition_threshold');
    expect(String(condition.filter)).toContain(`metric.type = "logging.googleapis.com/user/${ref('google_logging_metric.failures.name')}"`);
    expect(condition.comparison).toBe('COMPARISON_GT');
    expect(condition.threshold_value).toBe(0);
    expect(String(alert.notification_channels)).toContain('google_monitoring_notification_channel.email[*].id');
    expect(String(alert.notification_channels)).toContain('var.notification_channels');
    expect(resource('google_monitoring_notification_channel', 'email').type).toBe('email');
  });

  it('enables every API the resources use, and leaves them on when Rotator is destroyed', () => {
    const apis = [...String(tf.locals.apis).matchAll(/"([a-z]+\.googleapis\.com)"/g)].map((m) => m[1]);
    expect(apis).toEqual(
      expect.arrayContaining([
        'cloudfunctions.googleapis.com',
        'run.googleapis.com',
        'cloudbuild.googleapis.com',
        'artifactregistry.googleapis.com',
        'eventarc.googleapis.com',
        'pubsub.googleapis.com',
        'secretmanager.googleapis.com',
        'cloudscheduler.googleapis.com',
        'logging.googleapis.com',
        'monitoring.googleapis.com',
        'iam.googleapis.com',
        'storage.googleapis.com',
      ]),
    );
    const service = resource('google_project_service', 'apis');
    expect(service.for_each).toBe(ref('local.apis'));
    expect(service.disable_on_destroy).toBe(false);
  });

  it('checks every variable an operator sets; the checks refuse bad values (run here on samples)', () => {
    for (const [name, blocks] of Object.entries(tf.variable)) {
      if (name === 'labels') continue;
      expect(blocks[0]?.validation, `${name} is validated`).toBeDefined();
    }
    const samples: Record<string, { good: string[]; bad: string[] }> = {
      // Nothing that could end the IAM condition's string or escape it.
      secret_name_prefix: { good: ['', 'db-', 'app_1-'], bad: ['a"b', 'db/', 'x")||true||("', 'a b', 'a\\', 'é'] },
      project_id: { good: ['my-project-123'], bad: ['My-Project', 'ab', '1abcdef', 'my-project-'] },
      project_number: { good: ['123456789012'], bad: ['my-project', '12 3', ''] },
      region: { good: ['europe-west1', 'us-central1'], bad: ['europe', 'EU'] },
      name_prefix: { good: ['rotator', 'rot2'], bad: ['Rotator', 'ro', 'rotator-secret', 'rotator_x'] },
      sweep_schedule: { good: ['*/30 * * * *', '17 3 * * *', '0 9 * * MON-FRI'], bad: ['0 */30 * * * *', '* * * *', 'daily', '@hourly'] },
      purge_schedule: { good: ['17 3 * * *'], bad: ['0 17 3 * * *'] },
      reconcile_schedule: { good: ['*/15 * * * *'], bad: ['every 15 minutes'] },
      safe_window: { good: ['30d', '36h', '90m'], bad: ['30', '1w', '-1d', '30 d'] },
      rotation_topic_name: { good: ['rotator-secret-rotation'], bad: ['1topic', 'a b', 'ab'] },
      alert_email: { good: ['ops@example.com'], bad: ['ops', 'ops@example', 'a"b@example.com'] },
      rotate_invokers: {
        good: ['user:alice@example.com', 'group:ops@example.com', 'serviceAccount:ci@p.iam.gserviceaccount.com'],
        bad: ['allUsers', 'allAuthenticatedUsers', 'domain:example.com', 'user:alice', 'user:alice@example.com extra'],
      },
      master_secret_ids: { good: ['db-master'], bad: ['db/master', ''] },
      alert_webhook_secret_id: { good: ['rotator-alert-webhook'], bad: ['projects/p/secrets/x', '', 'a b'] },
      vpc_connector: { good: ['projects/p/locations/europe-west1/connectors/db'], bad: ['db', 'projects/p/connectors/db'] },
    };
    for (const [name, { good, bad }] of Object.entries(samples)) {
      const re = validationRegex(name);
      for (const value of good) expect(re.test(value), `${name} accepts ${JSON.stringify(value)}`).toBe(true);
      for (const value of bad) expect(re.test(value), `${name} refuses ${JSON.stringify(value)}`).toBe(false);
    }
    expect(String(first(variable('rotation_topic_name'), 'validation').condition)).toContain('!startswith(lower(var.rotation_topic_name), "goog")');
    expect(String(first(variable('master_secret_ids'), 'validation').condition)).toContain('-rotator-pending');
    expect(String(first(variable('alert_webhook_secret_id'), 'validation').condition)).toContain('-rotator-pending');
    expect(String(first(variable('keep_superseded'), 'validation').condition)).toContain('floor(var.keep_superseded) == var.keep_superseded');
    const choices = (name: string): string => String(first(variable(name), 'validation').condition);
    expect(choices('rotation_strategy')).toContain('["single-user", "alternating-users", "dual-password"]');
    expect(choices('log_level')).toContain('["debug", "info", "warn", "error"]');
    expect(choices('rotate_ingress')).toContain('["ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB", "ALLOW_ALL"]');
  });

  it('outputs the function URLs, the topic and the service accounts', () => {
    expect(Object.keys(tf.output)).toEqual(expect.arrayContaining(['function_urls', 'rotate_url', 'rotation_topic', 'service_accounts']));
    expect(tf.output.rotate_url?.[0]?.value).toBe(ref('google_cloudfunctions2_function.rotate.service_config[0].uri'));
    expect(tf.output.rotation_topic?.[0]?.value).toBe(ref('google_pubsub_topic.rotation.id'));
  });
});
