// What a subcommand module exports. Each subcommand lives in src/cli/commands/<name>.ts, exports
// `command = defineCommand({...})`, and is listed once in src/cli/commands/index.ts.
import type { OptionsSpec, ParsedOptions, PositionalSpec } from './args.js';

export interface CommandContext {
  /** Writes a line (newline added) to stdout / stderr. Commands use these, not console, so they run in tests. */
  out(line: string): void;
  err(line: string): void;
  /** Tessera's version (package.json). */
  version: string;
}

export interface Command<S extends OptionsSpec = OptionsSpec> {
  /** Words after `tessera`, e.g. 'doctor' or 'train tokenizer'. */
  name: string;
  /** One line for `tessera --help`. */
  summary: string;
  /** Paragraph for `tessera <name> --help` (defaults to the summary). */
  description?: string;
  options: S;
  positionals?: readonly PositionalSpec[];
  examples?: readonly string[];
  /** Returns the exit code (default 0). Throw UsageError for bad input (exit 2), Error for failures (exit 1). */
  run(options: ParsedOptions<S>, positionals: string[], ctx: CommandContext): number | void | Promise<number | void>;
}

/** Identity function that lets TypeScript infer the option types from the literal spec. */
export function defineCommand<const S extends OptionsSpec>(c: Command<S>): Command<S> {
  return c;
}
