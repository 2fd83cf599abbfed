// What every `tessera train …` command does around runTraining(): remember a Ctrl-C for the exit
// code, turn errors into one line, and tell the user how the run ended and how to continue it.
// Command modules import it lazily (it loads the engine).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHECKPOINT_FILE, runTraining, type Trainable, type RunOptions } from '../train/run.js';
import { UsageError } from './args.js';
import type { CommandContext } from './command.js';
import { describeError, firstLine, readSafetensorsMetadata, withMessage } from './tokenizer-common.js';

/**
 * The run directory's checkpoint path, after the checks every train command makes: --resume needs
 * a checkpoint there, a new run must not overwrite one.
 */
export function checkpointFor(out: string, resume: boolean): string {
  const ckptPath = join(out, CHECKPOINT_FILE);
  if (resume && !existsSync(ckptPath)) throw new Error(`--resume: no checkpoint in ${out} (${CHECKPOINT_FILE} not found); drop --resume to start a new run`);
  if (!resume && existsSync(ckptPath)) throw new UsageError(`${out} already holds a run (${CHECKPOINT_FILE}); pass --resume to continue it or choose another --out`);
  return ckptPath;
}

/**
 * The training checkpoint's step and trainer config for --resume; `what` names the trainer in the
 * error when the file holds another trainer's state (or none).
 */
export function readCheckpointMeta<C>(ckptPath: string, what: string): { step: number; config: C } {
  let meta: { step?: unknown; extra?: { config?: unknown } };
  try {
    meta = JSON.parse(readSafetensorsMetadata(ckptPath)['tessera.checkpoint'] ?? '') as typeof meta;
  } catch (e) {
    throw new Error(`--resume: ${ckptPath} is not a Tessera training checkpoint (${firstLine((e as Error).message)})`);
  }
  const config = meta.extra?.config;
  if (config === null || typeof config !== 'object' || Array.isArray(config) || typeof meta.step !== 'number') {
    throw new Error(`--resume: ${ckptPath} holds no ${what} training state (was it written by another trainer?)`);
  }
  return { step: meta.step, config: config as C };
}

/** A run's saved config.json for --resume; undefined when absent, one-line error when not JSON. */
export function readRunConfig<C>(out: string): C | undefined {
  const path = join(out, 'config.json');
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as C;
  } catch (e) {
    throw new Error(`--resume: ${path} is not valid JSON (${firstLine((e as Error).message)})`);
  }
}

/**
 * Runs (or resumes) training. Returns `{ exit }` when the run stopped early — 130 after Ctrl-C
 * (checkpoint saved), 0 after --stop-after — having printed how to resume; `{ last }` when it
 * reached `opts.steps`.
 */
export async function trainFromCommand(
  trainer: Trainable,
  opts: RunOptions,
  ctx: CommandContext,
  resumeCmd: string,
): Promise<{ exit: number } | { last: number }> {
  // runTraining saves on the first Ctrl-C; this only remembers that it happened, for the exit code.
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  process.on('SIGINT', onSigint);
  let last: number;
  try {
    last = await runTraining(trainer, opts);
  } catch (e) {
    throw withMessage(e, describeError(e));
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (interrupted) {
    ctx.err(`interrupted at step ${last} of ${opts.steps}; checkpoint saved. Resume with: ${resumeCmd}`);
    return { exit: 130 };
  }
  if (last < opts.steps) {
    ctx.out(`stopped at step ${last} of ${opts.steps} (--stop-after); checkpoint saved. Continue with: ${resumeCmd}`);
    return { exit: 0 };
  }
  return { last };
}
