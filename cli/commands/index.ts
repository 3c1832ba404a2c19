/** Every `biobank` sub-command, in the order `biobank --help` lists them. */
import type { Command } from '../command.js';
import { demoCommand } from './demo.js';
import { devServerCommand } from './dev-server.js';
import { queryCommand } from './query.js';
import { workerCommand } from './worker.js';

export const commands: Command[] = [demoCommand, devServerCommand, workerCommand, queryCommand];
