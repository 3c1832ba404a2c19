import { resolve } from 'node:path';
import { ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import { connectClient } from '../../engine/temporal.js';
import { durationMs, loadConfig } from '../../temporal.config.js';
import { parse } from '../args.js';
import { CliError, type Command, EXIT } from '../command.js';

const createCommand: Command = {
  name: 'schedule create',
  summary: 're-run registered studies whenever a release manifest changes (Temporal Schedule)',
  usage: `
Usage: biobank schedule create --manifest <manifest.json> [--manifest …] [--every 1h] [--id ID]

Creates the Temporal Schedule BIOBANK_SCHEDULE_ID (default biobank-release-refresh) that starts
refreshOnRelease every interval. Each run fingerprints the manifests; when a release changed it
ingests it and re-runs every registered study against it, otherwise it does nothing. Runs never
overlap (a trigger while one runs is skipped).

The same with the stock Temporal CLI:
  temporal schedule create --schedule-id biobank-release-refresh --interval 1h \\
    --task-queue biobank --type refreshOnRelease --workflow-id biobank-refresh \\
    --overlap-policy Skip --input '{"manifests": ["/data/releases/current/manifest.json"]}'

Options:
  --manifest PATH   release manifest to watch (absolute path as the workers see it); repeatable
  --every D         interval, e.g. 30m, 1h, 1d (default BIOBANK_SCHEDULE_EVERY or 1h)
  --id ID           schedule id (default BIOBANK_SCHEDULE_ID)`,
  examples: [
    'biobank schedule create --manifest /data/biobank/current/manifest.json --every 6h',
    'biobank schedule trigger',
  ],
  async run(argv) {
    const { values } = parse(argv, {
      manifest: { type: 'string', multiple: true },
      every: { type: 'string' },
      id: { type: 'string' },
    });
    const config = loadConfig();
    const manifests = (values.manifest ?? []).map((m) => resolve(m));
    if (manifests.length === 0) throw new CliError('give at least one --manifest', EXIT.usage);
    const every = values.every ?? String(config.schedule.every);
    let everyMs: number;
    try {
      everyMs = durationMs(every);
    } catch {
      throw new CliError(`--every ${every}: expected a duration such as 30m, 1h or 1d`, EXIT.usage);
    }
    const scheduleId = values.id ?? config.schedule.id;
    const client = await connectClient(config);
    try {
      await client.schedule.create({
        scheduleId,
        spec: { intervals: [{ every: everyMs }] },
        action: {
          type: 'startWorkflow',
          workflowType: 'refreshOnRelease',
          workflowId: `${scheduleId}-run`,
          taskQueue: config.temporal.taskQueue,
          args: [{ manifests }],
        },
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1h' },
      });
      console.log(
        `created schedule ${scheduleId}: refreshOnRelease every ${every} over ${manifests.join(', ')}`,
      );
      return EXIT.ok;
    } finally {
      await client.connection.close();
    }
  },
};

function scheduleAction(name: 'trigger' | 'delete' | 'describe', summary: string): Command {
  return {
    name: `schedule ${name}`,
    summary,
    usage: `\nUsage: biobank schedule ${name} [--id ID]\n\nOptions:\n  --id ID   schedule id (default BIOBANK_SCHEDULE_ID)`,
    examples: [`biobank schedule ${name}`],
    async run(argv) {
      const { values } = parse(argv, { id: { type: 'string' } });
      const config = loadConfig();
      const scheduleId = values.id ?? config.schedule.id;
      const client = await connectClient(config);
      try {
        const handle = client.schedule.getHandle(scheduleId);
        if (name === 'trigger') await handle.trigger(ScheduleOverlapPolicy.SKIP);
        else if (name === 'delete') await handle.delete();
        else {
          const d = await handle.describe();
          console.log(
            JSON.stringify(
              {
                scheduleId,
                paused: d.state.paused,
                action:
                  d.action.type === 'startWorkflow'
                    ? { workflowType: d.action.workflowType, args: d.action.args }
                    : d.action,
                recentActions: d.info.recentActions.map((a) => ({
                  at: a.takenAt,
                  workflowId: a.action.workflow.workflowId,
                })),
                nextActionTimes: d.info.nextActionTimes,
              },
              null,
              2,
            ),
          );
        }
        if (name !== 'describe')
          console.log(`${name === 'trigger' ? 'triggered' : 'deleted'} schedule ${scheduleId}`);
        return EXIT.ok;
      } catch (err) {
        if (err instanceof ScheduleNotFoundError) {
          throw new CliError(
            `no schedule ${scheduleId}`,
            EXIT.usage,
            "create it with 'biobank schedule create'",
          );
        }
        throw err;
      } finally {
        await client.connection.close();
      }
    },
  };
}

export const scheduleCommands: Command[] = [
  createCommand,
  scheduleAction('trigger', 'start a refresh now'),
  scheduleAction('describe', 'show the schedule and its recent runs'),
  scheduleAction('delete', 'remove the schedule'),
];
