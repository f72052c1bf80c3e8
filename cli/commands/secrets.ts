import type { Command } from 'commander';
import { formatDuration, parseDuration } from '../../shared/duration.js';
import { RotatorError } from '../../shared/errors.js';
import { parseSecretJson } from '../../shared/secret.js';
import { checkSecretId } from '../../shared/secret-id.js';
import { formatSchedule, parseSchedule } from '../../shared/schedule.js';
import { secretStatus } from '../../shared/status.js';
import { STAGES, type RotationSchedule, type RotationSettings, type SecretInfo, type SecretStore, type Stage, type VersionSelector } from '../../shared/store.js';
import { FileStore, type SecretSummary } from '../../stores/file/index.js';
import { parseStrategy } from '../../shared/engine.js';
import { createRotators } from '../../rotators/index.js';
import { nowOf, statusDefaults } from '../fleet.js';
import { usingContext, type CliContext, type ContextOptions, type CliIO, type CliState, type GlobalOptions } from '../context.js';
import { describeJson, escapeControl, formatDescribe, formatList } from '../format.js';
import { readFileBounded, tooLarge } from '../input.js';
import { canUpdateSchedule } from '../stores.js';
import { suggestingIds } from '../suggest.js';

/** What the cloud stores add to change a schedule natively (see canUpdateSchedule). */
interface ScheduleUpdater {
  updateSchedule(secretId: string, schedule: RotationSchedule | undefined): Promise<void>;
}

type Run = (action: (ctx: CliContext) => Promise<void>, options?: ContextOptions) => Promise<void>;

export function registerSecretsCommands(program: Command, io: CliIO, state: CliState): void {
  const run: Run = (action, options = {}) => usingContext(program.opts<GlobalOptions>(), io, state.redactor, options, action);
  // Every command checks its id first, so no message, log line or output can carry a malformed one. Only `put`
  // may create the store; the others refuse a missing one and create nothing.
  // A secret that does not exist gets "did you mean" with the closest existing id, if one is close.
  const withId = (secretId: string, action: (ctx: CliContext) => Promise<void>, options: { create?: boolean } = {}): Promise<void> => {
    checkSecretId(secretId);
    return run((ctx) => suggestingIds(secretId, () => ctx.store.listSecretIds(), () => action(ctx)), { ...options, secretId });
  };
  const secrets = program.command('secrets').description('manage secrets in the embedded file store');

  secrets
    .command('put')
    .description(
      'create a secret, or store a new CURRENT value for an existing one (the old one becomes PREVIOUS; a rotation left pending is cancelled)',
    )
    .argument('<secret-id>', 'the secret id, e.g. db/app')
    .option('--from-file <path>', 'read the value from a regular file instead of standard input ("-" is standard input)', '-')
    .option('--enable-rotation', 'allow rotation of this secret')
    .option('--strategy <strategy>', 'single-user | alternating-users | dual-password (default: ROTATION_STRATEGY)')
    .option('--json', 'print one JSON object with the outcome instead of text (errors too)')
    .addHelpText(
      'after',
      '\nThe value is read from standard input or a file, never from the command line, so it stays out of shell\n' +
        'history and process listings. A value may be at most 64 KiB (65,536 bytes, as on AWS Secrets Manager);\n' +
        'larger input is refused, not read. Database secrets use the AWS RDS secret JSON format, e.g.\n' +
        '  {"engine":"postgres","host":"127.0.0.1","port":5432,"username":"app","password":"...","dbname":"app","ssl":true}\n',
    )
    .action(async (secretId: string, opts: { fromFile: string; enableRotation?: boolean; strategy?: string; json?: boolean }) =>
      withId(secretId, async (ctx) => {
        // Refused on a cloud store before anything is read: the cloud's own tool creates and updates secrets there.
        const store = ctx.fileStore('secrets put', secretId);
        const max = store.maxValueBytes;
        const value = (opts.fromFile === '-' ? await io.readStdin(max) : await readFileBounded(opts.fromFile, max)).trim();
        // Refused by size before the redactor, the parser or a log line sees it.
        if (Buffer.byteLength(value, 'utf8') > max) throw tooLarge(opts.fromFile === '-' ? 'standard input' : `--from-file ${opts.fromFile}`, max);
        ctx.logger.redactor.addSecretValue(value);
        validateValue(value, secretId, ctx);
        const exists = (await store.list()).some((s) => s.secretId === secretId);
        if (exists) {
          // Under the rotation lock: a rotation running now is refused (ROTATION_IN_PROGRESS, retry), and one left
          // PENDING by an earlier run is cancelled with the put, since its value derives from the CURRENT replaced.
          const lease = await store.lockRotation(secretId);
          let cancelled: string | undefined;
          let versionId: string;
          try {
            ({ versionId, cancelled } = await store.putValue(secretId, value));
            if (opts.enableRotation !== undefined || opts.strategy !== undefined) {
              await store.updateRotation(secretId, rotationSettings(opts, (await store.describe(secretId)).rotation));
            }
          } finally {
            await lease.release().catch((error: unknown) => {
              ctx.logger.warn('could not release the rotation lock; the next run takes it over', { secretId, error });
            });
          }
          if (opts.json === true) {
            io.stdout(JSON.stringify({ ok: true, secretId, action: 'updated', versionId, cancelledVersionId: cancelled ?? null }) + '\n');
            return;
          }
          io.stdout(`stored a new CURRENT version of ${secretId}\n`);
          if (cancelled !== undefined) {
            io.stdout(
              `cancelled the rotation that was under way (it was derived from the old value): version ${cancelled} is kept, unlabelled, ` +
                'as `secrets cancel-rotation` does; the next `rotate` starts from the new value\n',
            );
          }
        } else {
          const rotation = rotationSettings(opts, { enabled: false });
          await store.createSecret(secretId, value, { rotation });
          if (opts.json === true) {
            io.stdout(JSON.stringify({ ok: true, secretId, action: 'created', rotation }) + '\n');
            return;
          }
          io.stdout(`created ${secretId}${opts.enableRotation === true ? ' with rotation enabled' : ''}\n`);
        }
      }, { create: true }),
    );

  // Which of --schedule and --no-schedule were typed: commander keeps only the last in `schedule`, so a command line
  // with both would otherwise do whichever came last.
  const scheduleFlags = new Set<string>();
  secrets
    .command('rotation')
    .description('enable or disable rotation of a secret, set its schedule, or set its strategy')
    .argument('<secret-id>')
    .option('--enable', 'allow rotation')
    .option('--disable', 'refuse rotation')
    .option('--every <rate>', 'rotate on a rate: 30d, 12h or rate(30 days), from 1 hour to 1000 days')
    .option('--schedule <expression>', "rotate on AWS's six-field cron, UTC: 'cron(0 4 ? * SUN *)' (or a rate(...))")
    .option('--window <hours>', 'with --every or --schedule: how long after the due time a rotation may start, 1h to 24h')
    .option('--no-schedule', 'remove the schedule (the secret is then rotated only when asked)')
    .option('--strategy <strategy>', 'single-user | alternating-users | dual-password')
    .option('--safe-window <duration>', 'how long superseded versions stay before the purger retires them, e.g. 7d (default: ROTATOR_SAFE_WINDOW)')
    .option('--keep <n>', 'how many of the newest superseded versions the purger keeps whatever their age')
    .option('--json', 'print one JSON object with the outcome instead of text (errors too)')
    .on('option:schedule', () => scheduleFlags.add('--schedule'))
    .on('option:no-schedule', () => scheduleFlags.add('--no-schedule'))
    .addHelpText(
      'after',
      '\nSchedules are AWS\'s RotationRules: a rate counts from the last rotation; a cron fires at its times (UTC). Past the\n' +
        'window (default: 1h for a schedule in hours, else the rest of the UTC day) a secret not rotated is overdue.\n' +
        '`rotator rotate --due` on a timer rotates the secrets that are due; `rotator status` shows when each is.\n',
    )
    .action(
      async (
        secretId: string,
        opts: { enable?: boolean; disable?: boolean; every?: string; schedule?: string | false; window?: string; strategy?: string; safeWindow?: string; keep?: string; json?: boolean },
      ) => {
        checkSecretId(secretId);
        if (opts.enable === true && opts.disable === true) {
          throw new RotatorError('INVALID_INPUT', 'use either --enable or --disable, not both');
        }
        // Bad flags are refused before the store is looked at.
        const schedule = scheduleOption(opts, scheduleFlags);
        const strategy = opts.strategy === undefined ? undefined : parseStrategy(opts.strategy, '--strategy');
        const safeWindowMs = opts.safeWindow === undefined ? undefined : parseDuration(opts.safeWindow, '--safe-window');
        const keepSuperseded = opts.keep === undefined ? undefined : parseCount(opts.keep, '--keep');
        return withId(secretId, async (ctx) => {
          let settings: RotationSettings;
          if (ctx.kind === 'file') {
            const current = (await ctx.store.describe(secretId)).rotation;
            const enableRotation = opts.enable === true ? true : opts.disable === true ? false : undefined;
            settings = rotationSettings({ enableRotation, strategy }, current);
            if (safeWindowMs !== undefined) settings.safeWindowMs = safeWindowMs;
            if (keepSuperseded !== undefined) settings.keepSuperseded = keepSuperseded;
            if (schedule === null) delete settings.schedule;
            else if (schedule !== undefined) settings.schedule = schedule;
            await ctx.fileStore('secrets rotation', secretId).updateRotation(secretId, settings);
          } else {
            // On a cloud store only the schedule changes here, and only where the store can change it natively; the
            // rest is the cloud's own tool's (the refusal names it).
            const fileOnlyFlags = [opts.enable, opts.disable, opts.strategy, opts.safeWindow, opts.keep].some((flag) => flag !== undefined);
            if (fileOnlyFlags || schedule === undefined || !canUpdateSchedule(ctx.store)) ctx.fileStore('secrets rotation', secretId);
            await (ctx.store as SecretStore & ScheduleUpdater).updateSchedule(secretId, schedule ?? undefined);
            settings = (await ctx.store.describe(secretId)).rotation;
          }
          if (opts.json === true) {
            io.stdout(JSON.stringify({ ok: true, secretId, rotation: settings }) + '\n');
            return;
          }
          const details = [
            settings.schedule === undefined ? '' : `, schedule ${formatSchedule(settings.schedule)}`,
            settings.strategy === undefined ? '' : `, strategy ${settings.strategy}`,
            settings.safeWindowMs === undefined ? '' : `, safe window ${formatDuration(settings.safeWindowMs)}`,
            settings.keepSuperseded === undefined ? '' : `, keep ${settings.keepSuperseded}`,
          ].join('');
          const dormant = settings.schedule !== undefined && !settings.enabled ? ' (the schedule applies once rotation is enabled: --enable)' : '';
          io.stdout(`rotation of ${secretId}: ${settings.enabled ? 'enabled' : 'disabled'}${details}${dormant}\n`);
        });
      },
    );
  secrets
    .command('cancel-rotation')
    .description('abandon the rotation under way: PENDING leaves its version, which stays (unlabelled) until purged')
    .argument('<secret-id>')
    .addHelpText(
      'after',
      '\nThe abandoned value is kept because the target may already accept it: `secrets describe` shows it, and\n' +
        '`secrets get --version-id <id> --show-value` reads it. The next `rotate` starts a new rotation from CURRENT.\n' +
        '`secrets put` of a new value cancels a rotation left pending the same way (its value derives from the old one).\n',
    )
    .option('--json', 'print one JSON object with the outcome instead of text (errors too)')
    .action(async (secretId: string, opts: { json?: boolean }) =>
      withId(secretId, async (ctx) => {
        const lease = await ctx.store.lockRotation(secretId);
        try {
          const cancelled = await ctx.store.cancelRotation(secretId);
          if (opts.json === true) {
            io.stdout(JSON.stringify({ ok: true, secretId, cancelledVersionId: cancelled ?? null }) + '\n');
            return;
          }
          io.stdout(cancelled === undefined ? `${secretId} has no rotation under way\n` : `cancelled the rotation of ${secretId}; version ${cancelled} is kept, unlabelled\n`);
        } finally {
          await lease.release();
        }
      }),
    );

  secrets
    .command('delete')
    .description('delete a secret and all its versions (asks for --yes; there is no recovery window in the file store)')
    .argument('<secret-id>')
    .option('--yes', 'really delete; without it the command only says what would be deleted, and exits 2')
    .option('--json', 'print one JSON object with the outcome instead of text (errors too)')
    .addHelpText(
      'after',
      '\nThe secret is deleted under its rotation lock: a rotation running now is refused (ROTATION_IN_PROGRESS, exit 75;\n' +
        'try again when it has finished). Credentials the versions hold are not revoked at the target: run\n' +
        '`rotator purge <secret-id>` first if the old ones should stop working.\n',
    )
    .action(async (secretId: string, opts: { yes?: boolean; json?: boolean }) =>
      withId(secretId, async (ctx) => {
        const store = ctx.fileStore('secrets delete', secretId);
        const what = (info: SecretInfo): string => {
          const stages = info.versions.flatMap((v) => v.stages);
          return `secret ${secretId} and its ${info.versions.length} version(s)${stages.length === 0 ? '' : ` (${stages.join(', ')})`}`;
        };
        if (opts.yes !== true) {
          throw new RotatorError('INVALID_INPUT', `not deleted: this would delete ${what(await store.describe(secretId))}; add --yes to delete it`);
        }
        const lease = await store.lockRotation(secretId);
        let info: SecretInfo;
        try {
          info = await store.describe(secretId);
          await store.deleteSecret(secretId);
        } finally {
          await lease.release().catch((error: unknown) => {
            ctx.logger.warn('could not release the rotation lock; the next run takes it over', { secretId, error });
          });
        }
        io.stdout(opts.json === true ? JSON.stringify({ ok: true, secretId, deletedVersions: info.versions.length }) + '\n' : `deleted ${what(info)}\n`);
      }),
    );

  secrets
    .command('get')
    .description('show a version of a secret; the value itself only with --show-value')
    .argument('<secret-id>')
    .option('--stage <stage>', 'CURRENT | PENDING | PREVIOUS', 'CURRENT')
    .option('--version-id <id>', 'a version id instead of a stage')
    .option('--show-value', 'print the secret value on standard output')
    .option('--field <key>', 'print only this top-level field of the JSON value, e.g. password (for scripts)')
    .option('--json', 'print one JSON object (the value in it only with --show-value or --field; errors too)')
    .addHelpText(
      'after',
      '\n--field prints the field alone on standard output: a string as it is, anything else as JSON, e.g.\n' +
        '  PGPASSWORD="$(rotator secrets get db/app --field password)" psql ...\n' +
        'A value that is not a JSON object, or has no such field, is an error that never prints the value.\n',
    )
    .action(async (secretId: string, opts: { stage: string; versionId?: string; showValue?: boolean; field?: string; json?: boolean }) => {
      checkSecretId(secretId);
      // Bad flags are refused before the store is looked at.
      const selector = versionSelector(opts);
      const field = opts.field === undefined ? undefined : checkFieldName(opts.field);
      if (field !== undefined && opts.showValue === true) throw new RotatorError('INVALID_INPUT', 'use either --show-value or --field, not both');
      return withId(secretId, async (ctx) => {
        const value = await ctx.store.getValue(secretId, selector);
        ctx.logger.redactor.addSecretValue(value);
        if (opts.json !== true) {
          if (opts.showValue === true) {
            io.stdout(value + '\n');
            return;
          }
          if (field !== undefined) {
            const selected = fieldOf(value, field, secretId, ctx.store.maxValueBytes);
            io.stdout((typeof selected === 'string' ? selected : JSON.stringify(selected)) + '\n');
            return;
          }
        }
        const info = await ctx.store.describe(secretId);
        const version = info.versions.find((v) => ('versionId' in selector ? v.versionId === selector.versionId : v.stages.includes(selector.stage)));
        if (opts.json === true) {
          const shown =
            opts.showValue === true ? { value } : field !== undefined ? { field, value: fieldOf(value, field, secretId, ctx.store.maxValueBytes) } : {};
          io.stdout(JSON.stringify({ ok: true, secretId, versionId: version?.versionId ?? null, stages: version?.stages ?? [], bytes: Buffer.byteLength(value), ...shown }) + '\n');
          return;
        }
        io.stdout(
          `${secretId} version ${version?.versionId ?? '?'} [${version?.stages.join(',') ?? ''}] holds ${Buffer.byteLength(value)} bytes; ` +
            'pass --show-value to print it\n',
        );
      });
    });

  secrets
    .command('describe')
    .description('list the versions of a secret with their stage labels, and its rotation settings')
    .argument('<secret-id>')
    .option('--json', 'print JSON instead of text (errors too)')
    .action(async (secretId: string, opts: { json?: boolean }) =>
      withId(secretId, async (ctx) => {
        const info = await ctx.store.describe(secretId);
        const status = secretStatus(info, statusDefaults(ctx.config), nowOf(io));
        io.stdout(opts.json === true ? JSON.stringify(describeJson(info, status)) + '\n' : formatDescribe(info, status));
      }),
    );

  secrets
    .command('list')
    .description('list the secrets in the store')
    .option('--json', 'print JSON instead of text (errors too)')
    .action(async (opts: { json?: boolean }) =>
      run(async (ctx) => {
        const entries = ctx.store instanceof FileStore ? await ctx.store.list() : await summaries(ctx.store);
        if (opts.json === true) {
          io.stdout(JSON.stringify(entries) + '\n');
          return;
        }
        // A cloud store lists the secrets Rotator looks after there (rotation on, ROTATOR_SECRET_PREFIX), as the functions do.
        if (entries.length === 0) io.stdout(ctx.kind === 'file' ? `no secrets in ${ctx.config.storePath}\n` : `no secrets Rotator looks after in ${ctx.config.storePath}\n`);
        io.stdout(formatList(entries));
      }),
    );
}

/** How many descriptions `secrets list` asks a cloud for at once: well inside every service's read quota. */
const LIST_CONCURRENCY = 8;

/**
 * The list rows of a store through the port: its descriptions in as few calls as it allows (describeAll), else each
 * id's, at most LIST_CONCURRENCY at a time.
 */
async function summaries(store: SecretStore): Promise<SecretSummary[]> {
  const infos = store.describeAll !== undefined ? await store.describeAll() : await mapBounded(await store.listSecretIds(), LIST_CONCURRENCY, (id) => store.describe(id, { dates: false }));
  return infos.map((info) => ({ secretId: info.secretId, rotation: info.rotation, versionCount: info.versions.length }));
}

async function mapBounded<T, R>(items: readonly T[], limit: number, each: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await each(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Refuse what cannot be rotated later: values must be JSON objects, and valid for their engine when we rotate it. */
function validateValue(value: string, secretId: string, ctx: CliContext): void {
  if (value.length === 0) throw new RotatorError('INVALID_INPUT', 'the value is empty; pipe the secret JSON on standard input or pass --from-file');
  const parsed = parseSecretJson(value, `the value for ${secretId}`, ctx.store.maxValueBytes);
  const engine = parsed.engine;
  const rotator = createRotators(ctx.config).find((r) => typeof engine === 'string' && r.engines.includes(engine));
  rotator?.validate(parsed, `the value for ${secretId}`);
}

function rotationSettings(opts: { enableRotation?: boolean | undefined; strategy?: string | undefined }, base: RotationSettings): RotationSettings {
  const settings: RotationSettings = { ...base, enabled: opts.enableRotation ?? base.enabled };
  if (opts.strategy !== undefined) settings.strategy = parseStrategy(opts.strategy, '--strategy');
  return settings;
}

/** A field name for --field: bounded, and printed escaped in messages. */
function checkFieldName(field: string): string {
  if (field.length === 0 || field.length > 256) throw new RotatorError('INVALID_INPUT', '--field needs a field name of 1 to 256 characters, e.g. --field password');
  return field;
}

/**
 * One top-level field of a JSON-object value (printed: a string as it is, anything else as JSON). Errors name the secret and
 * the field asked for, never the value or its other fields (a mistyped key could be one).
 */
function fieldOf(value: string, field: string, secretId: string, maxBytes: number): unknown {
  const parsed = parseSecretJson(value, `the value of ${secretId}`, maxBytes);
  if (!Object.hasOwn(parsed, field)) {
    throw new RotatorError('INVALID_INPUT', `the value of ${secretId} has no field "${escapeControl(field)}"; \`rotator secrets get ${secretId} --show-value\` prints the whole value`);
  }
  return parsed[field];
}

/**
 * The schedule `secrets rotation` was given: a schedule to set, null to remove it, undefined to leave it. --every takes
 * a rate only; --schedule a cron or a rate; --window goes with one of them.
 */
function scheduleOption(opts: { every?: string; schedule?: string | false; window?: string }, typed: ReadonlySet<string>): RotationSchedule | null | undefined {
  const given = [opts.every === undefined ? '' : '--every', ...typed].filter((f) => f !== '');
  if (given.length > 1) throw new RotatorError('INVALID_INPUT', `use one of --every, --schedule and --no-schedule, not ${given.join(' and ')}`);
  if (opts.window !== undefined && opts.every === undefined && typeof opts.schedule !== 'string') {
    throw new RotatorError('INVALID_INPUT', '--window goes with --every or --schedule (it is part of the schedule)');
  }
  if (opts.schedule === false) return null;
  if (opts.every !== undefined) {
    const schedule = parseSchedule(opts.every, '--every', opts.window);
    if (schedule.kind !== 'rate') throw new RotatorError('INVALID_INPUT', '--every takes a rate such as 30d or 12h; a cron expression goes with --schedule');
    return schedule;
  }
  return opts.schedule === undefined ? undefined : parseSchedule(opts.schedule, '--schedule', opts.window);
}

function parseCount(value: string, source: string): number {
  if (!/^\d{1,4}$/.test(value)) throw new RotatorError('INVALID_INPUT', `${source} is "${escapeControl(value)}"; use a whole number of versions`);
  return Number(value);
}

function versionSelector(opts: { stage: string; versionId?: string }): VersionSelector {
  if (opts.versionId !== undefined) return { versionId: opts.versionId };
  const stage = opts.stage.toUpperCase();
  if (!(STAGES as readonly string[]).includes(stage)) {
    throw new RotatorError('INVALID_INPUT', `--stage is "${escapeControl(opts.stage)}"; use one of ${STAGES.join(', ')}`);
  }
  return { stage: stage as Stage };
}
