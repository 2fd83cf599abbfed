// One error class for every malformed-input condition in src/io, so callers (and the fuzz tests) can
// tell "this file is bad" apart from a bug. Messages are always a single printable line.

export class FormatError extends Error {
  constructor(message: string) {
    // Names and keys come from untrusted files: escape control characters (newlines included) so a
    // message can never span lines or drive a terminal.
    super(message.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
    this.name = 'FormatError';
  }
}

/** The first line of a message (libtorch and zlib messages can span several). */
export function oneLine(message: string): string {
  const i = message.indexOf('\n');
  return (i < 0 ? message : message.slice(0, i)).trimEnd();
}

/** Quotes a file-provided name for a message, shortened if long. */
export function q(name: string, max = 80): string {
  return `'${name.length > max ? `${name.slice(0, max)}…` : name}'`;
}

/** Re-throws FormatErrors with `label: ` in front; anything else is a bug and propagates unchanged. */
export function withLabel<T>(label: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof FormatError) throw new FormatError(`${label}: ${e.message}`);
    throw e;
  }
}
