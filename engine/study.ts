/**
 * Study specs outside workflows: reading a spec file with errors that name the file, line and
 * field; the spec hash; resolving the release a spec names.
 */
import { readFile, stat } from 'node:fs/promises';
import { ZodError } from 'zod';
import { describeIssues, hashedSpecPart, type StudySpec, studySpecSchema } from '../schemas/study.js';
import type { EngineConfig } from '../temporal.config.js';
import { InputError } from './errors.js';
import { canonicalJson, sha256Text } from './fsutil.js';
import { findRelease } from './release.js';
import { runIdFor } from './results.js';

/** Line (1-based) of a character offset in `text`. */
function lineOf(text: string, offset: number): number {
  return text.slice(0, offset).split('\n').length;
}

/** Find the line of a JSON field path in the source text, best effort (for messages). */
function lineOfPath(text: string, path: PropertyKey[]): number | undefined {
  let from = 0;
  for (const key of path) {
    if (typeof key !== 'string') continue;
    const i = text.indexOf(`"${key}"`, from);
    if (i < 0) return undefined;
    from = i;
  }
  return from > 0 ? lineOf(text, from) : undefined;
}

/** Parse and validate a study spec file. Throws InputError naming file, line and field. */
/** Largest study spec file read (a spec is a few KB; a larger one is a mistake, not a study). */
export const MAX_SPEC_BYTES = 1 << 20;

export async function readStudySpec(file: string): Promise<StudySpec> {
  let text: string;
  try {
    const size = (await stat(file)).size;
    if (size > MAX_SPEC_BYTES) {
      throw new InputError(
        `the study spec is ${(size / 1e6).toFixed(1)} MB; a spec may be at most ${MAX_SPEC_BYTES / (1 << 20)} MiB`,
        { file },
        'a spec lists names and options; put long lists (variants, persons) in a release table instead',
      );
    }
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read the study spec: ${(err as Error).message}`, { file });
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
  try {
    return studySpecSchema.parse(json);
  } catch (err) {
    if (!(err instanceof ZodError)) throw err;
    const first = err.issues[0];
    const path = first.code === 'unrecognized_keys' ? [...first.path, first.keys[0]] : first.path;
    throw new InputError(
      `invalid study spec: ${describeIssues(err).join('; ')}`,
      { file, line: lineOfPath(text, path), field: path.join('.') || undefined },
      'see the study spec examples in the README',
    );
  }
}

/**
 * sha256 of the parsed spec's canonical JSON, without the release it runs on and without late
 * defaults at their default (schemas/study.ts `hashedSpecPart`, LATE_DEFAULTS).
 */
export function specHash(spec: StudySpec): string {
  return sha256Text(canonicalJson(hashedSpecPart(spec)));
}

export interface ReleaseRef {
  releaseId: string;
  fingerprint: string;
  dataPath: string;
}

/** The registered release a spec names, or an InputError telling how to register it. */
export async function resolveRelease(config: EngineConfig, releaseId: string): Promise<ReleaseRef> {
  const found = await findRelease(config, releaseId);
  if (!found) {
    throw new InputError(
      `release '${releaseId}' is not registered`,
      { field: 'release' },
      "register it with 'biobank release add <manifest.json>' (see 'biobank release list')",
    );
  }
  return { releaseId, fingerprint: found.fingerprint, dataPath: found.data_path };
}

/** The run id of `spec` on its (registered) release. */
export async function runIdOf(config: EngineConfig, spec: StudySpec): Promise<string> {
  const release = await resolveRelease(config, spec.release);
  return runIdFor({
    studyId: spec.studyId,
    releaseFingerprint: release.fingerprint,
    specHash: specHash(spec),
  });
}
