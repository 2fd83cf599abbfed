// What every `tessera train …` command is: its flags, generated from the trainer's schema
// (src/train/*-config.ts: type, bounds, default, help, resume policy), plus one call. Loads no engine
// code: the training itself (src/cli/trainers.ts) is imported when the command runs.
import type { OptionSpec, OptionsSpec } from './args.js';
import type { CommandContext } from './command.js';
import { flagName, type Field } from '../train/config.js';

export type TrainerName = 'tokenizer' | 'prior' | 'classifier';

function option(f: Field<never>): OptionSpec {
  const help = f.help + (f.default !== undefined ? ` (default: ${f.default})` : '');
  const metavar = f.metavar;
  switch (f.type) {
    case 'int':
      return { type: 'number', integer: true, min: f.min, max: f.max, help, metavar };
    case 'number':
      return { type: 'number', min: f.min, max: f.max, exclusiveMin: f.exclusiveMin, help, metavar };
    case 'string':
      return { type: 'string', help, metavar };
    case 'enum':
      return { type: 'enum', values: f.values, help, metavar };
    case 'boolean':
      return { type: 'boolean', help };
  }
}

/** The command's options: --out, the schema's flags, then --config, --resume and --stop-after. */
export function trainOptions(schema: { flags: Readonly<Record<string, Field<never>>> }): OptionsSpec {
  const spec: Record<string, OptionSpec> = {
    out: { type: 'string', required: true, metavar: 'dir', help: 'run directory, e.g. runs/NAME' },
  };
  for (const [key, f] of Object.entries(schema.flags)) {
    spec[key] = option(f);
    if (f.type === 'boolean' && f.negatable)
      spec['no' + key[0]!.toUpperCase() + key.slice(1)] = { type: 'boolean', help: `the opposite of --${flagName(key)}` };
  }
  spec.config = {
    type: 'string',
    metavar: 'file.json',
    help: "JSON with any keys of a run's config.json (a run's config.json works); explicit flags win, unknown keys are an error",
  };
  spec.resume = {
    type: 'boolean',
    help: 'continue the run in --out from its checkpoint with its saved configuration: flags may repeat saved values, --steps may be raised',
  };
  spec.stopAfter = {
    type: 'number',
    integer: true,
    min: 1,
    metavar: 'n',
    help: 'stop after N steps in this process, saving a checkpoint (train in chunks with --resume)',
  };
  return spec;
}

/** Runs (or resumes) the training; returns the exit code (130 after Ctrl-C, 143 after SIGTERM, both with a checkpoint). */
export async function runTrainCommand(name: TrainerName, opts: Readonly<Record<string, unknown>>, ctx: CommandContext): Promise<number> {
  const { runTrainer } = await import('./trainers.js');
  return runTrainer(name, opts, ctx);
}
