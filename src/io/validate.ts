// The one validator for configuration objects (quantizer, tokenizer, prior, loss, training configs and
// the JSON metadata of model files). Every check throws a ConfigError whose message is one line of the
// form "<where>: <what is wrong>", so callers only prefix context and never re-word.

export class ConfigError extends Error {
  constructor(message: string) {
    // Keys and values may come from untrusted files: escape control characters so a message stays on one line.
    super(message.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
    this.name = 'ConfigError';
  }
}

/** A plain object (not an array, not null). */
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A value for a message: short JSON, strings quoted. */
function show(v: unknown): string {
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v === undefined) return 'undefined';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** The closest known name when it is plausibly a typo (case-insensitive, ≤ 1/3 of the length edited). */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = levenshtein(word.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(Math.max(word.length, best.length) / 3)) ? best : undefined;
}

/** Throws ConfigError "<where>: unknown key 'discStrat' (did you mean 'discStart'?; valid: a, b, c)". */
export function rejectUnknownKeys(obj: object, known: readonly string[], where: string): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const s = closest(key, known);
    const k = key.length > 60 ? `${key.slice(0, 60)}…` : key;
    throw new ConfigError(`${where}: unknown key '${k}' (${s ? `did you mean '${s}'? ` : ''}valid: ${known.length ? known.join(', ') : 'none'})`);
  }
}

/** Finite numbers only (NaN/±Infinity rejected); bounds inclusive unless exclusiveMin/Max. Returns v. */
export function checkNumber(v: unknown, where: string, o: { min?: number; max?: number; exclusiveMin?: boolean; exclusiveMax?: boolean } = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(`${where}: expected a finite number, got ${show(v)}`);
  if (o.min !== undefined && (o.exclusiveMin ? !(v > o.min) : !(v >= o.min))) {
    throw new ConfigError(`${where}: must be ${o.exclusiveMin ? '>' : '≥'} ${o.min}, got ${show(v)}`);
  }
  if (o.max !== undefined && (o.exclusiveMax ? !(v < o.max) : !(v <= o.max))) {
    throw new ConfigError(`${where}: must be ${o.exclusiveMax ? '<' : '≤'} ${o.max}, got ${show(v)}`);
  }
  return v;
}

/** Safe integers only, with inclusive bounds (default min: none). */
export function checkInt(v: unknown, where: string, o: { min?: number; max?: number } = {}): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new ConfigError(`${where}: expected an integer, got ${show(v)}`);
  if (o.min !== undefined && v < o.min) throw new ConfigError(`${where}: must be ≥ ${o.min}, got ${v}`);
  if (o.max !== undefined && v > o.max) throw new ConfigError(`${where}: must be ≤ ${o.max}, got ${v}`);
  return v;
}

/** = checkInt(v, where, { min: 1, max }). */
export function checkPositiveInt(v: unknown, where: string, max?: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new ConfigError(`${where}: expected a positive integer, got ${show(v)}`);
  }
  return checkInt(v, where, { min: 1, max });
}

export function checkBoolean(v: unknown, where: string): boolean {
  if (typeof v !== 'boolean') throw new ConfigError(`${where}: expected true or false, got ${show(v)}`);
  return v;
}

export function checkString(v: unknown, where: string, o: { nonEmpty?: boolean } = {}): string {
  if (typeof v !== 'string') throw new ConfigError(`${where}: expected a string, got ${show(v)}`);
  if (o.nonEmpty && v.length === 0) throw new ConfigError(`${where}: must not be empty`);
  return v;
}

export function checkEnum<T extends string>(v: unknown, values: readonly T[], where: string): T {
  if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
  const s = typeof v === 'string' ? closest(v, values) : undefined;
  throw new ConfigError(`${where}: expected one of ${values.join(', ')}, got ${show(v)}${s ? ` (did you mean '${s}'?)` : ''}`);
}

/** Structural equality of JSON-like values; key order does not matter; -0 === 0; NaN equals NaN. */
export function deepEqual(a: unknown, b: unknown): boolean {
  return firstDifference(a, b) === undefined;
}

/** The first path where a and b differ, e.g. "gan.discStart", or undefined when deepEqual. */
export function firstDifference(a: unknown, b: unknown): string | undefined {
  return diff(a, b, '');
}

function diff(a: unknown, b: unknown, path: string): string | undefined {
  const here = path || '(root)';
  if (typeof a === 'number' && typeof b === 'number') {
    return a === b || (Number.isNaN(a) && Number.isNaN(b)) ? undefined : here;
  }
  if (a === b) return undefined;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return here;
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (i >= a.length || i >= b.length) return `${path}[${i}]`;
      const d = diff(a[i], b[i], `${path}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const p = path ? `${path}.${k}` : k;
      if (!(k in a) || !(k in b)) {
        // A key present with value undefined equals an absent key (JSON drops both).
        if (a[k] === undefined && b[k] === undefined) continue;
        return p;
      }
      const d = diff(a[k], b[k], p);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  return here;
}
