// Typed command-line options. A command declares its options once (name, type, default, help) and
// gets back a parsed object whose type follows from that declaration; its --help text is generated
// from the same declaration. Hand-written rather than node:util parseArgs because we need typed
// values, enums, --no-<flag>, negative numbers as values and "did you mean" suggestions.

/** Thrown for anything the user typed wrong; the CLI prints the message and exits with 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

interface OptionBase {
  /** One line for --help. */
  help: string;
  /** Single-letter alias, e.g. 'o' for -o. */
  short?: string;
  /** Placeholder for the value in --help (default: derived from the type). */
  metavar?: string;
}
export interface NumberOption extends OptionBase {
  type: 'number';
  default?: number;
  required?: boolean;
  integer?: boolean;
  /** Inclusive bounds; exclusiveMin makes min exclusive (--temperature > 0). Shown in --help. */
  min?: number;
  max?: number;
  exclusiveMin?: boolean;
}
export interface StringOption extends OptionBase {
  type: 'string';
  default?: string;
  required?: boolean;
}
export interface BooleanOption extends OptionBase {
  type: 'boolean';
  /** false when omitted; a true default is switched off with --no-<flag>. */
  default?: boolean;
}
export interface EnumOption<V extends string = string> extends OptionBase {
  type: 'enum';
  values: readonly V[];
  default?: V;
  required?: boolean;
}
export type OptionSpec = NumberOption | StringOption | BooleanOption | EnumOption;
/** Keys are camelCase; the flag is the kebab-case form (batchSize → --batch-size). */
export type OptionsSpec = Readonly<Record<string, OptionSpec>>;

export interface PositionalSpec {
  name: string;
  help: string;
  required?: boolean;
  /** Takes all remaining positionals (must be last). */
  variadic?: boolean;
}

type ValueOf<O> = O extends { type: 'number' }
  ? number
  : O extends { type: 'string' }
    ? string
    : O extends { type: 'boolean' }
      ? boolean
      : O extends { type: 'enum'; values: readonly (infer V)[] }
        ? V
        : never;
type AlwaysSet<O> = O extends { type: 'boolean' } ? true : O extends { default: unknown } ? true : O extends { required: true } ? true : false;
/** The parsed options object: options without a default (and not required) may be undefined. */
export type ParsedOptions<S extends OptionsSpec> = {
  -readonly [K in keyof S]: AlwaysSet<S[K]> extends true ? ValueOf<S[K]> : ValueOf<S[K]> | undefined;
};

export interface ParseResult<S extends OptionsSpec> {
  options: ParsedOptions<S>;
  positionals: string[];
  /** -h/--help was given; options were not validated. */
  help: boolean;
}

export const flagName = (key: string): string => key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

/** Edit distance counting a swap of two adjacent letters as one edit (--modle → --model). */
function editDistance(a: string, b: string): number {
  // Optimal string alignment distance (restricted Damerau–Levenshtein), three rolling rows.
  let prev2: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) cur[j] = Math.min(cur[j]!, prev2[j - 2]! + 1);
    }
    [prev2, prev] = [prev, cur];
  }
  return prev[b.length]!;
}

/** The closest candidate to a mistyped word, if any is plausibly what was meant. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = c.startsWith(word) && word.length >= 2 ? 0.5 : editDistance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}
const didYouMean = (s: string | undefined): string => (s ? ` (did you mean ${s}?)` : '');

const NUMBER_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;
/** A token that starts like a negative number (-1, -.5, -5,-5,10,10) is a value, never a flag. */
const NEGATIVE_RE = /^-\.?\d/;

/**
 * Largest value an integer option takes unless its spec gives a smaller max: beyond 2^53 - 1 doubles
 * skip integers (`--seed 9007199254740993` would silently become ...992). Options whose value sizes an
 * allocation (image sides, counts, padding) declare their own max.
 */
export const MAX_INTEGER = Number.MAX_SAFE_INTEGER;

function convert(flag: string, o: OptionSpec, raw: string): string | number | boolean {
  switch (o.type) {
    case 'string':
      return raw;
    case 'boolean': {
      const v = raw.toLowerCase();
      if (['true', '1', 'yes'].includes(v)) return true;
      if (['false', '0', 'no'].includes(v)) return false;
      throw new UsageError(`invalid value '${raw}' for ${flag} (expected true or false)`);
    }
    case 'number': {
      if (!NUMBER_RE.test(raw.trim())) throw new UsageError(`invalid value '${raw}' for ${flag} (expected ${o.integer ? 'an integer' : 'a number'})`);
      // `+ 0` turns -0 into 0. Number('1e400') is Infinity: the regex alone lets it through.
      const n = Number(raw) + 0;
      if (!Number.isFinite(n)) throw new UsageError(`invalid value '${raw}' for ${flag} (out of range: not a finite number)`);
      if (o.integer && !Number.isInteger(n)) throw new UsageError(`invalid value '${raw}' for ${flag} (expected an integer)`);
      if (o.min !== undefined && (o.exclusiveMin ? n <= o.min : n < o.min)) {
        throw new UsageError(`${flag} must be ${o.exclusiveMin ? '>' : '>='} ${o.min} (got ${raw})`);
      }
      const max = o.max ?? (o.integer ? MAX_INTEGER : undefined);
      if (max !== undefined && n > max) throw new UsageError(`${flag} must be <= ${max} (got ${raw})`);
      if (o.integer && !Number.isSafeInteger(n)) throw new UsageError(`${flag} must be >= ${-MAX_INTEGER} (got ${raw})`);
      return n;
    }
    case 'enum': {
      if (o.values.includes(raw)) return raw;
      throw new UsageError(`invalid value '${raw}' for ${flag}${didYouMean(suggest(raw, o.values))}; expected one of: ${o.values.join(', ')}`);
    }
  }
}

/**
 * Parses argv (the tokens after the command name) against a spec. Accepts --flag value,
 * --flag=value, -f value, --no-flag (booleans), `--` (everything after is positional).
 * Throws UsageError on unknown flags, bad values, missing required options or wrong positional counts.
 */
export function parseOptions<const S extends OptionsSpec>(spec: S, argv: readonly string[], positionalSpec: readonly PositionalSpec[] = []): ParseResult<S> {
  const byFlag = new Map<string, [string, OptionSpec]>();
  const byShort = new Map<string, [string, OptionSpec]>();
  for (const [key, o] of Object.entries(spec)) {
    byFlag.set(flagName(key), [key, o]);
    if (o.short) byShort.set(o.short, [key, o]);
  }
  const values: Record<string, unknown> = {};
  const positionals: string[] = [];
  let help = false;

  const takeValue = (flag: string, o: OptionSpec, i: number): string => {
    const next = argv[i];
    // A value may start with '-' only if it starts like a negative number (--lr -1e-3, --class -1,
    // --box -5,-5,10,10): flags never do, so the value then gets its own, precise error.
    if (next === undefined || next === '--' || (next.startsWith('-') && next !== '-' && !NEGATIVE_RE.test(next))) {
      const hint = o.type === 'enum' ? ` (one of: ${o.values.join(', ')})` : '';
      throw new UsageError(`option ${flag} needs a value${hint}`);
    }
    return next;
  };

  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (tok === '--help' || tok === '-h') {
      help = true;
      continue;
    }
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      const name = eq < 0 ? tok.slice(2) : tok.slice(2, eq);
      const inline = eq < 0 ? undefined : tok.slice(eq + 1);
      let entry = byFlag.get(name);
      let negated = false;
      if (!entry && name.startsWith('no-') && byFlag.get(name.slice(3))?.[1].type === 'boolean' && inline === undefined) {
        entry = byFlag.get(name.slice(3));
        negated = true;
      }
      if (!entry) {
        const s = suggest(name, [...byFlag.keys()]);
        throw new UsageError(`unknown option --${name}${didYouMean(s && '--' + s)}`);
      }
      const [key, o] = entry;
      const flag = '--' + flagName(key);
      if (negated) values[key] = false;
      else if (o.type === 'boolean') values[key] = inline === undefined ? true : convert(flag, o, inline);
      else values[key] = convert(flag, o, inline ?? takeValue(flag, o, ++i));
      continue;
    }
    if (tok.startsWith('-') && tok !== '-' && !NEGATIVE_RE.test(tok)) {
      const entry = tok.length === 2 ? byShort.get(tok[1]!) : undefined;
      if (!entry) {
        const long = tok.length > 2 && byFlag.has(tok.slice(1)) ? '-' + tok : undefined;
        throw new UsageError(`unknown option ${tok}${didYouMean(long)}`);
      }
      const [key, o] = entry;
      values[key] = o.type === 'boolean' ? true : convert(tok, o, takeValue(tok, o, ++i));
      continue;
    }
    positionals.push(tok);
  }

  if (!help) {
    for (const [key, o] of Object.entries(spec)) {
      if (values[key] !== undefined) continue;
      if (o.default !== undefined) values[key] = o.default;
      else if (o.type === 'boolean') values[key] = false;
      else if (o.required) throw new UsageError(`missing required option --${flagName(key)}`);
    }
    const required = positionalSpec.filter((p) => p.required).length;
    const variadic = positionalSpec.some((p) => p.variadic);
    if (positionals.length < required) {
      throw new UsageError(`missing argument <${positionalSpec[positionals.length]!.name}>`);
    }
    if (!variadic && positionals.length > positionalSpec.length) {
      throw new UsageError(`unexpected argument '${positionals[positionalSpec.length]}'`);
    }
  }
  return { options: values as ParsedOptions<S>, positionals, help };
}

function metavar(o: OptionSpec): string {
  if (o.type === 'boolean') return '';
  if (o.metavar) return ` <${o.metavar}>`;
  if (o.type === 'enum') return ` <${o.values.join('|')}>`;
  return o.type === 'number' ? (o.integer ? ' <n>' : ' <x>') : ' <str>';
}

/** Two-column text: left column padded to the widest entry. */
export function columns(rows: readonly (readonly [string, string])[], indent = 2): string {
  const w = Math.max(0, ...rows.map(([l]) => l.length));
  return rows.map(([l, r]) => ' '.repeat(indent) + (r ? l.padEnd(w + 2) + r : l)).join('\n');
}

/** Greedy word wrap (help paragraphs). */
export function wrap(text: string, width = 80): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? line + ' ' + word : word;
  }
  if (line) lines.push(line);
  return lines.join('\n');
}

/** Help text for one command, generated from its spec. */
export function formatHelp(
  usage: string,
  spec: OptionsSpec,
  opts: { description?: string; positionals?: readonly PositionalSpec[]; examples?: readonly string[] } = {},
): string {
  const pos = (opts.positionals ?? []).map((p) => {
    const n = `<${p.name}>${p.variadic ? '...' : ''}`;
    return p.required ? n : `[${n}]`;
  });
  const out = [`Usage: ${usage}${Object.keys(spec).length ? ' [options]' : ''}${pos.length ? ' ' + pos.join(' ') : ''}`];
  if (opts.description) out.push('', wrap(opts.description));
  if (opts.positionals?.length) {
    out.push('', 'Arguments:', columns(opts.positionals.map((p) => [`<${p.name}>`, p.help + (p.required ? '' : ' (optional)')])));
  }
  const rows: [string, string][] = Object.entries(spec).map(([key, o]) => {
    const flag = (o.short ? `-${o.short}, ` : '    ') + `--${flagName(key)}` + metavar(o);
    let def = '';
    if (o.type === 'number') {
      // Bounds the help would not otherwise reveal (min is usually implied by the text).
      const b = [o.exclusiveMin ? `> ${o.min}` : '', o.max !== undefined ? `at most ${o.max}` : ''].filter(Boolean);
      if (b.length) def += ` (${b.join(', ')})`;
    }
    if (o.type === 'boolean') def = o.default ? ` (default: on; --no-${flagName(key)} to turn off)` : '';
    else if (o.default !== undefined) def += ` (default: ${o.default})`;
    else if (o.required) def += ' (required)';
    return [flag, o.help + def];
  });
  rows.push(['-h, --help', 'show this help']);
  out.push('', 'Options:', columns(rows));
  if (opts.examples?.length) out.push('', 'Examples:', ...opts.examples.map((e) => '  ' + e));
  return out.join('\n') + '\n';
}
