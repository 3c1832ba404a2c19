/** Every `biobank` sub-command, in the order `biobank --help` lists them. */
import type { Command } from '../command.js';
import { demoCommand } from './demo.js';
import { devServerCommand } from './dev-server.js';
import { explainCommand } from './explain.js';
import { exportCommand } from './export.js';
import { phecodesCommands } from './phecodes.js';
import { phenomeCommands } from './phenome.js';
import { queryCommand } from './query.js';
import { releaseCommands } from './release.js';
import { reportCommand } from './report.js';
import { scheduleCommands } from './schedule.js';
import { serveCommand } from './serve.js';
import { studyCommands } from './study.js';
import { synthCommand } from './synth.js';
import { workerCommand } from './worker.js';

export const commands: Command[] = [
  demoCommand,
  devServerCommand,
  workerCommand,
  queryCommand,
  exportCommand,
  reportCommand,
  serveCommand,
  synthCommand,
  ...studyCommands,
  ...scheduleCommands,
  ...releaseCommands,
  ...phecodesCommands,
  ...phenomeCommands,
  explainCommand,
];
