// What the `eval *` commands share around their one library call (src/metrics/evaluate*.ts): checking
// the feature-network files up front, a progress line on a terminal, usage errors for bad evaluation
// options, and number formatting. Imported lazily by the commands (it loads the engine).
import { existsSync } from 'node:fs';
import { UsageError } from './args.js';
import type { CommandContext } from './command.js';
import { EvalOptionsError, type EvalCallbacks, type EvalProgress } from '../metrics/evaluate.js';
import { missingWeightsMessage } from '../metrics/inception.js';
import { requireFile } from './tokenizer-common.js';

/** One-line errors before anything slow: a missing classifier or Inception weights file. */
export function checkFeatureFiles(o: { classifier?: string; inception?: string }): void {
  if (o.classifier !== undefined) requireFile(o.classifier, 'classifier file');
  if (o.inception !== undefined && !existsSync(o.inception)) throw new Error(missingWeightsMessage(o.inception));
}

/**
 * Runs an evaluation with the CLI's callbacks — warnings and notes on stderr, a progress line when
 * stderr is a terminal and the output is not JSON — and reports bad options as usage errors (exit 2).
 */
export async function runEvaluation<R>(ctx: CommandContext, json: boolean | undefined, call: (cb: Required<EvalCallbacks>) => Promise<R>): Promise<R> {
  const tty = process.stderr.isTTY && !json;
  let width = 0;
  const clear = () => {
    if (width) process.stderr.write('\r' + ' '.repeat(width) + '\r');
    width = 0;
  };
  const onProgress = (p: EvalProgress) => {
    if (!tty) return;
    const line = `${p.stage}: ${p.done}/${p.total}`;
    process.stderr.write(`\r${line.padEnd(width)}`);
    width = Math.max(width, line.length);
  };
  try {
    return await call({ onProgress, onWarning: (l) => ctx.err(`warning: ${l}`), onNote: (l) => ctx.err(`note: ${l}`) });
  } catch (e) {
    if (e instanceof EvalOptionsError) throw new UsageError(e.message);
    throw e;
  } finally {
    clear();
  }
}

/** A figure with `d` decimals, or 'n/a'. */
export const na = (v: number | null, d: number, missing = 'n/a'): string => (v === null ? missing : v.toFixed(d));
/** KID-sized numbers: exponent notation below 1e-3. */
export const small = (v: number): string => (v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toFixed(5));
export const pct = (v: number | null): string => (v === null ? 'n/a' : `${(v * 100).toFixed(1)}%`);
