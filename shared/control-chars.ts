/**
 * Characters that change how text is read rather than what it says: C0 controls (NUL, CR, LF, ESC, ...), DEL, C1
 * controls, the Unicode line and paragraph separators (which some viewers break lines on), the bidirectional
 * marks, embeddings, overrides and isolates (which make a name display as another), and the invisible format
 * characters (zero-width spaces and joiners, soft hyphen, word joiner, byte-order mark), which make two different
 * names look the same. Input carrying one is refused
 * at the edge (a NUL ends a string in a wire protocol, CR/LF forge log lines); text output that must print input
 * escapes them.
 */
const CONTROL_CLASS =
  '\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u061c\\u180e\\u200b-\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff';
const CONTROL = new RegExp(`[${CONTROL_CLASS}]`, 'u');
const CONTROL_GLOBAL = new RegExp(`[${CONTROL_CLASS}]`, 'gu');

/** What a refusal says; it names the kind of character, never the input. */
export const CONTROL_CHARACTER_RULE = 'must not contain control characters (NUL, CR, LF, other C0/C1 controls, DEL, line separators, bidi overrides or invisible format characters)';

export function hasControlCharacter(text: string): boolean {
  return CONTROL.test(text);
}

const SHORT: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\0': '\\0' };

/**
 * `text` with every control character written as an escape (\n, \r, \t, \0, \xHH, \uHHHH), so that printing input
 * can neither start a forged line nor reorder what a terminal shows. Backslashes are left alone: the output is for
 * people, and a literal "\n" in an id is harmless.
 */
export function escapeControl(text: string): string {
  return text.replace(CONTROL_GLOBAL, (c) => {
    const short = SHORT[c];
    if (short !== undefined) return short;
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
