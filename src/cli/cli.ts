// Subcommand dispatch: `tessera [--help|--version] <command words…> [options] [args]`.
// Exit codes: 0 success, 1 the command failed, 2 usage error (unknown command/option, bad value).
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, columns, formatHelp, parseOptions, suggest } from './args.js';
import type { Command, CommandContext } from './command.js';
import { commands as registry } from './commands/index.js';

export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
}
const processIO: CliIO = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
};

/** package.json of the Tessera package (found upwards from this file: works from src/ and dist/src/). */
export function packageInfo(): { name: string; version: string; description: string } {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, d = dirname(d)) {
    const p = join(d, 'package.json');
    if (existsSync(p)) {
      const j = JSON.parse(readFileSync(p, 'utf8'));
      if (j.name === 'tessera') return { name: j.name, version: j.version, description: j.description ?? '' };
    }
  }
  throw new Error('tessera: package.json not found above ' + fileURLToPath(import.meta.url));
}

function topHelp(cmds: readonly Command<any>[], version: string, description: string): string {
  return [
    `tessera ${version} — ${description}`,
    '',
    'Usage: tessera <command> [options]',
    '',
    'Commands:',
    columns(cmds.map((c) => [c.name, c.summary])),
    '',
    'Options:',
    columns([
      ['-h, --help', "show this help ('tessera <command> --help' for a command's options)"],
      ['-V, --version', 'print the version'],
    ]),
    '',
    'Exit codes: 0 success, 1 failure, 2 usage error.',
    '',
  ].join('\n');
}

/** Runs the CLI on argv (without `node main.js`) and returns the exit code. */
export async function runCli(argv: readonly string[], cmds: readonly Command<any>[] = registry, io: CliIO = processIO): Promise<number> {
  const pkg = packageInfo();
  const usage = (where: string, msg: string, hint: string): number => {
    io.stderr(`${where}: ${msg}; see '${hint} --help'\n`);
    return 2;
  };

  // Global flags come before the command.
  let i = 0;
  for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
    const a = argv[i]!;
    if (a === '--version' || a === '-V') {
      io.stdout(pkg.version + '\n');
      return 0;
    }
    if (a === '--help' || a === '-h') {
      io.stdout(topHelp(cmds, pkg.version, pkg.description));
      return 0;
    }
    const s = a.startsWith('--') ? suggest(a.slice(2), ['help', 'version']) : undefined;
    return usage('tessera', `unknown option ${a}${s ? ` (did you mean --${s}?)` : ''}`, 'tessera');
  }
  if (i === argv.length) {
    io.stderr(topHelp(cmds, pkg.version, pkg.description));
    return usage('tessera', 'missing command', 'tessera');
  }

  // Longest command name matching the leading words.
  const words: string[] = [];
  for (let j = i; j < argv.length && !argv[j]!.startsWith('-'); j++) words.push(argv[j]!);
  let cmd: Command<any> | undefined;
  let n = 0;
  for (const c of cmds) {
    const cw = c.name.split(' ');
    if (cw.length > n && cw.every((w, k) => words[k] === w)) [cmd, n] = [c, cw.length];
  }

  if (!cmd) {
    // A group prefix such as `tessera train` lists its subcommands.
    for (let k = words.length; k >= 1; k--) {
      const prefix = words.slice(0, k).join(' ');
      const group = cmds.filter((c) => c.name.startsWith(prefix + ' '));
      if (!group.length) continue;
      const subs = group.map((c) => c.name.slice(prefix.length + 1));
      if (k === words.length) {
        const wantsHelp = argv.slice(i + k).some((a) => a === '--help' || a === '-h');
        const text = `Usage: tessera ${prefix} <subcommand> [options]\n\nSubcommands:\n${columns(group.map((c) => [c.name.slice(prefix.length + 1), c.summary]))}\n`;
        if (wantsHelp) {
          io.stdout(text);
          return 0;
        }
        return usage(`tessera ${prefix}`, `missing subcommand (one of: ${subs.join(', ')})`, `tessera ${prefix}`);
      }
      const s = suggest(words[k]!, subs);
      return usage('tessera', `unknown command '${prefix} ${words[k]}'${s ? ` (did you mean '${prefix} ${s}'?)` : ''}`, `tessera ${prefix}`);
    }
    const s = suggest(words[0]!, [...new Set(cmds.map((c) => c.name.split(' ')[0]!))]);
    return usage('tessera', `unknown command '${words[0]}'${s ? ` (did you mean '${s}'?)` : ''}`, 'tessera');
  }

  const where = `tessera ${cmd.name}`;
  const ctx: CommandContext = {
    out: (l) => io.stdout(l + '\n'),
    err: (l) => io.stderr(l + '\n'),
    version: pkg.version,
  };
  try {
    const parsed = parseOptions(cmd.options, argv.slice(i + n), cmd.positionals);
    if (parsed.help) {
      io.stdout(
        formatHelp(where, cmd.options, {
          description: cmd.description ?? cmd.summary,
          positionals: cmd.positionals,
          examples: cmd.examples,
        }),
      );
      return 0;
    }
    return (await cmd.run(parsed.options, parsed.positionals, ctx)) ?? 0;
  } catch (e) {
    if (e instanceof UsageError) return usage(where, e.message, where);
    const err = e as Error;
    io.stderr(`${where}: error: ${err?.message ?? String(e)}\n`);
    if (process.env.TESSERA_DEBUG && err?.stack) io.stderr(err.stack + '\n');
    return 1;
  }
}
