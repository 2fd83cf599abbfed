// What every `tessera train …` command does around runTraining(): remember a Ctrl-C for the exit
// code, turn errors into one line, and tell the user how the run ended and how to continue it.
import type { Trainable, RunOptions } from '../train/run.js';
import type { CommandContext } from './command.js';
import { describeError, withMessage } from './tokenizer-common.js';

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
  const { runTraining } = await import('../train/run.js');
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
