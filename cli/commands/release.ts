/**
 * `biobank release add <manifest.json>` and `biobank release list`.
 *
 * `release add` runs the `ingestRelease` workflow through Temporal: it uses the configured
 * server and worker when they are up, and otherwise starts a dev server and an in-process
 * worker for the duration of the command (cli/services.ts). `--in-process` skips
 * Temporal altogether and calls the same activities in the same order in this process
 * (`runIngestSteps`), for machines where no Temporal server can run; it is not durable.
 */
import { resolve } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { listReleases } from '../../engine/release.js';
import { loadConfig } from '../../temporal.config.js';
import { runIngestInProcess } from '../../worker.js';
import type { IngestReleaseInput, IngestReleaseResult } from '../../workflows/ingest-release.js';
import { parse } from '../args.js';
import { CliError, type Command, EXIT } from '../command.js';
import { explainFailure } from '../failure.js';
import { type Format, type Row, render } from '../format.js';
import { ingestThroughTemporal } from '../ingest-run.js';
import { ensureServices } from '../services.js';

function failureMessage(err: WorkflowFailedError): CliError {
  const f = explainFailure(err);
  if (f?.code === EXIT.usage)
    return new CliError(f.text, EXIT.usage, 'fix the input; nothing was registered');
  return new CliError(`ingest failed: ${f?.text ?? err.message}`, EXIT.failed);
}

export const releaseAddCommand: Command = {
  name: 'release add',
  summary: 'ingest a biobank release (VCF/PLINK/BGEN + EHR or OMOP) from its manifest and register it',
  usage: `
Usage: biobank release add <manifest.json> [--quarantine] [--parallel N] [--shards N] [--in-process]

Validates the manifest, converts the genotype files (VCF, PLINK 1 .bed, PLINK 2 .pgen, BGEN 1.2)
to Parquet in parallel resumable shards, ingests the EHR (flat tables or an OMOP CDM folder), and
registers the release (id, fingerprint, counts) in the engine database. Adding the same release
again (same fingerprint) does nothing. Manifest rules: docs/formats.md and docs/omop.md.

Options:
  --quarantine   send bad EHR rows to rejects.parquet with a reason instead of failing
  --parallel N   shard activities at once (default 4)
  --shards N     target shards per genotype file (default 2; large files get more)
  --in-process   run the steps in this process without Temporal (not durable)`,
  examples: [
    'biobank release add data/demo/release.json',
    'biobank release add /biobank/2026-11/release.json --quarantine --parallel 8',
  ],
  async run(argv) {
    const { values, positionals } = parse(
      argv,
      {
        quarantine: { type: 'boolean', default: false },
        parallel: { type: 'string', default: '4' },
        shards: { type: 'string', default: '2' },
        'in-process': { type: 'boolean', default: false },
      },
      true,
    );
    if (positionals.length !== 1) throw new CliError('expected one manifest path', EXIT.usage, 'see --help');
    const maxParallel = Number(values.parallel);
    const shardsPerFile = Number(values.shards);
    if (!Number.isInteger(maxParallel) || maxParallel < 1)
      throw new CliError('--parallel must be a whole number ≥ 1');
    if (!Number.isInteger(shardsPerFile) || shardsPerFile < 1)
      throw new CliError('--shards must be a whole number ≥ 1');
    const input: IngestReleaseInput = {
      manifestPath: resolve(positionals[0]),
      quarantine: values.quarantine,
      maxParallel,
      shardsPerFile,
    };
    const config = loadConfig();
    const t0 = Date.now();
    let result: IngestReleaseResult;
    if (values['in-process']) {
      result = await runIngestInProcess(config, input);
    } else {
      const services = await ensureServices(config);
      try {
        // The workflow id comes from the release's content: adding the same release twice
        // attaches to the first ingest instead of starting another (cli/ingest-run.ts).
        result = await ingestThroughTemporal(services, config, input, { prefix: 'ingest: ' });
      } catch (err) {
        if (err instanceof WorkflowFailedError) throw failureMessage(err);
        throw err;
      } finally {
        await services.stop();
      }
    }
    if (!result.ingested) {
      console.log(
        `release ${result.releaseId} is already registered with fingerprint ${result.fingerprint.slice(0, 12)}; nothing to do`,
      );
      return EXIT.ok;
    }
    console.log(
      `registered release ${result.releaseId} (fingerprint ${result.fingerprint.slice(0, 12)}): ` +
        `${result.nSamples} samples, ${result.nVariants} variants in ${result.nShards} shards, ` +
        `${result.nPersons} persons, ${result.nConditions} conditions, ${result.nRejects} rejected rows ` +
        `in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    for (const note of result.notes ?? []) console.log(`note: ${note}`);
    console.log(`data: ${result.dataPath}`);
    console.log(
      `query: biobank query "SELECT chrom, pos, ref, alt, af FROM variants WHERE release_id = '${result.releaseId}' LIMIT 10"`,
    );
    return EXIT.ok;
  },
};

export const releaseListCommand: Command = {
  name: 'release list',
  summary: 'list registered releases with their fingerprints and counts',
  usage: `
Usage: biobank release list [--format table|csv|tsv|json]`,
  examples: ['biobank release list', 'biobank release list --format json'],
  async run(argv) {
    const { values } = parse(argv, { format: { type: 'string', default: 'table' } });
    const format = values.format as Format;
    if (!['table', 'csv', 'tsv', 'json'].includes(format))
      throw new CliError('--format must be table, csv, tsv or json');
    const rows = (await listReleases(loadConfig())).map((r) => ({
      release_id: r.release_id,
      fingerprint: r.fingerprint.slice(0, 12),
      samples: r.n_samples,
      variants: r.n_variants,
      persons: r.n_persons,
      conditions: r.n_conditions,
      rejects: r.n_rejects,
      created_at: r.created_at,
      data_path: r.data_path,
    })) as Row[];
    const columns = [
      'release_id',
      'fingerprint',
      'samples',
      'variants',
      'persons',
      'conditions',
      'rejects',
      'created_at',
      'data_path',
    ];
    console.log(render(columns, rows, format));
    return EXIT.ok;
  },
};

/** Both `release` sub-commands, for cli/commands/index.ts. */
export const releaseCommands: Command[] = [releaseAddCommand, releaseListCommand];
