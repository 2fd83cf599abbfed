// Subcommand dispatch: `tessera [--help|--version] <command words…> [options] [args]`.
// Exit codes: 0 success, 1 the command failed, 2 usage error (unknown command/option, bad value).
import { packageJson } from '../io/package-root.js';
import { MAX_INTEGER, UsageError, columns, formatHelp, parseOptions, suggest } from './args.js';
import type { Command, CommandContext } from './command.js';
import { commands as registry } from './commands/index.js';
import { terminalSafe, terminalSafeLines } from './sanitize.js';

// Commands have unrelated option specs; the registry holds them side by side.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCommand = Command<any>;

export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
}
const processIO: CliIO = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
};

/** package.json of the Tessera package (the one package-root lookup, src/io/package-root.ts). */
export function packageInfo(): { name: string; version: string; description: string } {
  return packageJson();
}

function topHelp(cmds: readonly AnyCommand[], version: string, description: string): string {
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
    `Numbers must be finite; whole-number options take at most ${MAX_INTEGER} (2^53 - 1) unless their help gives a smaller maximum.`,
    '',
  ].join('\n');
}

/** Runs the CLI on argv (without `node main.js`) and returns the exit code. */
export async function runCli(argv: readonly string[], cmds: readonly AnyCommand[] = registry, io: CliIO = processIO): Promise<number> {
  const pkg = packageInfo();
  const usage = (where: string, msg: string, hint: string): number => {
    io.stderr(`${terminalSafe(where)}: ${terminalSafe(msg)}; see '${terminalSafe(hint)} --help'\n`);
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
  let cmd: AnyCommand | undefined;
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
    // Lines may carry text from files (class names, metadata): no control sequence reaches the terminal.
    out: (l) => io.stdout(terminalSafeLines(l) + '\n'),
    err: (l) => io.stderr(terminalSafeLines(l) + '\n'),
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
    io.stderr(`${where}: error: ${terminalSafe(userMessage(err?.message ?? String(e)))}\n`);
    if (process.env.TESSERA_DEBUG && err?.stack) io.stderr(err.stack + '\n');
    return 1;
  }
}

// ------------------------------------------------------------------ last-resort wording
// Library code words its own errors; these catch what still arrives raw from Node or libtorch.

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EISDIR: 'is a directory',
  ENOTDIR: 'a parent path is a file, not a folder',
  EEXIST: 'already exists',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  ENAMETOOLONG: 'file name too long',
  ENOTEMPTY: 'directory not empty',
};
const ERRNO_VERB: Record<string, string> = {
  open: 'open',
  read: 'read',
  write: 'write',
  rename: 'write', // the last step of an atomic write: name the destination, never the temp file
  copyfile: 'write',
  mkdir: 'create folder',
  rmdir: 'remove folder',
  unlink: 'remove',
  scandir: 'list folder',
  stat: 'access',
  lstat: 'access',
};
const gb = (bytes: number): string => (bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${Math.ceil(bytes / 1e6)} MB`);

/** The message an error is shown with: raw errno and allocator texts reworded, temp file names hidden. */
export function userMessage(message: string): string {
  let m = message.replace(
    // Node: "EISDIR: illegal operation on a directory, rename '/x/a.png.tmp-42' -> '/x/a.png'"
    /\b(E[A-Z]{2,}): ([^,\n]+), (\w+)(?: '([^']*)')?(?: -> '([^']*)')?/g,
    (_all, code: string, desc: string, syscall: string, path?: string, dest?: string) => {
      // mkdir -p reports a file in the way of a folder as EEXIST (the file itself) or ENOTDIR (below it).
      const why = syscall === 'mkdir' && code === 'EEXIST' ? 'it is a file, not a folder' : (ERRNO_TEXT[code] ?? desc);
      const target = (dest ?? path)?.replace(/\.tmp-\d+$/, '');
      return target ? `cannot ${ERRNO_VERB[syscall] ?? syscall} ${target}: ${why}` : why;
    },
  );
  // libtorch: "DefaultCPUAllocator: can't allocate memory: you tried to allocate 13400000000 bytes. Error code 12 (...)"
  m = m.replace(
    /\S*Allocator: can't allocate memory: you tried to allocate (\d+) bytes\.?(?: Error code \d+ \([^)]*\))?/,
    (_a, n: string) => `out of memory: one step needed ${gb(Number(n))} at once`,
  );
  // V8: "Invalid typed array length: 400000000000", "Array buffer allocation failed"
  m = m.replace(/^(?:RangeError: )?(Invalid typed array length: \d+|Array buffer allocation failed)$/, 'out of memory: a buffer this size cannot be allocated');
  return m;
}
