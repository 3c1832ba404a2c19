/**
 * `materializeAnalysis`: build (or reuse) the run's analysis table (phenotype/analysis.ts) and
 * record it next to the table.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { asEngineContext, type EngineContext } from '../engine/context.js';
import { atomicWriteFile, exists } from '../engine/fsutil.js';
import { buildAnalysisTable } from '../phenotype/analysis.js';
import type { StudySpec } from '../schemas/study.js';
import type { AnalysisTable, RunContext } from '../schemas/study-io.js';
import type { EngineConfig } from '../temporal.config.js';
import { cancellableStep } from './keepalive.js';

export function createAnalysisActivities(from: EngineConfig | EngineContext) {
  const engine = asEngineContext(from);
  const { config } = engine;
  return {
    /** Build (or reuse) the run's analysis table. See the module comment. */
    async materializeAnalysis(input: { run: RunContext; spec: StudySpec }): Promise<AnalysisTable> {
      const { run, spec } = input;
      const path = join(run.runDir, 'analysis.parquet');
      const record = `${path}.json`;
      if ((await exists(path)) && (await exists(record))) {
        return JSON.parse(await readFile(record, 'utf8')) as AnalysisTable;
      }
      await mkdir(run.runDir, { recursive: true });
      return engine.compute(async (conn) => {
        const analysis = await cancellableStep(conn, { step: 'materializeAnalysis' }, (c) =>
          buildAnalysisTable(
            c,
            config,
            run,
            spec,
            spec.kind === 'phenotype-first' ? spec.phenotype : null,
            path,
          ),
        );
        await atomicWriteFile(record, JSON.stringify(analysis));
        return analysis;
      });
    },
  };
}
