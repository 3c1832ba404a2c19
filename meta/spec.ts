/**
 * Meta-analysis specs outside workflows: reading a spec file (errors name the file, line and
 * field), resolving input paths, and the run's identity.
 *
 * Identity: the run id is `<metaId>-<16 hex>` (engine/run-paths.ts `runIdFor`) over the spec
 * without its paths (`baseDir`, `inputs[].path`) and the inputs' sha256 in spec order. The
 * content decides, not where the files lie: the same spec on the same files is the same run
 * (a second start is a no-op), a changed file or option is a new one. The CLI uses the run id
 * as the workflow id. `kind` and `model` enter the hash only for PheWAS specs (GWAS run ids
 * predate them).
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { InputError } from '../engine/errors.js';
import { canonicalJson, exists, sha256File, sha256Text } from '../engine/fsutil.js';
import { runIdFor } from '../engine/run-paths.js';
import { describeMetaIssues, type MetaSpec, metaSpecSchema } from '../schemas/meta.js';

/** The largest spec file read. */
const MAX_SPEC_BYTES = 1 << 20;

function lineOf(text: string, offset: number): number {
  return text.slice(0, offset).split('\n').length;
}

/** The line of a JSON path in the source text, best effort. */
function lineOfPath(text: string, path: PropertyKey[]): number | undefined {
  let from = 0;
  for (const key of path) {
    if (typeof key === 'number') {
      // the key-th object of the array that starts at `from`
      let at = text.indexOf('[', from);
      for (let i = 0; i <= key && at >= 0; i++) at = text.indexOf('{', at + 1);
      if (at < 0) return undefined;
      from = at;
      continue;
    }
    if (typeof key !== 'string') continue;
    const i = text.indexOf(`"${key}"`, from);
    if (i < 0) return undefined;
    from = i;
  }
  return from > 0 ? lineOf(text, from) : undefined;
}

/** Validate a parsed spec; InputError naming `file`, line and field on failure. */
export function parseMetaSpec(json: unknown, file?: string, text?: string): MetaSpec {
  const parsed = metaSpecSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const first = parsed.error.issues[0];
  const path = first.code === 'unrecognized_keys' ? [...first.path, first.keys[0]] : first.path;
  throw new InputError(
    `invalid meta-analysis spec: ${describeMetaIssues(parsed.error).join('; ')}`,
    { file, line: text ? lineOfPath(text, path) : undefined, field: path.join('.') || undefined },
    'see "Meta-analysis across sites" in the README',
  );
}

/**
 * Read and validate a spec file. `baseDir` defaults to the file's folder, so relative input
 * paths are relative to the spec.
 */
export async function readMetaSpec(file: string): Promise<MetaSpec> {
  let text: string;
  try {
    if ((await stat(file)).size > MAX_SPEC_BYTES)
      throw new InputError('the spec is larger than 1 MiB', { file });
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read the meta-analysis spec: ${(err as Error).message}`, { file });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const m = /position (\d+)/.exec((err as Error).message);
    throw new InputError(`not valid JSON: ${(err as Error).message}`, {
      file,
      line: m ? lineOf(text, Number(m[1])) : undefined,
    });
  }
  const spec = parseMetaSpec(json, file, text);
  return { ...spec, baseDir: resolve(dirname(file), spec.baseDir ?? '.') };
}

/** The absolute path of input `i`. */
export function inputPath(spec: MetaSpec, i: number): string {
  const p = spec.inputs[i].path;
  return isAbsolute(p) ? p : resolve(spec.baseDir ?? process.cwd(), p);
}

export interface MetaIdentity {
  runId: string;
  specHash: string;
  /** sha256 over the inputs' sha256, in spec order (the run's "release fingerprint"). */
  inputsHash: string;
  /** Each input's sha256. */
  sha256: string[];
}

/**
 * The part of a spec that identifies a run: everything but where the files lie. A GWAS spec
 * (`kind: "gwas"`) is hashed without `kind` and `model`, exactly as before those fields existed,
 * so its run id is unchanged.
 */
export function hashedMetaSpec(spec: MetaSpec): unknown {
  const { baseDir: _baseDir, inputs, kind, model, ...rest } = spec;
  const hashedInputs = inputs.map(({ path: _path, ...input }) => input);
  if (kind === 'gwas') return { ...rest, inputs: hashedInputs };
  return { ...rest, kind, model, inputs: hashedInputs };
}

/** The run identity from the inputs' hashes (no I/O). */
export function metaIdentityOf(spec: MetaSpec, sha256: string[]): MetaIdentity {
  const specHash = sha256Text(canonicalJson(hashedMetaSpec(spec)));
  const inputsHash = sha256Text(sha256.join('\n'));
  const runId = runIdFor({ studyId: spec.metaId, releaseFingerprint: inputsHash, specHash });
  return { runId, specHash, inputsHash, sha256 };
}

/** Hash every input (InputError naming a missing one) and derive the run identity. */
export async function metaIdentity(spec: MetaSpec): Promise<MetaIdentity> {
  const sha256: string[] = [];
  for (let i = 0; i < spec.inputs.length; i++) {
    const path = inputPath(spec, i);
    if (!(await exists(path))) {
      // A relative path without baseDir (a spec given to `temporal workflow start`) is resolved
      // against the worker's folder, which is rarely where the spec lies: say so.
      const relative = !isAbsolute(spec.inputs[i].path) && spec.baseDir === undefined;
      const hint = relative
        ? ` (the relative path ${JSON.stringify(spec.inputs[i].path)} was resolved against the worker's folder ${process.cwd()}; a spec started with \`temporal workflow start\` needs "baseDir" or absolute paths)`
        : '';
      throw new InputError(`no such file${hint}`, { file: path, field: `inputs.${i}.path` });
    }
    sha256.push(await sha256File(path));
  }
  return metaIdentityOf(spec, sha256);
}
