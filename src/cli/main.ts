#!/usr/bin/env node
// The `tessera` executable (package.json "bin"). All logic is in cli.ts so tests can run it in-process.
import { runCli } from './cli.js';

// A reader that stops early (`tessera --help | head`) closes the pipe: finish quietly, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

process.exitCode = await runCli(process.argv.slice(2));
