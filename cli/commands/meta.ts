import { DuckDBInstance } from '@duckdb/node-api';
import { type Client, WorkflowFailedError } from '@temporalio/client';
import { reconcileRuns } from '../../engine/reconcile.js';
import { connectClient, isServerReachable, startOrAttach } from '../../engine/temporal.js';
import { checkMetaInputs } from '../../meta/inputs.js';
import { readPhewasInputs } from '../../meta/phewas-inputs.js';
import { metaIdentity, readMetaSpec } from '../../meta/spec.js';
import type { MetaProgress, MetaResult, MetaSpec } from '../../schemas/meta.js';
import { loadConfig } from '../../temporal.config.js';
import { parse } from '../args.js';
import { CliError, type Command, EXIT } from '../command.js';
import { explainFailure } from '../failure.js';
import { ProgressPrinter } from '../progress.js';

const fmt = (x: number | null | undefined, d = 3) => (x === null || x === undefined ? 'NA' : x.toFixed(d));

function summarise(r: MetaResult): string {
  if (r.phewas) return summarisePhewas(r);
  const lines = [
    `meta run ${r.runId}${r.reused ? ' (already done; reused)' : ''}: ${r.nVariants} variants, ${r.nAnalysed} analysed, λGC ${fmt(r.lambdaGc)}`,
    ...r.inputs.map((x) => `  ${x.label} (${x.format}): ${x.rowsKept} rows, λGC ${fmt(x.lambdaGc)}`),
    `${r.leadLoci.length} lead loci`,
    ...r.leadLoci
      .slice(0, 10)
      .map(
        (l) =>
          `  ${l.chrom}:${l.pos} ${l.effectAllele}/${l.otherAllele} β ${l.beta.toPrecision(3)} p ${l.p.toExponential(2)} k ${l.k} ${l.direction} Q p ${l.qP === null ? 'NA' : l.qP.toExponential(2)} I² ${fmt(l.i2, 1)}`,
      ),
  ];
  if (r.reportPath) lines.push(`report: ${r.reportPath}`);
  return lines.join('\n');
}

/** A PheWAS meta run: its inputs, associations, significant and heterogeneous ones. */
function summarisePhewas(r: MetaResult): string {
  const s = r.phewas as NonNullable<MetaResult['phewas']>;
  const lines = [
    `meta run ${r.runId}${r.reused ? ' (already done; reused)' : ''}: PheWAS (${s.model})`,
    ...r.inputs.map((x) => `  ${x.label} (${x.format}): ${x.rowsKept} tested rows`),
    `associations: ${s.nAssociations} (${s.nMulti} in two or more inputs)`,
    `significant: ${s.nSignificant} (fixed-effect p < 0.05 / associations of the predictor)`,
    `heterogeneous: ${s.nHeterogeneous} of them (Cochran's Q p < 0.05 / significant)`,
  ];
  if (r.reportPath) lines.push(`report: ${r.reportPath}`);
  return lines.join('\n');
}

async function clientOrHint(): Promise<Client> {
  const config = loadConfig();
  if (!(await isServerReachable(config.temporal.address)))
    throw new CliError(
      `no Temporal server at ${config.temporal.address}`,
      EXIT.unavailable,
      "start 'biobank dev-server' and 'biobank worker', or pass --local to bring both up for this run",
    );
  return connectClient(config);
}

const runCommand: Command = {
  name: 'meta run',
  summary:
    'meta-analyse summary statistics from other sites or strata (GWAS-SSF, PLINK2, REGENIE; PheWAS results)',
  usage: `
Usage: biobank meta run <spec.json> [--no-wait] [--local] [--quiet]

Validates the spec, hashes its inputs and starts the metaAnalysis workflow with workflow id
<metaId>-<hash of the spec and the inputs' sha256>: starting the same spec on the same files
again attaches to the existing run. Input paths are relative to the spec file. Waits for the
run and prints its lead loci (use --no-wait to return after the start). A spec with
"kind": "phewas" meta-analyses PheWAS results (biobank export phewas, the PheWAS R package,
PheTK) and prints the associations, the significant and the heterogeneous ones.

Options:
  --no-wait   return after the start, printing the workflow id
  --local     bring up a dev server and a worker if none is running, stop them afterwards
  --quiet     no progress display`,
  examples: ['biobank meta run meta.json', 'biobank meta run meta.json --no-wait'],
  async run(argv) {
    const { values, positionals } = parse(
      argv,
      {
        'no-wait': { type: 'boolean', default: false },
        wait: { type: 'boolean', default: true },
        local: { type: 'boolean', default: false },
        quiet: { type: 'boolean', default: false },
      },
      true,
    );
    if (positionals.length !== 1) throw new CliError('expected one spec file', EXIT.usage);
    const config = loadConfig();
    const spec = await readMetaSpec(positionals[0]);
    const { runId: workflowId } = await metaIdentity(spec);
    // the worker (and every activity with it) loads only for a run, not for `meta check`
    const { ensureServices, watchForWorker } = await import('../services.js');
    const services = values.local ? await ensureServices(config) : undefined;
    const client = services?.client ?? (await clientOrHint());
    try {
      await reconcileRuns(config, client, [workflowId]);
      const { handle, started } = await startOrAttach(client, 'metaAnalysis', {
        workflowId,
        taskQueue: config.temporal.taskQueue,
        args: [spec],
      });
      console.error(`${started ? 'started' : 'attached to existing'} metaAnalysis ${workflowId}`);
      if (services) services.watch(handle);
      else
        watchForWorker(handle, () =>
          console.error(
            `no worker has taken this run's tasks for 5 s: start one with 'biobank worker' (task queue '${config.temporal.taskQueue}'), or re-run with --local; still waiting…`,
          ),
        );
      if (values['no-wait']) {
        console.log(workflowId);
        return EXIT.ok;
      }
      const printer = new ProgressPrinter();
      let finished = false;
      const poll = (async () => {
        while (!finished) {
          try {
            const p = (await handle.query('progress')) as MetaProgress;
            if (!values.quiet)
              printer.update(
                [
                  p.phase,
                  p.currentActivity ? `(${p.currentActivity})` : '',
                  p.message ? `— ${p.message}` : '',
                ]
                  .filter(Boolean)
                  .join(' '),
              );
          } catch {
            // not picked up yet, or closed
          }
          await new Promise((r) => setTimeout(r, 1000));
        }
      })();
      try {
        const result = (await handle.result()) as MetaResult;
        finished = true;
        await poll;
        printer.done();
        console.log(summarise(result));
        return EXIT.ok;
      } catch (err) {
        finished = true;
        await poll;
        printer.done();
        if (err instanceof WorkflowFailedError) {
          const f = explainFailure(err);
          throw new CliError(
            `meta-analysis ${workflowId} failed: ${f?.text ?? err.message}`,
            f?.code ?? EXIT.failed,
            f?.code === EXIT.usage
              ? 'fix the spec or the input named above and run it again'
              : `inspect it with 'temporal workflow show --workflow-id ${workflowId}'`,
          );
        }
        throw err;
      }
    } finally {
      if (services) await services.stop();
      else await client.connection.close();
    }
  },
};

/** `meta check` of a PheWAS spec: every input read and validated, nothing kept. */
async function checkPhewas(spec: MetaSpec): Promise<number> {
  const { refs } = await readPhewasInputs(spec);
  for (const x of refs)
    console.log(
      `${x.label}: ${x.path} (${x.format}) ${x.rowsRead} rows, ${x.rowsKept} tested; n ${x.n ?? 'NA'}, cases ${x.nCases ?? 'NA'}, controls ${x.nControls ?? 'NA'}; sha256 ${x.sha256.slice(0, 16)}`,
    );
  const { runId } = await metaIdentity(spec);
  console.log(`ok: ${refs.length} PheWAS inputs (${spec.model}); run id ${runId}`);
  return EXIT.ok;
}

const checkCommand: Command = {
  name: 'meta check',
  summary: 'validate a meta-analysis spec and its input files without a server (nothing is written)',
  usage: `
Usage: biobank meta check <spec.json>

Reads the spec and every input file (GWAS-SSF, this engine's export, PLINK2 --glm, REGENIE
step 2; gzipped or not) in a throw-away in-memory database and prints what each holds. For
"kind": "phewas" it reads the PheWAS results (biobank-phewas, phewas-r, phetk) instead. Bad
input exits non-zero with an error naming the file, line and column. Nothing is written.`,
  examples: ['biobank meta check meta.json'],
  async run(argv) {
    const { positionals } = parse(argv, {}, true);
    if (positionals.length !== 1) throw new CliError('expected one spec file', EXIT.usage);
    const spec = await readMetaSpec(positionals[0]);
    if (spec.kind === 'phewas') return checkPhewas(spec);
    const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
    const conn = await instance.connect();
    try {
      const checked = await checkMetaInputs(conn, spec);
      for (const p of checked) {
        const dropped = Object.entries(p.dropped)
          .filter(([, n]) => n > 0)
          .map(([r, n]) => `${n} ${r}`)
          .join(', ');
        console.log(
          `${p.label}: ${p.file} (${p.format}${p.gzip ? ', gzipped' : ''}) ${p.rowsKept}/${p.rowsRead} rows kept${dropped ? `; dropped ${dropped}` : ''}; n ${p.sampleSize ?? p.maxN ?? 'NA'}, cases ${p.cases ?? 'NA'}, controls ${p.controls ?? 'NA'}; sha256 ${p.sha256.slice(0, 16)}`,
        );
      }
      const { runId } = await metaIdentity(spec);
      console.log(`ok: ${checked.length} inputs; run id ${runId}`);
      return EXIT.ok;
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
  },
};

export const metaCommands: Command[] = [runCommand, checkCommand];
