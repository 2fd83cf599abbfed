// Run configuration for every trainer. Each trainer declares ONE schema: its flags (type, bounds,
// default, help, and whether the value may change on --resume) and the keys of its config.json with
// their checks. One resolver builds a run's configuration — defaults ← --config file ← flags ← saved
// run — and one resume rule holds for every trainer:
//
//   On --resume the saved run (<out>/config.json) is the configuration. A flag whose value equals the
//   saved one is accepted; any other change is refused, naming the flag and the saved value. The one
//   exception is --steps, which may be raised (never lowered) to extend a run. The schedule's length is
//   part of the saved state; raising --steps stretches it explicitly: from the checkpoint's step on,
//   the learning rate follows the schedule computed for the new length (a cosine continues from where
//   the longer curve is at that step). Resuming without raising --steps continues bit-exactly.
//
// Configurations are compared structurally (deepEqual: key order never matters). This module loads no
// engine code, so command modules can build their flag specs from the schemas at start-up.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatasetError, formatDatasetSpec, parseDatasetSpec } from '../data/spec.js';
import {
  ConfigError,
  checkBoolean,
  checkEnum,
  checkInt,
  checkNumber,
  checkString,
  deepEqual,
  firstDifference as firstDiff,
  isObject,
  rejectUnknownKeys,
} from '../io/validate.js';

/** A flag the user got wrong, or one that contradicts the saved run (the CLI exits 2 with it). */
export class FlagError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}

/** May the value change on --resume: 'fixed' (no), 'raise' (only upwards: --steps), 'free' (not part of the run, e.g. --log-every). */
export type ResumePolicy = 'fixed' | 'raise' | 'free';

interface FieldCommon<R> {
  help: string;
  metavar?: string;
  resume: ResumePolicy;
  /** A new run's value when neither the flag nor the --config file gives one; appended to --help. */
  default?: number | string;
  /** The saved run's value for this flag, when it is not config.json's key of the same name. */
  saved?: (run: R) => unknown;
  /** How the saved value reads in a refusal, when the value alone would not say it. */
  describeSaved?: (run: R) => string;
}
export type Field<R> = FieldCommon<R> &
  (
    | { type: 'int'; min?: number; max?: number }
    | { type: 'number'; min?: number; max?: number; exclusiveMin?: boolean; exclusiveMax?: boolean }
    | { type: 'string'; normalize?: (v: string) => string }
    | { type: 'enum'; values: readonly string[] }
    /** negatable: --x and --no-x (absent: neither); otherwise only --x counts as given. */
    | { type: 'boolean'; negatable?: boolean }
  );

type FlagValue<F> = F extends { type: 'int' | 'number' }
  ? number
  : F extends { type: 'enum'; values: readonly (infer V)[] }
    ? V
    : F extends { type: 'boolean' }
      ? boolean
      : string;
/** The flags given on the command line, validated; absent ones are undefined. */
export type FlagValues<F> = { [K in keyof F]?: FlagValue<F[K]> };

/** Checks one config.json value; `where` names it in the one-line error. */
export type Check<V> = (v: unknown, where: string) => V;
/** A check per config.json key (not distributed over a union R: one record for all its members). */
export type ConfigKeys<R> = { readonly [K in keyof R & string]: Check<R[K]> };

export interface Settings<R, F> {
  /** Flags given on the command line. */
  flags: FlagValues<F>;
  /** The --config file's keys (checked), or {}. */
  file: Partial<R>;
  /** '--config <path>' for messages, or undefined. */
  fileName: string | undefined;
  /** The flag of the same name if given, else the file's value, else the flag's default. */
  get<K extends keyof R & keyof F & string>(key: K): R[K];
  /** Like get() but undefined when none of the three has a value. */
  maybe<K extends keyof R & keyof F & string>(key: K): R[K] | undefined;
  /** A flag that is no config.json key (it shapes a nested config): given value, else its default. */
  flag<K extends keyof F & string>(key: K): FlagValues<F>[K];
}

export interface TrainSchema<R extends object, F extends Readonly<Record<string, Field<R>>>, X = void> {
  /** The trainer: `tessera train <name>`. */
  name: string;
  flags: F;
  /** Every key of config.json (and of a --config file), in the order written, with its check. */
  keys: ConfigKeys<R>;
  /** Builds a new run's configuration. `x` is what the caller provides (data loading, …). */
  build(s: Settings<R, F>, x: X): R | Promise<R>;
}

/** Declares a schema with R given and the flag literal types inferred. */
export function trainSchema<R extends object, X = void>() {
  return <const F extends Readonly<Record<string, Field<R>>>>(s: TrainSchema<R, F, X>): TrainSchema<R, F, X> => s;
}

/** Largest image side a trainer takes (2048² pixels is TESSERA_MAX_PIXELS' default: see src/data/limits.ts). */
export const MAX_IMAGE_SIDE = 2048;

/** `--steps`: the one setting every trainer lets a resume raise (the schedule stretches from the checkpoint). */
export const stepsField = (def: number) =>
  ({
    type: 'int',
    min: 1,
    default: def,
    resume: 'raise',
    help: 'training steps; may be raised with --resume to extend a run (the cosine schedule stretches)',
  }) as const;

/** `--ema`: decay of the weight average saved as the run's model file. */
export const emaField = <R extends { emaDecay: number | null }>(help: string) =>
  ({ type: 'number', min: 0, max: 1, default: 0.999, resume: 'fixed', metavar: 'decay', saved: (r: R) => r.emaDecay, help }) as const;

export const flagName = (key: string): string => key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
const negated = (key: string): string => 'no' + key[0]!.toUpperCase() + key.slice(1);

/** The parser keys a schema's flag occupies: `x`, and `noX` for a negatable boolean. */
export function optionKeys(key: string, f: Field<unknown>): string[] {
  return f.type === 'boolean' && f.negatable ? [key, negated(key)] : [key];
}

// ------------------------------------------------------------------ checks for config.json values

export const check = {
  int:
    (min?: number, max?: number): Check<number> =>
    (v, w) =>
      checkInt(v, w, { min, max }),
  number:
    (o: { min?: number; max?: number; exclusiveMin?: boolean } = {}): Check<number> =>
    (v, w) =>
      checkNumber(v, w, o),
  string: (): Check<string> => (v, w) => checkString(v, w, { nonEmpty: true }),
  boolean: (): Check<boolean> => (v, w) => checkBoolean(v, w),
  oneOf:
    <T extends string>(values: readonly T[]): Check<T> =>
    (v, w) =>
      checkEnum(v, values, w),
  /** A JSON object, checked in depth by the component that takes it (model constructors). */
  object:
    <T extends object>(what: string): Check<T> =>
    (v, w) => {
      if (!isObject(v)) throw new ConfigError(`${w}: expected an object (${what})`);
      return v as T;
    },
  nullable:
    <T>(c: Check<T>): Check<T | null> =>
    (v, w) =>
      v === null ? null : c(v, w),
  /** A key added after runs were saved without it: absent from a saved config.json reads as null. */
  optional: <T>(c: Check<T>): Check<T | null> => Object.assign((v: unknown, w: string) => (v === null || v === undefined ? null : c(v, w)), { optional: true }),
  /** A dataset spec, in canonical form ('emoji:twitter,google' → 'emoji:google,twitter'). */
  dataSpec: (): Check<string> => (v, w) => {
    try {
      return formatDatasetSpec(parseDatasetSpec(checkString(v, w, { nonEmpty: true })));
    } catch (e) {
      if (e instanceof DatasetError) throw new ConfigError(`${w}: ${e.message}`);
      throw e;
    }
  },
};

/** --data's normalize: the canonical spec; a bad spec is a flag error. */
export function canonicalData(spec: string): string {
  try {
    return formatDatasetSpec(parseDatasetSpec(spec));
  } catch (e) {
    if (e instanceof DatasetError) throw new FlagError(`--data: ${e.message}`);
    throw e;
  }
}

/** A file flag's normalize: an absolute path, so a run resumes from any working directory. */
export const absolutePath = (p: string): string => resolve(p);

/** Checks every key of `doc` against the schema's keys; unknown keys are an error naming the valid ones. */
export function checkKeys<R extends object>(keys: ConfigKeys<R>, doc: unknown, where: string, complete: boolean): Partial<R> {
  if (!isObject(doc)) throw new ConfigError(`${where}: expected a JSON object`);
  const known = Object.keys(keys);
  rejectUnknownKeys(doc, known, where);
  const out: Record<string, unknown> = {};
  for (const k of known) {
    if (doc[k] === undefined) {
      const optional = (keys as Record<string, { optional?: boolean }>)[k]!.optional === true;
      if (complete && !optional) throw new ConfigError(`${where}: missing key '${k}'`);
      if (complete) out[k] = null;
      continue;
    }
    out[k] = (keys as Record<string, Check<unknown>>)[k]!(doc[k], `${where}: ${k}`);
  }
  return out as Partial<R>;
}

function readJson(path: string, where: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(`${where}: ${code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : `cannot read it (${code ?? 'error'})`}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ConfigError(`${where}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
}

// ------------------------------------------------------------------ flags

const show = (v: unknown): string => (v === null || v === undefined ? 'none' : typeof v === 'string' || typeof v === 'number' ? String(v) : JSON.stringify(v));

/** The flags actually given, checked again (finite numbers, bounds) and normalized. */
export function givenFlags<R, F extends Readonly<Record<string, Field<R>>>>(schema: { flags: F }, opts: Readonly<Record<string, unknown>>): FlagValues<F> {
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(schema.flags) as [string, Field<R>][]) {
    const flag = `--${flagName(key)}`;
    const v = opts[key];
    if (f.type === 'boolean') {
      const no = f.negatable ? opts[negated(key)] === true : false;
      if (v === true && no) throw new FlagError(`${flag} and --no-${flagName(key)} contradict each other`);
      if (v === true) out[key] = true;
      else if (no) out[key] = false;
      continue;
    }
    if (v === undefined) continue;
    switch (f.type) {
      case 'int':
        out[key] = checkInt(v, flag, { min: f.min, max: f.max });
        break;
      case 'number':
        out[key] = checkNumber(v, flag, { min: f.min, max: f.max, exclusiveMin: f.exclusiveMin, exclusiveMax: f.exclusiveMax });
        break;
      case 'enum':
        out[key] = checkEnum(v, f.values, flag);
        break;
      case 'string':
        out[key] = f.normalize ? f.normalize(checkString(v, flag, { nonEmpty: true })) : checkString(v, flag, { nonEmpty: true });
        break;
    }
  }
  return out as FlagValues<F>;
}

/** "--gan", "--no-gan", "--lr 0.001": how a given flag reads in a message. */
function describeFlag(key: string, v: unknown): string {
  if (v === true) return `--${flagName(key)}`;
  if (v === false) return `--no-${flagName(key)}`;
  return `--${flagName(key)} ${show(v)}`;
}

function describeSaved(f: Field<unknown>, key: string, v: unknown): string {
  if (f.type === 'boolean') return v ? `--${flagName(key)}` : f.negatable ? `--no-${flagName(key)}` : `no --${flagName(key)}`;
  return show(v);
}

// ------------------------------------------------------------------ the resolver

export interface Resolved<R> {
  config: R;
  /** On --resume: the saved run's steps when --steps raised it (the schedule is stretched). */
  stretchedFrom?: number;
}

/**
 * A run's configuration. New run: the schema builds it from defaults ← --config file ← flags.
 * --resume: the saved run in `out`, with the one resume rule (see the top of this file).
 */
export async function resolveRun<R extends object, F extends Readonly<Record<string, Field<R>>>, X>(
  schema: TrainSchema<R, F, X>,
  opts: Readonly<Record<string, unknown>>,
  run: { out: string; resume: boolean; configFile?: string },
  x: X,
): Promise<Resolved<R>> {
  const flags = givenFlags<R, F>(schema, opts);
  if (run.resume) {
    if (run.configFile !== undefined) throw new FlagError("--resume reuses the run's saved configuration; drop --config");
    return resumeRun(schema, flags, run.out);
  }
  const fileName = run.configFile === undefined ? undefined : `--config ${run.configFile}`;
  const file: Partial<R> = run.configFile === undefined ? {} : checkKeys<R>(schema.keys, readJson(run.configFile, fileName!), fileName!, false);
  const field = (k: string): Field<R> | undefined => (schema.flags as Record<string, Field<R>>)[k];
  const maybe = <K extends keyof R & keyof F & string>(k: K): R[K] | undefined => {
    const fv = (flags as Record<string, unknown>)[k];
    if (fv !== undefined) return fv as R[K];
    if (file[k] !== undefined) return file[k];
    return field(k)?.default as R[K] | undefined;
  };
  const settings: Settings<R, F> = {
    flags,
    file,
    fileName,
    maybe,
    flag: (k) => (flags[k] !== undefined ? flags[k] : (field(k)?.default as FlagValues<F>[typeof k])),
    get: (k) => {
      const v = maybe(k);
      if (v === undefined) throw new Error(`${schema.name} schema: no default for '${k}'`);
      return v;
    },
  };
  const built = await schema.build(settings, x);
  // Whatever the build derived still has to pass the same checks as a saved config.json.
  return { config: checkKeys<R>(schema.keys, built, 'configuration', true) as R };
}

/** The saved run of `out` (config.json), checked against the schema. */
export function readSavedRun<R extends object>(keys: ConfigKeys<R>, out: string): R {
  const path = join(out, CONFIG_FILE);
  if (!existsSync(path)) throw new ConfigError(`--resume: ${path} is missing; it holds the run's configuration`);
  return checkKeys<R>(keys, readJson(path, `--resume: ${path}`), `--resume: ${path}`, true) as R;
}

function resumeRun<R extends object, F extends Readonly<Record<string, Field<R>>>, X>(
  schema: TrainSchema<R, F, X>,
  flags: FlagValues<F>,
  out: string,
): Resolved<R> {
  const saved = readSavedRun<R>(schema.keys, out);
  const conflicts: string[] = [];
  const raised: Record<string, number> = {};
  for (const [key, given] of Object.entries(flags)) {
    const f = (schema.flags as Record<string, Field<R>>)[key]!;
    if (f.resume === 'free' || given === undefined) continue;
    const was = f.saved ? f.saved(saved) : (saved as Record<string, unknown>)[key];
    if (deepEqual(given, was)) continue;
    if (f.resume === 'raise' && typeof given === 'number' && typeof was === 'number' && given > was) {
      raised[key] = given;
      continue;
    }
    const note = f.resume === 'raise' ? '; it may only be raised' : '';
    const savedText = f.describeSaved ? f.describeSaved(saved) : describeSaved(f as Field<unknown>, key, was);
    conflicts.push(`${describeFlag(key, given)} (saved: ${savedText}${note})`);
  }
  if (conflicts.length) {
    const one = conflicts.length === 1;
    throw new FlagError(
      `--resume: ${conflicts.join(', ')} contradict${one ? 's' : ''} the saved run in ${out}; drop ${one ? 'it' : 'them'} to continue it, or start a new run with another --out`,
    );
  }
  const config = { ...saved, ...raised } as R;
  const steps = (saved as { steps?: unknown }).steps;
  return raised.steps !== undefined && typeof steps === 'number' ? { config, stretchedFrom: steps } : { config };
}

/** config.json: the resolved configuration of a run, written before its first step. */
export const CONFIG_FILE = 'config.json';

/**
 * The trainer's check on --resume that the checkpoint belongs to this configuration: equal except
 * for `steps`, which may have been raised (the schedule then stretches). Returns the first differing
 * key path, or undefined.
 */
export function checkpointMismatch(saved: unknown, current: object): string | undefined {
  if (!isObject(saved)) return '(root)';
  const { steps: s0, ...a } = saved;
  const { steps: s1, ...b } = current as Record<string, unknown>;
  const d = firstDiff(a, b);
  if (d !== undefined) return d;
  if (s0 === undefined && s1 === undefined) return undefined;
  return typeof s0 === 'number' && typeof s1 === 'number' && s1 >= s0 ? undefined : 'steps';
}
