/**
 * Kaplan–Meier curves of one Cox PheWAS association for the report: carriers against
 * non-carriers of the predictor, on the exact data of the phecode's Cox model (the activity
 * passes the same start/stop/event vectors and predictor values), and their Parquet file.
 *
 * Groups: carrier = predictor value > 0 after rounding a dosage to whole ALT alleles (a dosage
 * of 0.4 is a non-carrier, 0.6 a carrier; burden scores and columns: value > 0 after the same
 * rounding), non-carrier = value rounded to 0. Persons with a missing (non-finite) predictor are
 * left out. Each group's curve is `stats/km.ts` (left truncation, Greenwood SE, log-log 95% CI),
 * one row per distinct event or censoring time; a group without persons has no rows.
 *
 * The rows are exact (they go to the local results database, `phewas_cox_km`); whatever leaves
 * the machine shows them coarsened (engine/privacy.ts `coarsenKmCurve`).
 */

import type { DuckDBConnection } from '@duckdb/node-api';
import { columnDefinitionsOf, columnsOfSchema } from '../schemas/columns.js';
import { phewasCoxKmRowSchema } from '../schemas/results.js';
import { kaplanMeier } from '../stats/km.js';
import { writeStagedParquet } from './staged-parquet.js';

export type KmGroup = 'carrier' | 'non_carrier';

/** One step of a group's curve (a `phewas_cox_km` row without run_id, predictor, phecode). */
export interface KmRow {
  group: KmGroup;
  time: number;
  n_at_risk: number;
  n_events: number;
  n_censored: number;
  survival: number;
  ci_low: number | null;
  ci_high: number | null;
}

export interface KmInput {
  phecode: string;
  predictor: string;
  start: Float64Array;
  stop: Float64Array;
  event: Uint8Array | number[];
  x: Float64Array;
}

/** A stored row: predictor, phecode and the step. */
export type KmParquetRow = KmRow & { predictor: string; phecode: string };

/** Carrier: a predictor value that rounds to at least 1 (≥ 1 ALT allele); null when missing. */
export function kmGroupOf(x: number): KmGroup | null {
  if (!Number.isFinite(x)) return null;
  return Math.round(x) > 0 ? 'carrier' : 'non_carrier';
}

/** The curves of carriers and non-carriers, carriers first, each in time order. */
export function kaplanMeierRows(input: KmInput): KmRow[] {
  const n = input.stop.length;
  if (input.start.length !== n || input.event.length !== n || input.x.length !== n)
    throw new RangeError(
      `kaplanMeierRows(${input.predictor}, ${input.phecode}): start, stop, event and x lengths differ`,
    );
  const rows: KmRow[] = [];
  for (const group of ['carrier', 'non_carrier'] as const) {
    const idx: number[] = [];
    for (let i = 0; i < n; i++) if (kmGroupOf(input.x[i]) === group) idx.push(i);
    const start = Float64Array.from(idx, (i) => input.start[i]);
    const stop = Float64Array.from(idx, (i) => input.stop[i]);
    const event = Uint8Array.from(idx, (i) => input.event[i]);
    for (const s of kaplanMeier(start, stop, event, { confType: 'log-log' }))
      rows.push({
        group,
        time: s.time,
        n_at_risk: s.nRisk,
        n_events: s.nEvent,
        n_censored: s.nCensor,
        survival: s.survival,
        ci_low: s.lower,
        ci_high: s.upper,
      });
  }
  return rows;
}

/** The Parquet columns: `phewas_cox_km` without run_id. */
const KM_SCHEMA = phewasCoxKmRowSchema.omit({ run_id: true });
const KM_COLUMNS = columnsOfSchema('phewas_cox_km', KM_SCHEMA);
const KM_DDL = columnDefinitionsOf('phewas_cox_km', KM_SCHEMA);

/**
 * Write curves to one Parquet file (columns predictor, phecode, group, time, n_at_risk,
 * n_events, n_censored, survival, ci_low, ci_high) through a staging table that carries the
 * contract's types, NOT NULL and CHECK constraints, then a temp file and a rename: a row
 * breaking the contract fails before any file is written.
 */
export async function writeKmParquet(
  conn: DuckDBConnection,
  rows: KmParquetRow[],
  path: string,
): Promise<void> {
  await writeStagedParquet(conn, { ddl: KM_DDL, columns: KM_COLUMNS, prefix: 'km_rows' }, rows, path);
}
