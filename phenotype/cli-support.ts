/** Shared option handling of the phenotyping CLI commands (release and map resolution). */
import { basename, join, resolve, sep } from 'node:path';
import { InputError } from '../engine/errors.js';
import { exists } from '../engine/fsutil.js';
import type { PhecodeVersion } from '../schemas/phenotype.js';
import type { EngineConfig } from '../temporal.config.js';
import { resolveMapsDir } from './maps.js';
import { resolveReleaseDir } from './release.js';

export function parseVersion(value: string | undefined, field = '--phecode-version'): PhecodeVersion {
  if (value === '1.2' || value === 'X') return value;
  throw new InputError(`expected 1.2 or X, got ${JSON.stringify(value)}`, { field });
}

/** `--release <id>` or `--release-dir <folder>` → { releaseId, releaseDir }. */
export async function releaseFromOptions(
  config: EngineConfig,
  values: { release?: string; 'release-dir'?: string },
): Promise<{ releaseId: string; releaseDir: string }> {
  if (values['release-dir']) {
    const dir = resolve(values['release-dir']);
    if (!(await exists(join(dir, 'persons.parquet')))) {
      throw new InputError('no persons.parquet in the release folder', { file: dir, field: '--release-dir' });
    }
    // `<dataDir>/releases/<id>/<fp12>` names its release; any other folder is named by itself.
    const parts = dir.split(sep);
    const inferred = parts.at(-3) === 'releases' ? (parts.at(-2) as string) : basename(dir);
    return { releaseId: values.release ?? inferred, releaseDir: dir };
  }
  if (!values.release)
    throw new InputError('give --release <id> or --release-dir <folder>', { field: '--release' });
  return { releaseId: values.release, releaseDir: await resolveReleaseDir(config, values.release) };
}

/** `--maps <folder>`, else the data folder's `phecode/<version>/`, else the shipped maps. */
export function mapsDir(config: EngineConfig, version: PhecodeVersion, maps?: string): string {
  return resolveMapsDir(config.dataDir, version, maps ? resolve(maps) : undefined);
}
