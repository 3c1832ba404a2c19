/**
 * Every `biobank` sub-command, in the order `biobank --help` lists them. Only names and
 * summaries live here; a command's module (and with it the Temporal SDK, DuckDB, the report's
 * libraries…) is imported when that command runs or shows its help, so `biobank --help` and
 * light commands start fast. A test checks each summary against its command.
 */
import type { Command } from '../command.js';

export interface CommandEntry {
  /** The words after `biobank`, e.g. `query` or `release add`. */
  name: string;
  summary: string;
  /** Import the command's module and return the command. */
  load(): Promise<Command>;
}

type Module = Record<string, unknown>;

/** The command called `name` among a module's exports (a Command or an array of them). */
function pick(name: string, mod: Module): Command {
  for (const value of Object.values(mod)) {
    for (const c of Array.isArray(value) ? value : [value]) {
      if (
        c &&
        typeof c === 'object' &&
        (c as Command).name === name &&
        typeof (c as Command).run === 'function'
      )
        return c as Command;
    }
  }
  throw new Error(`command '${name}' is not exported by its module`);
}

function entry(name: string, summary: string, load: () => Promise<Module>): CommandEntry {
  return { name, summary, load: async () => pick(name, await load()) };
}

/** Each command module's loader, by the command's first word. */
const MODULES: Record<string, () => Promise<Module>> = {
  demo: () => import('./demo.js'),
  'dev-server': () => import('./dev-server.js'),
  worker: () => import('./worker.js'),
  query: () => import('./query.js'),
  export: () => import('./export.js'),
  report: () => import('./report.js'),
  serve: () => import('./serve.js'),
  synth: () => import('./synth.js'),
  study: () => import('./study.js'),
  meta: () => import('./meta.js'),
  schedule: () => import('./schedule.js'),
  release: () => import('./release.js'),
  phecodes: () => import('./phecodes.js'),
  phenome: () => import('./phenome.js'),
  explain: () => import('./explain.js'),
  verify: () => import('./verify.js'),
};

/** Every command and its one-line summary, in `biobank --help` order. */
const SUMMARIES: [name: string, summary: string][] = [
  ['demo', 'run both study kinds end to end on the embedded synthetic biobank'],
  ['dev-server', 'run a local Temporal server whose state persists under the data folder'],
  ['worker', 'serve the biobank task queue: every workflow and activity'],
  ['query', 'run read-only SQL over the engine database (releases, runs, results)'],
  ['export', 'export a run as GWAS-SSF, PheWeb input files, or a PheWAS CSV (counts 1–20 suppressed)'],
  ['report', 'write the HTML report of a run (Manhattan, QQ, lead loci, PheWAS, burden, QC, provenance)'],
  ['serve', 'browse results in a local web viewer (read-only; 127.0.0.1 by default)'],
  ['synth', 'generate a deterministic synthetic biobank release (VCF, EHR, labs, truth)'],
  ['study run', 'start a study from a JSON spec, show progress and wait for it'],
  ['study status', "show a running study's phase and progress"],
  [
    'meta run',
    'meta-analyse summary statistics from other sites or strata (GWAS-SSF, PLINK2, REGENIE; PheWAS results)',
  ],
  ['meta check', 'validate a meta-analysis spec and its input files without a server (nothing is written)'],
  ['schedule create', 're-run registered studies whenever a release manifest changes (Temporal Schedule)'],
  ['schedule trigger', 'start a refresh now'],
  ['schedule describe', 'show the schedule and its recent runs'],
  ['schedule delete', 'remove the schedule'],
  [
    'release add',
    'ingest a biobank release (VCF/PLINK/BGEN + EHR or OMOP) from its manifest and register it',
  ],
  ['release list', 'list registered releases with their fingerprints and counts'],
  ['phecodes fetch', 'download the public phecode 1.2 or phecodeX maps into the data folder'],
  ['phecodes load', 'check phecode map files from a local folder and install them in the data folder'],
  ['phenome build', 'materialise the case/control/excluded phenome of a release for phecode 1.2 or X'],
  ['explain', 'say why a person is a case, control or excluded for a phecode'],
  ['verify', 'check every recorded result file against the catalog (size and sha256)'],
];

export const commands: CommandEntry[] = SUMMARIES.map(([name, summary]) =>
  entry(name, summary, MODULES[name.split(' ')[0]]),
);

/** The sub-commands of a group word (`release` → `release add`, `release list`), if it is one. */
export function groupOf(word: string): CommandEntry[] {
  return commands.filter((c) => c.name.startsWith(`${word} `));
}
