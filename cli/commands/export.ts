import {
  EXPORT_KINDS,
  type ExportKind,
  exportGwasSsf,
  exportPhewas,
  exportPheweb,
} from '../../export/index.js';
import { loadConfig } from '../../temporal.config.js';
import { parse } from '../args.js';
import { CliError, type Command, EXIT } from '../command.js';

export const exportCommand: Command = {
  name: 'export',
  summary: 'export a run as GWAS-SSF, PheWeb input files, or a PheWAS CSV (counts 1–20 suppressed)',
  usage: `
Usage: biobank export gwas-ssf|pheweb|phewas --run <run_id> --out <folder> [options]

Writes a NEW folder (it must not exist or be empty); nothing is written if anything fails.

Formats:
  gwas-ssf   GWAS Catalog summary statistics format v1.0: one <run>_<phenotype>.tsv per
             phenotype with its .tsv-meta.yaml (mandatory columns in order, #NA for missing)
  pheweb     one <phenocode>.tsv per phenotype (chrom pos ref alt pval beta sebeta af) plus
             pheno-list.json, ready for 'pheweb process'
  phewas     phewas_results.csv: every PheWAS result column of the run

Options:
  --run ID           the run to export (see: biobank query "SELECT run_id, study_id, status FROM runs")
  --out DIR          the folder to create
  --phenotype P      gwas-ssf, pheweb: only this GWAS phenotype (default: all of the run's)
  --assembly A       gwas-ssf: override the genome assembly recorded for the run's release
                     (from its manifest or VCF headers), e.g. GRCh38
  --genotyping-technology T
                     gwas-ssf: e.g. "Whole genome sequencing" (default "Genome-wide genotyping array")
  --gzip             gwas-ssf, pheweb: write .tsv.gz
  --no-suppress      show person counts from 1 to 20 as they are. By default they are
                     suppressed (shown as ≤20) per the All of Us dissemination policy
                     (threshold: BIOBANK_SMALL_CELL_MAX, default 20).`,
  examples: [
    'biobank export gwas-ssf --run ldl-gwas-13ad6f1b16e287a4 --out exports/ldl-ssf --assembly GRCh38',
    'biobank export pheweb --run ldl-gwas-13ad6f1b16e287a4 --out exports/pheweb --gzip',
    'biobank export phewas --run ldl-gwas-13ad6f1b16e287a4 --out exports/phewas',
  ],
  async run(argv) {
    const { values, positionals } = parse(
      argv,
      {
        run: { type: 'string' },
        out: { type: 'string' },
        phenotype: { type: 'string' },
        assembly: { type: 'string' },
        'genotyping-technology': { type: 'string' },
        gzip: { type: 'boolean', default: false },
        'no-suppress': { type: 'boolean', default: false },
      },
      true,
    );
    const kind = positionals[0] as ExportKind | undefined;
    if (positionals.length !== 1 || !kind || !EXPORT_KINDS.includes(kind))
      throw new CliError(
        `expected one format: ${EXPORT_KINDS.join(', ')}`,
        EXIT.usage,
        'see biobank export --help',
      );
    if (!values.run) throw new CliError('--run <run_id> is required', EXIT.usage);
    if (!values.out) throw new CliError('--out <folder> is required', EXIT.usage);
    if (kind === 'phewas') {
      for (const flag of ['phenotype', 'assembly', 'genotyping-technology', 'gzip'] as const)
        if (values[flag]) throw new CliError(`--${flag} does not apply to the phewas export`, EXIT.usage);
    }
    if (kind === 'pheweb' && (values.assembly || values['genotyping-technology']))
      throw new CliError('--assembly and --genotyping-technology apply to gwas-ssf only', EXIT.usage);
    const config = loadConfig();
    const common = { runId: values.run, out: values.out, suppress: !values['no-suppress'] };
    const result =
      kind === 'gwas-ssf'
        ? await exportGwasSsf(config, {
            ...common,
            phenotype: values.phenotype,
            gzip: values.gzip,
            genomeAssembly: values.assembly,
            genotypingTechnology: values['genotyping-technology']
              ? [values['genotyping-technology']]
              : undefined,
          })
        : kind === 'pheweb'
          ? await exportPheweb(config, { ...common, phenotype: values.phenotype, gzip: values.gzip })
          : await exportPhewas(config, common);
    for (const r of result.rows)
      console.log(`${r.name}: ${r.written} rows written${r.excluded ? `, ${r.excluded} left out` : ''}`);
    console.log(
      `wrote ${result.files.length} files to ${result.out}${common.suppress ? ` (counts 1-${config.privacy.smallCellMax} shown as ≤${config.privacy.smallCellMax})` : ' (counts NOT suppressed)'}`,
    );
    return EXIT.ok;
  },
};
