// The subcommand registry: one import per command module, listed in `tessera --help` order.
import type { Command } from '../command.js';
import { command as doctor } from './doctor.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: readonly Command<any>[] = [doctor];
