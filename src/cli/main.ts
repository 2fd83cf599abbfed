#!/usr/bin/env node
// The `tessera` executable (package.json "bin"). All logic is in cli.ts so tests can run it in-process.
import { runCli, userMessage } from './cli.js';
import { terminalSafe } from './sanitize.js';

// A reader that stops early (`tessera --help | head`) closes the pipe: finish quietly, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

// Last resort for an error thrown outside a command's run() (a stream or timer callback): one line
// like every other failure instead of Node's stack dump; the stack only with TESSERA_DEBUG=1.
const fatal = (e: unknown): never => {
  const err = e as Error;
  process.stderr.write(`tessera: error: ${terminalSafe(userMessage(String(err?.message ?? e)))}\n`);
  if (process.env.TESSERA_DEBUG && err?.stack) process.stderr.write(err.stack + '\n');
  process.exit(1);
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

process.exitCode = await runCli(process.argv.slice(2));
