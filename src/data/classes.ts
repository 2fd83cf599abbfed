// The one class-name resolver: a user's class (a name or an id) → a class id, shared by the priors
// (PriorModel), the classifiers (metrics/classifier.ts) and the CLI (--class). Rules, in order:
//   1. a number is an id and must be an integer in [0, K);
//   2. a string equal to a class name is that class (MNIST's names '0'–'9' are also their ids);
//   3. a numeric-looking string ('7', '-1', '1.5') is an id and is range-checked — never matched as a
//      name after stripping characters, so '-1' can no longer mean the class '1';
//   4. otherwise names match case-insensitively, ignoring spaces, '&', '_' and '-'
//      ('smileys-emotion' and 'Smileys & Emotion' are the same class); two classes matching is an error.
import { closest } from '../io/validate.js';

/** A class that does not resolve; the message is one line listing the valid classes. */
export class ClassNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClassNameError';
  }
}

/** The form names are compared in by rule 4. */
export function normalizeClassName(s: string): string {
  return s.toLowerCase().replace(/[\s&_-]+/g, '');
}

/** "'a', 'b', … (ids 0–K−1)", cut after 20 names so a 1000-class folder stays one readable line. */
export function listClasses(names: readonly string[]): string {
  const shown = names.slice(0, 20).map((n) => `'${n}'`);
  if (names.length > 20) shown.push(`… ${names.length - 20} more`);
  return `${shown.join(', ')} (ids 0–${names.length - 1})`;
}

const NUMERIC = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * Resolves a class name or id against `names` (the classes in id order). Throws ClassNameError for
 * an unknown name, an out-of-range or non-integer id, an ambiguous name, or a model without classes.
 */
export function resolveClass(names: readonly string[], c: number | string): number {
  const k = names.length;
  if (k === 0) throw new ClassNameError('this model is unconditional: it takes no class');
  const checkId = (id: number, shown: string): number => {
    if (!Number.isInteger(id) || id < 0 || id >= k) throw new ClassNameError(`class id ${shown} is out of range [0, ${k}); classes: ${listClasses(names)}`);
    return id;
  };
  if (typeof c === 'number') return checkId(c, String(c));
  const exact = names.indexOf(c);
  if (exact >= 0) return exact;
  const t = c.trim();
  if (t !== c && names.indexOf(t) >= 0) return names.indexOf(t);
  if (NUMERIC.test(t)) return checkId(Number(t), t);
  const key = normalizeClassName(t);
  const hits = key === '' ? [] : names.flatMap((n, i) => (normalizeClassName(n) === key ? [i] : []));
  if (hits.length === 1) return hits[0]!;
  if (hits.length > 1) throw new ClassNameError(`class '${c}' is ambiguous: it matches ${hits.map((i) => `${i} '${names[i]}'`).join(' and ')}; give the id`);
  const near = closest(t, names);
  throw new ClassNameError(`unknown class '${c}'; valid classes: ${listClasses(names)}${near ? `; did you mean '${near}'?` : ''}`);
}
