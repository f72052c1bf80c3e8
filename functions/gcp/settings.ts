import * as z from 'zod';
import { checkWebhookUrl } from '../../shared/alerts.js';
import { envError, loadConfig, type Config } from '../../shared/config.js';

/**
 * The functions' settings (infra/gcp sets them), read and validated at the first invocation. None is a secret:
 * Secret Manager and Cloud Scheduler are reached with the function's own service account.
 */
export interface GcpSettings {
  /** The project id: the store's secrets are `projects/<id>/secrets/...`. */
  projectId: string;
  /** The project number: Secret Manager names secrets with it in notifications and answers. */
  projectNumber: string | undefined;
  /** Only secrets whose ids start with this are rotated and purged; undefined: every labelled secret. */
  secretPrefix: string | undefined;
  /** What the reconciler needs; undefined on a function that does not reconcile. */
  scheduler: { location: string; rotateUrl: string; serviceAccountEmail: string } | undefined;
  /** ROTATOR_ALERT_WEBHOOK (a secret: give it from Secret Manager), checked; undefined: no webhook. */
  alertWebhook: string | undefined;
  config: Config;
}

/** Project ids: 6-30 lower-case letters, digits and hyphens, starting with a letter, not ending with a hyphen. */
export const PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const PROJECT_NUMBER = /^[1-9][0-9]{0,19}$/;
/** What infra/gcp/variables.tf allows for secret_name_prefix (Secret Manager id characters, at most 64). */
const PREFIX = /^[A-Za-z0-9_-]{1,64}$/;
const LOCATION = /^[a-z]+-[a-z]+[0-9]{1,2}$/;

const optional = (schema: z.ZodString) => z.union([z.literal(''), schema]).optional();

const schema = z.object({
  ROTATOR_PROJECT: z.string({ error: 'must be set to the project id' }).regex(PROJECT_ID, 'must be a project id (6-30 lower-case letters, digits and hyphens)'),
  ROTATOR_PROJECT_NUMBER: optional(z.string().regex(PROJECT_NUMBER, 'must be the project number (digits)')),
  // Terraform writes "" for "every labelled secret".
  ROTATOR_SECRET_PREFIX: optional(z.string().regex(PREFIX, 'must be letters, digits, _ and - (at most 64), or empty for every labelled secret')),
  ROTATOR_SCHEDULER_LOCATION: optional(z.string().regex(LOCATION, 'must be a Cloud Scheduler location such as europe-west1')),
  ROTATOR_ROTATE_URL: optional(z.string().max(2_000, 'must be at most 2000 characters')),
  ROTATOR_SCHEDULER_SERVICE_ACCOUNT: optional(z.string().max(254, 'must be a service account email')),
  ROTATOR_ALERT_WEBHOOK: z.string().optional(),
});

const present = (value: string | undefined): string | undefined => (value === undefined || value === '' ? undefined : value);

/** The settings from `env`; INVALID_INPUT naming every bad variable (never its value). */
export function loadGcpSettings(env: NodeJS.ProcessEnv): GcpSettings {
  const result = schema.safeParse(env);
  if (!result.success) throw envError(result.error);
  const e = result.data;
  const location = present(e.ROTATOR_SCHEDULER_LOCATION);
  const rotateUrl = present(e.ROTATOR_ROTATE_URL);
  const serviceAccountEmail = present(e.ROTATOR_SCHEDULER_SERVICE_ACCOUNT);
  return {
    projectId: e.ROTATOR_PROJECT,
    projectNumber: present(e.ROTATOR_PROJECT_NUMBER),
    secretPrefix: present(e.ROTATOR_SECRET_PREFIX),
    // The reconciler checks the URL and the account itself (stores/gcp/rotation-jobs.ts) before it writes a job.
    scheduler: location === undefined || rotateUrl === undefined || serviceAccountEmail === undefined ? undefined : { location, rotateUrl, serviceAccountEmail },
    alertWebhook: present(e.ROTATOR_ALERT_WEBHOOK) === undefined ? undefined : checkWebhookUrl(e.ROTATOR_ALERT_WEBHOOK ?? ''),
    config: loadConfig(env),
  };
}
