import { type Client, WorkflowFailedError } from '@temporalio/client';
import { reconcileRuns } from '../../engine/reconcile.js';
import { readStudySpec, runIdOf } from '../../engine/study.js';
import { connectClient, isServerReachable, startOrAttach } from '../../engine/temporal.js';
import { workflowTypeFor } from '../../schemas/study.js';
import type { StudyProgress, StudyResult } from '../../schemas/study-io.js';
import { loadConfig } from '../../temporal.config.js';
import { parse } from '../args.js';
import { CliError, type Command, EXIT } from '../command.js';
import { explainFailure } from '../failure.js';
import { describeProgress, followProgress } from '../progress.js';
import { ensureServices, watchForWorker } from '../services.js';

function summarise(result: StudyResult): string {
  const lines = [
    `run ${result.runId} on release ${result.releaseId}${result.reused ? ' (already done; reused)' : ''}`,
  ];
  if (result.gwas) {
    lines.push(
      `GWAS: ${result.gwas.nTested} variants tested, λGC ${result.gwas.lambdaGc?.toFixed(3) ?? 'NA'}, ` +
        `${result.gwas.leadLoci.length} lead loci`,
    );
    const step1 = result.gwas.step1;
    if (step1)
      lines.push(
        `  relatedness: LOCO offsets from step 1 on ${step1.nVariants} variants ` +
          (step1.level0 === 'genome'
            ? `(level 0: one whole-genome ridge, ${step1.nBlocks} chromosome parts)`
            : `in ${step1.nBlocks} blocks`) +
          `${step1.cached ? ' (reused from an earlier run)' : ''}`,
      );
    const notOk = (step1?.statuses ?? []).filter((s) => s !== 'ok');
    if (notOk.length > 0)
      lines.push(`  WARN step 1 level 1: ${notOk.join(', ')} — those traits were tested without an offset`);
    const counts = result.gwas.statusCounts;
    if (counts)
      lines.push(
        `  results by status: ${
          Object.entries(counts)
            .sort((a, b) => b[1] - a[1])
            .map(([status, n]) => `${n} ${status}`)
            .join(', ') || 'none'
        }`,
      );
  }
  if (result.skipped) lines.push(`stratum skipped: ${result.skipped}`);
  for (const st of result.strata ?? []) {
    const what = st.skipped
      ? `skipped (${st.skipped.replace(/^\d+ cases, /, '')})`
      : result.workflowKind === 'genotype-first'
        ? `${st.nSamples} persons`
        : `λGC ${st.lambdaGc?.toFixed(3) ?? 'NA'}, ${st.nLeadLoci} lead loci${st.phewasRunId ? `; PheWAS of the meta lead loci: run ${st.phewasRunId}` : ''}`;
    lines.push(`stratum ${st.name}: run ${st.runId}, ${what}`);
  }
  // (a genotype-first stratified run has no GWAS meta run: its PheWAS meta lies in the run itself)
  if (result.meta && result.meta.runId !== result.runId)
    lines.push(
      `meta-analysis of the strata: run ${result.meta.runId}, ${result.meta.nLeadLoci} lead loci${result.meta.reportPath ? `; report ${result.meta.reportPath}` : ''}`,
    );
  const ph = result.meta?.phewas;
  if (ph)
    lines.push(
      `PheWAS meta-analysis of the strata (${ph.model}): ${ph.nAssociations} associations, ${ph.nMulti} in ≥ 2 strata, ${ph.nSignificant} significant (Bonferroni per predictor), ${ph.nHeterogeneous} heterogeneous; table meta_phewas_results, run ${result.runId}`,
    );
  for (const p of result.phewas) {
    const top = p.top[0];
    const ratio = p.model === 'cox' ? 'HR' : 'OR';
    const best =
      top && p.nSignificant > 0
        ? `; top ${top.phecode} ${top.description} (${ratio} ${top.oddsRatio?.toPrecision(3) ?? 'NA'}, p ${top.p.toExponential(2)})`
        : '';
    lines.push(
      `PheWAS${p.model === 'cox' ? ' (Cox)' : ''} ${p.predictorId}: ${p.nTested} phecodes, ${p.nSignificant} significant${best}`,
    );
  }
  if (result.reportPath) lines.push(`report: ${result.reportPath}`);
  return lines.join('\n');
}

async function clientOrHint(): Promise<Client> {
  const config = loadConfig();
  if (!(await isServerReachable(config.temporal.address))) {
    throw new CliError(
      `no Temporal server at ${config.temporal.address}`,
      EXIT.unavailable,
      "start 'biobank dev-server' and 'biobank worker', or pass --local to bring both up for this run",
    );
  }
  return connectClient(config);
}

const runCommand: Command = {
  name: 'study run',
  summary: 'start a study from a JSON spec, show progress and wait for it',
  usage: `
Usage: biobank study run <spec.json> [--no-wait] [--local] [--quiet]

Validates the spec (errors name the file, line and field), resolves its release, and starts
phenotypeFirstStudy or genotypeFirstStudy on the task queue with workflow id
<studyId>-<hash of release fingerprint and spec>. Starting the same study on the same release again
attaches to the existing run instead of repeating it.

Options:
  --no-wait   return after the start, printing the workflow id
  --local     bring up a dev server and a worker if none is running, stop them afterwards
  --quiet     no progress display`,
  examples: ['biobank study run studies/ldl-gwas.json', 'biobank study run lmna.json --no-wait'],
  async run(argv) {
    const { values, positionals } = parse(
      argv,
      {
        'no-wait': { type: 'boolean', default: false },
        local: { type: 'boolean', default: false },
        quiet: { type: 'boolean', default: false },
      },
      true,
    );
    if (positionals.length !== 1) throw new CliError('expected one spec file', EXIT.usage);
    const config = loadConfig();
    const spec = await readStudySpec(positionals[0]);
    const workflowId = await runIdOf(config, spec);
    const services = values.local ? await ensureServices(config) : undefined;
    const client = services?.client ?? (await clientOrHint());
    try {
      // A run left `running` by a workflow ended from outside is recorded as such first.
      await reconcileRuns(config, client, [workflowId]);
      const { handle, started } = await startOrAttach(client, workflowTypeFor(spec), {
        workflowId,
        taskQueue: config.temporal.taskQueue,
        args: [spec],
      });
      console.error(`${started ? 'started' : 'attached to existing'} ${workflowTypeFor(spec)} ${workflowId}`);
      if (services) services.watch(handle);
      else
        watchForWorker(handle, () =>
          console.error(
            `no worker has taken this study's tasks for 5 s: start one with 'biobank worker' (task queue '${config.temporal.taskQueue}'), or re-run with --local; still waiting…`,
          ),
        );
      if (values['no-wait']) {
        console.log(workflowId);
        return EXIT.ok;
      }
      // Ctrl-C stops following, not the study: say so, and how to follow or cancel it.
      const onInterrupt = () => {
        console.error(
          `\ninterrupted: study ${workflowId} goes on in Temporal.\n` +
            `  follow it:  biobank study status ${workflowId} --watch\n` +
            `  cancel it:  temporal workflow cancel --workflow-id ${workflowId} --address ${config.temporal.address}`,
        );
        process.exit(EXIT.interrupted);
      };
      process.once('SIGINT', onInterrupt);
      try {
        const result = await followProgress<StudyResult>(handle, { quiet: values.quiet });
        console.log(summarise(result));
        return EXIT.ok;
      } catch (err) {
        if (err instanceof WorkflowFailedError) {
          const f = explainFailure(err);
          throw new CliError(
            `study ${workflowId} failed: ${f?.text ?? err.message}`,
            f?.code ?? EXIT.failed,
            f?.code === EXIT.usage
              ? 'fix the spec or release named above and run it again'
              : `inspect it with 'temporal workflow show --workflow-id ${workflowId}'`,
          );
        }
        throw err;
      } finally {
        process.off('SIGINT', onInterrupt);
      }
    } finally {
      if (services) await services.stop();
      else await client.connection.close();
    }
  },
};

const statusCommand: Command = {
  name: 'study status',
  summary: "show a running study's phase and progress",
  usage: `
Usage: biobank study status <workflow-id> [--watch]

Queries the workflow's 'progress' query: phase, GWAS shards done/total, PheWAS predictors
done/total and the current activity. With --watch, refreshes until the study ends.`,
  examples: [
    'biobank study status ldl-gwas-3f2a9c1b7d0e-9b1c2d3e4f5a',
    'biobank study status my-study --watch',
  ],
  async run(argv) {
    const { values, positionals } = parse(argv, { watch: { type: 'boolean', default: false } }, true);
    if (positionals.length !== 1) throw new CliError('expected one workflow id', EXIT.usage);
    const client = await clientOrHint();
    try {
      for (const r of await reconcileRuns(loadConfig(), client))
        console.error(
          `catalog: run ${r.runId} recorded as ${r.status} (its workflow was ended outside the engine)`,
        );
      const handle = client.workflow.getHandle(positionals[0]);
      const desc = await handle.describe().catch(() => {
        throw new CliError(
          `no workflow with id ${positionals[0]}`,
          EXIT.usage,
          "list them with 'temporal workflow list'",
        );
      });
      if (values.watch && desc.status.name === 'RUNNING') {
        await followProgress(handle).catch(() => undefined);
      }
      const final = await handle.describe();
      let line: string = final.status.name;
      try {
        line = `${final.status.name}: ${describeProgress((await handle.query('progress')) as StudyProgress)}`;
      } catch {
        // Closed workflows without a worker cannot answer queries; the status is enough.
      }
      console.log(line);
      return final.status.name === 'FAILED' || final.status.name === 'TERMINATED' ? EXIT.failed : EXIT.ok;
    } finally {
      await client.connection.close();
    }
  },
};

export const studyCommands: Command[] = [runCommand, statusCommand];
