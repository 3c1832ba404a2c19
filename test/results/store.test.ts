/**
 * The results database: tables derived from the zod contracts, idempotent per-run writes, the
 * `gwas_results` view over Parquet, and what a user sees opening the .duckdb file directly.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResultsActivities } from '../../activities/results.js';
import { withCompute, withEngineDb } from '../../engine/duckdb.js';
import { InputError } from '../../engine/errors.js';
import {
  deleteRun,
  ensureResultsSchema,
  finishRun,
  getRun,
  gwasDir,
  listRuns,
  readRunResults,
  recordRun,
  runIdFor,
  writeRunResults,
} from '../../engine/results.js';
import { columnsOf, RESULT_TABLE_NAMES, TABLE_SCHEMAS, type TableName } from '../../schemas/results.js';
import { type Fixture, makeFixture, TOP_HIT_PHECODES_SQL } from './fixture.js';

let fx: Fixture;

beforeAll(async () => {
  fx = await makeFixture();
});
afterAll(async () => {
  await fx?.cleanup();
});

/** Open the engine database file in a NEW DuckDB instance, as a user would with the DuckDB CLI. */
async function openDirectly<T>(
  fn: (q: (sql: string) => Promise<Record<string, unknown>[]>) => Promise<T>,
): Promise<T> {
  const db = await DuckDBInstance.create(fx.config.database, { access_mode: 'READ_ONLY' });
  const conn = await db.connect();
  try {
    return await fn(
      async (sql) => (await conn.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[],
    );
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

async function count(table: string, runId = fx.runId): Promise<number> {
  return withEngineDb(
    fx.config,
    async (conn) =>
      Number(
        (
          await conn.runAndReadAll(`SELECT count(*) FROM ${table} WHERE run_id = $1`, [runId])
        ).getRows()[0][0],
      ),
    { readOnly: true },
  );
}

describe('results schema', () => {
  it('declares every column of every table in the database, with the contract types and nullability', async () => {
    await openDirectly(async (q) => {
      for (const table of Object.keys(TABLE_SCHEMAS) as TableName[]) {
        const described = await q(`DESCRIBE ${table}`);
        const expected = columnsOf(table);
        expect(
          described.map((d) => d.column_name),
          table,
        ).toEqual(expected.map((c) => c.name));
        expect(
          described.map((d) => d.column_type),
          table,
        ).toEqual(expected.map((c) => c.sql));
        if (table !== 'gwas_results')
          expect(
            described.map((d) => d.null === 'YES'),
            table,
          ).toEqual(expected.map((c) => c.nullable));
      }
    });
  });

  it('rejects, at the database, values the zod contract rejects (enumerations, NOT NULL)', async () => {
    const bad = await withEngineDb(fx.config, async (conn) => {
      const errors: string[] = [];
      for (const sql of [
        `INSERT INTO qc_summary VALUES ('${fx.runId}', 'variant_qc', NULL, 1, 2, 1, 1)`,
        `INSERT INTO phewas_results (run_id, predictor, predictor_type, phecode, phecode_version, n_cases, n_controls, n_excluded, status)
         VALUES ('${fx.runId}', 'x', 'gene', '250.2', '1.2', 1, 1, 0, 'ok')`,
      ]) {
        await conn.run(sql).then(
          () => errors.push('accepted'),
          (e: Error) => errors.push(e.message.split('\n')[0]),
        );
      }
      return errors;
    });
    expect(bad[0]).toMatch(/NOT NULL/i);
    expect(bad[1]).toMatch(/CHECK/i);
    expect(TABLE_SCHEMAS.phewas_results.shape.predictor_type.safeParse('gene').success).toBe(false);
  });

  it('is documented in docs/results.md: every table, every column, with its type', async () => {
    const doc = await readFile(resolve(__dirname, '../../docs/results.md'), 'utf8');
    for (const table of Object.keys(TABLE_SCHEMAS) as TableName[]) {
      const start = doc.search(new RegExp(`^### ${table}\\b`, 'm'));
      expect(start, table).toBeGreaterThan(0);
      const end = doc.indexOf('\n### ', start + 1);
      const section = doc.slice(start, end < 0 ? undefined : end);
      const documented = [...section.matchAll(/^\| `([a-z_0-9]+)` \| ([A-Z ]+) \|/gm)].map(
        (m) => `${m[1]} ${m[2].trim()}`,
      );
      expect(documented, table).toEqual(columnsOf(table).map((c) => `${c.name} ${c.sql}`));
    }
  });

  it('is created idempotently', async () => {
    await withEngineDb(fx.config, async (conn) => {
      await ensureResultsSchema(conn, fx.config.dataDir);
      await ensureResultsSchema(conn, fx.config.dataDir);
    });
    expect(await count('phewas_results')).toBe(fx.phewas.length);
  });
});

describe('idempotent per-run writes', () => {
  it('writing the same results twice leaves one copy, in every table', async () => {
    const before: Record<string, number> = {};
    for (const t of RESULT_TABLE_NAMES) before[t] = await count(t);
    await writeRunResults(fx.config, fx.runId, 'gwas_results', fx.gwas);
    await writeRunResults(fx.config, fx.runId, 'phewas_results', fx.phewas);
    await writeRunResults(fx.config, fx.runId, 'lead_loci', fx.lead);
    await writeRunResults(fx.config, fx.runId, 'qc_summary', fx.qc);
    await writeRunResults(fx.config, fx.runId, 'burden_results', fx.burden);
    await writeRunResults(fx.config, fx.runId, 'gwas_phenotypes', fx.phenotypes);
    for (const t of RESULT_TABLE_NAMES) expect(await count(t), t).toBe(before[t]);
    expect(before.gwas_results).toBe(fx.gwas.length);
    expect(before.phewas_results).toBe(fx.phewas.length);
  });

  it('reads back exactly the rows written', async () => {
    const phewas = await readRunResults(fx.config, fx.runId, 'phewas_results');
    const key = (r: { predictor: string; phecode: string }) => `${r.predictor}|${r.phecode}`;
    const want = [...fx.phewas]
      .map((r) => ({ run_id: fx.runId, ...r }))
      .sort((a, b) => (key(a) < key(b) ? -1 : 1));
    expect(phewas).toEqual(want);
    const gwas = await readRunResults(fx.config, fx.runId, 'gwas_results', { phenotype: 'LDL' });
    expect(gwas).toHaveLength(fx.gwas.filter((r) => r.phenotype === 'LDL').length);
    const top = gwas.find((r) => r.variant_id === fx.topVariant);
    expect(top).toMatchObject({ p: 0, neg_log10_p: 350, chrom: '1', test: 'linear' });
  });

  it('reads back exactly a large batch (the appender path), nulls, JSON and BIGINT included', async () => {
    const runId = runIdFor({
      studyId: 'big-batch',
      releaseFingerprint: 'f'.repeat(64),
      specHash: 'e'.repeat(64),
    });
    const rows = Array.from({ length: 1300 }, (_, i) => ({
      run_id: runId,
      input_index: i,
      label: `site ${i} "quoted", ünïcode`,
      format: 'gwas-ssf',
      path: `/data/in/${i}.tsv.gz`,
      sha256: (i % 16).toString(16).repeat(64),
      rows_read: 2 ** 40 + i,
      rows_kept: i,
      dropped_json: JSON.stringify({ strand_ambiguous: i, note: 'a "b"' }),
      n: i % 3 === 0 ? null : 1000 + i,
      n_cases: null,
      n_controls: i % 5 === 0 ? 0 : i,
      ancestry: i % 2 ? 'EUR' : null,
      lambda_gc: i % 4 === 0 ? null : 1 + i / 1e6,
    }));
    await writeRunResults(fx.config, runId, 'meta_inputs', rows);
    const back = await readRunResults(fx.config, runId, 'meta_inputs');
    expect(back.map((r) => ({ ...r, dropped_json: JSON.parse(r.dropped_json as string) }))).toEqual(
      rows.map((r) => ({ ...r, dropped_json: JSON.parse(r.dropped_json) })),
    );
    // a rewrite replaces the batch, and a bad row anywhere in it changes nothing
    const bad = rows.map((r, i) => (i === 1200 ? { ...r, sha256: null } : r));
    await expect(writeRunResults(fx.config, runId, 'meta_inputs', bad as never)).rejects.toThrow(
      /meta_inputs\[1200\]\.sha256/,
    );
    expect(await readRunResults(fx.config, runId, 'meta_inputs')).toHaveLength(1300);
    await deleteRun(fx.config, runId);
  });

  it('accepts a Parquet file as the source and replaces the run rows', async () => {
    const file = join(fx.dataDir, 'lead.parquet');
    await withCompute(fx.config, async (conn) => {
      await conn.run(
        `COPY (SELECT 'ignored' AS run_id, 'LDL' AS phenotype, 1 AS locus_id, '2' AS chrom, 100::BIGINT AS pos, 'A' AS ref,
           'G' AS alt, '2:100:A:G' AS variant_id, 1e-9 AS p, 0.1 AS beta, 0::BIGINT AS start, 500100::BIGINT AS "end",
           3 AS n_variants_in_locus) TO '${file}' (FORMAT parquet)`,
      );
    });
    const written = await writeRunResults(fx.config, fx.runId, 'lead_loci', { parquet: file });
    expect(written.rows).toBe(1);
    expect(await readRunResults(fx.config, fx.runId, 'lead_loci')).toMatchObject([
      { run_id: fx.runId, variant_id: '2:100:A:G', end: 500100 },
    ]);
    await writeRunResults(fx.config, fx.runId, 'lead_loci', fx.lead);
    expect(await count('lead_loci')).toBe(fx.lead.length);
  });

  it('rejects bad input with file, row and field, and changes nothing', async () => {
    const bad = [{ ...fx.qc[0] }, { ...fx.qc[1], n_removed: -4 }];
    const err = await writeRunResults(fx.config, fx.runId, 'qc_summary', bad).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toContain('qc_summary[1].n_removed');
    expect(await count('qc_summary')).toBe(fx.qc.length);

    const file = join(fx.dataDir, 'bad-gwas.parquet');
    await withCompute(fx.config, async (conn) => {
      await conn.run(
        `COPY (SELECT * FROM (VALUES ('LDL', '1', 5::BIGINT, 'A', 'G', '1:5:A:G', NULL, 10, 0.1, 0.1, 0.1, 1.0, 0.5, 0.3, 'linear', 'ok'),
                                     ('LDL', '1', 6::BIGINT, 'A', 'G', '1:6:A:G', NULL, 10, 0.1, 0.1, 0.1, 1.0, 1.5, 0.3, 'linear', 'ok'))
               t(phenotype, chrom, pos, ref, alt, variant_id, rsid, n, af, beta, se, stat, p, neg_log10_p, test, status))
         TO '${file}' (FORMAT parquet)`,
      );
    });
    const perr = await writeRunResults(fx.config, fx.runId, 'gwas_results', { parquet: file }).catch(
      (e) => e,
    );
    expect(perr).toBeInstanceOf(InputError);
    expect(perr.message).toMatch(/bad-gwas\.parquet, line 2, field p/);
    const missing = join(fx.dataDir, 'no-test-column.parquet');
    await withCompute(fx.config, (conn) =>
      conn.run(`COPY (SELECT 'LDL' AS phenotype) TO '${missing}' (FORMAT parquet)`),
    );
    const merr = await writeRunResults(fx.config, fx.runId, 'gwas_results', { parquet: missing }).catch(
      (e) => e,
    );
    expect(merr).toBeInstanceOf(InputError);
    expect(merr.message).toContain('no-test-column.parquet');
    expect(await count('gwas_results')).toBe(fx.gwas.length);
    // No temp folders are left in the run folder.
    expect((await readdir(join(fx.dataDir, 'runs', fx.runId))).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('replaces one named GWAS part (a shard) without touching the others', async () => {
    const other = runIdFor({ studyId: 'sharded', releaseFingerprint: 'fp', specHash: 'h' });
    const rows = fx.gwas.filter((r) => r.phenotype === 'LDL' && r.chrom === '1');
    const [a, b] = [rows.slice(0, 100), rows.slice(100)];
    await writeRunResults(fx.config, other, 'gwas_results', a, { part: 'shard-0' });
    await writeRunResults(fx.config, other, 'gwas_results', b, { part: 'shard-1' });
    await writeRunResults(fx.config, other, 'gwas_results', b, { part: 'shard-1' }); // a retry
    expect(await count('gwas_results', other)).toBe(rows.length);
    // A retried shard that now writes fewer rows drops its stale rows.
    await writeRunResults(fx.config, other, 'gwas_results', b.slice(0, 3), { part: 'shard-1' });
    expect(await count('gwas_results', other)).toBe(a.length + 3);
    await deleteRun(fx.config, other);
    expect(await count('gwas_results', other)).toBe(0);
  });
});

describe('runs', () => {
  it('derives the run id from study, release fingerprint and spec hash', () => {
    const a = runIdFor({ studyId: 'ldl-gwas', releaseFingerprint: 'f1', specHash: 's1' });
    expect(runIdFor({ studyId: 'ldl-gwas', releaseFingerprint: 'f1', specHash: 's1' })).toBe(a);
    expect(runIdFor({ studyId: 'ldl-gwas', releaseFingerprint: 'f2', specHash: 's1' })).not.toBe(a);
    expect(runIdFor({ studyId: 'ldl-gwas', releaseFingerprint: 'f1', specHash: 's2' })).not.toBe(a);
    expect(a).toMatch(/^ldl-gwas-[0-9a-f]{16}$/);
  });

  it('records a run start and finish, once per run id', async () => {
    const run = await getRun(fx.config, fx.runId);
    expect(run).toMatchObject({ study_id: 'ldl-gwas', status: 'completed' });
    const id = runIdFor({ studyId: 'ldl-gwas', releaseFingerprint: 'other-release', specHash: 'x' });
    const start = {
      ...(run as NonNullable<typeof run>),
      run_id: id,
      status: 'running' as const,
      finished_at: null,
    };
    await recordRun(fx.config, start);
    await recordRun(fx.config, start); // a retried start
    await finishRun(fx.config, id, {
      status: 'failed',
      finished_at: '2026-11-24T05:00:00.000Z',
      timings_json: '{"gwas": 10}',
      error: 'boom',
    });
    expect(await getRun(fx.config, id)).toMatchObject({
      status: 'failed',
      error: 'boom',
      finished_at: '2026-11-24T05:00:00.000Z',
    });
    expect((await listRuns(fx.config)).filter((r) => r.run_id === id)).toHaveLength(1);
    await expect(
      finishRun(fx.config, runIdFor({ studyId: 'nope', releaseFingerprint: 'a', specHash: 'b' }), {
        status: 'completed',
        finished_at: '2026-11-24T05:00:00.000Z',
        timings_json: null,
      }),
    ).rejects.toThrow(/unknown run id/);
    await deleteRun(fx.config, id);
    expect(await getRun(fx.config, id)).toBeUndefined();
  });
});

describe('results activities', () => {
  it('write small tables from the payload, big ones only from Parquet, and record a run start and finish', async () => {
    const acts = createResultsActivities(fx.config);
    const rows = fx.qc.map((r) => ({ ...r }));
    expect(await acts.writeRunResults({ runId: fx.runId, table: 'qc_summary', rows })).toEqual({ rows: 2 });
    expect(await acts.writeRunResults({ runId: fx.runId, table: 'qc_summary', rows })).toEqual({ rows: 2 });
    expect(await count('qc_summary')).toBe(2);
    await expect(
      acts.writeRunResults({ runId: fx.runId, table: 'phewas_results', rows: [] }),
    ).rejects.toThrow(/must come as a Parquet file/);
    const runId = await acts.resultsRunId({ studyId: 'acts', releaseFingerprint: 'f', specHash: 's' });
    await acts.recordRunStart({
      run_id: runId,
      study_id: 'acts',
      release_id: 'demo-2026-11',
      release_fingerprint: 'f',
      spec_hash: 's',
      phecode_maps_json: '{}',
      started_at: '2026-11-24T04:00:00.000Z',
      workflow_id: 'wf',
      workflow_run_id: null,
    });
    expect(await getRun(fx.config, runId)).toMatchObject({
      status: 'running',
      software_version: expect.stringMatching(/^\d+\.\d+\.\d+/),
    });
    await acts.recordRunFinish({
      runId,
      status: 'cancelled',
      finished_at: '2026-11-24T04:01:00.000Z',
      timings_json: null,
    });
    expect(await getRun(fx.config, runId)).toMatchObject({ status: 'cancelled' });
    await deleteRun(fx.config, runId);
  });
});

describe('the .duckdb file opened directly', () => {
  it('shows gwas_results and the other tables as ordinary relations', async () => {
    await openDirectly(async (q) => {
      const names = (await q('SELECT table_name, table_type FROM information_schema.tables ORDER BY 1')).map(
        (r) => `${r.table_name}:${r.table_type}`,
      );
      for (const t of [
        'studies',
        'runs',
        'phewas_results',
        'burden_results',
        'lead_loci',
        'qc_summary',
        'gwas_phenotypes',
      ])
        expect(names).toContain(`${t}:BASE TABLE`);
      expect(names).toContain('gwas_results:VIEW');
      const byPheno = await q(
        `SELECT phenotype, count(*) AS n FROM gwas_results WHERE run_id = '${fx.runId}' GROUP BY 1 ORDER BY 1`,
      );
      const want = ['250.2', 'LDL', 'rare'].map((p) => ({
        phenotype: p,
        n: String(fx.gwas.filter((r) => r.phenotype === p).length),
      }));
      expect(byPheno).toEqual(want);
    });
  });

  it('answers "which phecodes are associated with the top GWAS hit, with n cases >= 100?" in one statement', async () => {
    // The statement shown in docs/results.md (checked below) and the README.
    const sql = TOP_HIT_PHECODES_SQL;
    const doc = await readFile(resolve(__dirname, '../../docs/results.md'), 'utf8');
    expect(doc).toContain(sql);
    const got = await openDirectly((q) => q(sql));
    // Expected from the fixture rows themselves, by the definition in the question.
    const tested = fx.phewas.filter((r) => r.predictor === fx.topVariant && r.status === 'ok');
    const want = tested
      .filter((r) => r.n_cases >= 100 && (r.p as number) < 0.05 / tested.length)
      .sort((a, b) => (a.p as number) - (b.p as number))
      .map((r) => r.phecode);
    expect(want.length).toBeGreaterThan(1);
    expect(got.map((r) => r.phecode)).toEqual(want);
    // A significant phecode with fewer than 100 cases exists and is correctly left out.
    expect(tested.some((r) => r.n_cases < 100 && (r.p as number) < 0.05 / tested.length)).toBe(true);
  });
});

describe('gwas_results before any Parquet exists', () => {
  it('is an empty table, and becomes a view once a partition is written, and a table again after', async () => {
    const dataDir = join(fx.dataDir, 'fresh');
    const config = { ...fx.config, dataDir, database: join(dataDir, 'engine.duckdb') };
    await withEngineDb(config, (conn) => ensureResultsSchema(conn, dataDir));
    const kind = async () =>
      withEngineDb(
        config,
        async (conn) =>
          (
            await conn.runAndReadAll(
              `SELECT table_type FROM information_schema.tables WHERE table_catalog = 'engine' AND table_name = 'gwas_results'`,
            )
          ).getRows()[0]?.[0],
        { readOnly: true },
      );
    expect(await kind()).toBe('BASE TABLE');
    const runId = runIdFor({ studyId: 'fresh', releaseFingerprint: 'f', specHash: 's' });
    await writeRunResults(config, runId, 'gwas_results', fx.gwas.slice(0, 10));
    expect(await kind()).toBe('VIEW');
    expect((await readdir(gwasDir(dataDir, runId))).sort()).toEqual(['phenotype=LDL']);
    await deleteRun(config, runId);
    expect(await kind()).toBe('BASE TABLE');
    const n = await withEngineDb(
      config,
      async (c) => (await c.runAndReadAll('SELECT count(*) FROM gwas_results')).getRows()[0][0],
      {
        readOnly: true,
      },
    );
    expect(Number(n)).toBe(0);
  });
  it('is re-created only when its files change (the view carries the hash of its SQL)', async () => {
    const dataDir = join(fx.dataDir, 'view-signature');
    const config = { ...fx.config, dataDir, database: join(dataDir, 'engine.duckdb') };
    const state = () =>
      withEngineDb(
        config,
        async (conn) => {
          const v = (
            await conn.runAndReadAll(
              `SELECT view_oid, comment FROM duckdb_views() WHERE database_name = 'engine' AND view_name = 'gwas_results'`,
            )
          ).getRows()[0];
          const n = (await conn.runAndReadAll('SELECT count(*) FROM gwas_results')).getRows()[0][0];
          return { oid: Number(v[0]), comment: String(v[1]), rows: Number(n) };
        },
        { readOnly: true },
      );
    const a = runIdFor({ studyId: 'sig-a', releaseFingerprint: 'f', specHash: 's' });
    const b = runIdFor({ studyId: 'sig-b', releaseFingerprint: 'f', specHash: 's' });
    await writeRunResults(config, a, 'gwas_results', fx.gwas.slice(0, 10));
    const first = await state();
    expect(first.comment).toMatch(/^sql sha256 [0-9a-f]{64}$/);
    expect(first.rows).toBe(10);
    // catalog oids are per open: compare within one open, around two schema checks
    const oids = await withEngineDb(config, async (conn) => {
      const oid = async () =>
        Number(
          (
            await conn.runAndReadAll(
              `SELECT view_oid FROM duckdb_views() WHERE database_name = 'engine' AND view_name = 'gwas_results'`,
            )
          ).getRows()[0][0],
        );
      const out = [await oid()];
      await ensureResultsSchema(conn, dataDir);
      out.push(await oid());
      await ensureResultsSchema(conn, dataDir);
      out.push(await oid());
      return out;
    });
    expect(new Set(oids).size).toBe(1);
    expect((await state()).comment).toBe(first.comment);
    await writeRunResults(config, b, 'gwas_results', fx.gwas.slice(0, 7));
    const second = await state();
    expect(second.comment).not.toBe(first.comment);
    expect(second.rows).toBe(17);
    await deleteRun(config, b);
    expect((await state()).rows).toBe(10);
  });
});
