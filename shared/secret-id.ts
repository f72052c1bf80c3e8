import * as z from 'zod';
import { hasControlCharacter } from './control-chars.js';
import { RotatorError } from './errors.js';

/**
 * The one grammar of a secret id, checked at every entry point (CLI arguments, Lambda events, each store) before
 * anything prints or logs the id: 1 to 2048 characters of A-Z a-z 0-9 and / _ + = . @ : - !. That holds every AWS
 * Secrets Manager name ([A-Za-z0-9/_+=.@-], at most 512), the names RDS gives the secrets it manages ("rds!db-..."),
 * every secret ARN (the same characters plus ":", at most 2048), and the file store's ids (which it further limits
 * to 512 characters without "!"). Anything else, above all a control
 * character (a CR/LF would forge a log line, a NUL would end the id early in a C string), is refused with a
 * message that names the rule, never the id.
 */
export const MAX_SECRET_ID_LENGTH = 2048;

/** A grammar of ids; a store may narrow the default to what it can hold (the file store: 512, no "!"). */
export interface SecretIdGrammar {
  maxLength: number;
  /** The characters allowed, as a whole-string pattern; it must not admit a control character. */
  chars: RegExp;
  /** What the refusal says an id must be. */
  rule: string;
}

export const SECRET_ID_GRAMMAR: SecretIdGrammar = {
  maxLength: MAX_SECRET_ID_LENGTH,
  chars: /^[A-Za-z0-9/_+=.@:!-]+$/,
  rule: `a secret ARN or name: 1 to ${MAX_SECRET_ID_LENGTH} characters of A-Z a-z 0-9 and / _ + = . @ : - !`,
};

/** Why `id` is not a secret id, or undefined when it is one. Never quotes the id. */
export function secretIdProblem(id: unknown, grammar: SecretIdGrammar = SECRET_ID_GRAMMAR): string | undefined {
  if (typeof id !== 'string') return `must be a string of ${grammar.rule}`;
  if (hasControlCharacter(id)) return `must not contain control characters (NUL, CR, LF, ...); use ${grammar.rule}`;
  if (id.length === 0 || id.length > grammar.maxLength || !grammar.chars.test(id)) return `must be ${grammar.rule}`;
  return undefined;
}

/** INVALID_INPUT naming `what` (e.g. "the secret id", "SecretId") when `id` is not one; the id itself otherwise. */
export function checkSecretId(id: unknown, what = 'the secret id', grammar: SecretIdGrammar = SECRET_ID_GRAMMAR): string {
  const problem = secretIdProblem(id, grammar);
  if (problem !== undefined) throw new RotatorError('INVALID_INPUT', `${what} is invalid: ${problem}`);
  return id as string;
}

/** The same rule for zod schemas (Lambda events, the `masterarn` of a secret). */
export const secretIdSchema = z.string({ error: `must be ${SECRET_ID_GRAMMAR.rule}` }).superRefine((id, ctx) => {
  const problem = secretIdProblem(id);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});
