// Terminal-safe text. Strings read from files (model metadata, class names, config values) and typed
// by the user reach the terminal through the CLI; raw, an ESC sequence in them can retitle or clear
// the terminal (ECMA-48 OSC/CSI) and an embedded newline can fake output lines. Everything a terminal
// would interpret is shown as an escape instead. The escapes use JSON's \uXXXX spelling, so text
// that is JSON stays valid and decodes to exactly the same strings.

// C0 controls, DEL, C1 controls (0x9b is a one-byte CSI), line/paragraph separators and the Unicode
// bidi overrides/isolates that reorder what is displayed (CVE-2021-42574, "Trojan Source").
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_KEEP_LINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const SHORT: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

const escape = (c: string): string => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** One line of text safe to print: every control character, newlines included, becomes an escape. */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, escape);
}

/**
 * Text that may span lines (a command's output, pretty-printed JSON): newlines and tabs are kept,
 * every other control character becomes an escape. Idempotent, and a no-op on ordinary text.
 */
export function terminalSafeLines(text: string): string {
  return text.replace(UNSAFE_KEEP_LINES, escape);
}
