#!/usr/bin/env node
// The `tessera` executable (package.json "bin"). All logic is in cli.ts so tests can run it in-process.
import { runCli } from './cli.js';

process.exitCode = await runCli(process.argv.slice(2));
