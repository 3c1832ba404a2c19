import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commands } from '../../cli/commands/index.js';

const bin = resolve(__dirname, '../../bin/biobank.mjs');
let dataDir = '';

function biobank(args: string[], env: Record<string, string> = {}) {
  return promisify(execFile)('node', [bin, ...args], {
    env: { ...process.env, BIOBANK_DATA_DIR: dataDir, ...env },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'biobank-cli-'));
  const db = await DuckDBInstance.create(join(dataDir, 'engine.duckdb'));
  const conn = await db.connect();
  await conn.run(
    `CREATE TABLE hits AS SELECT * FROM (VALUES ('rs1', 1, 1e-12, 'a,b'), ('rs2', 2, 0.5, NULL)) t(id, chrom, p, note)`,
  );
  conn.closeSync();
  db.closeSync();
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('biobank CLI', () => {
  it('lists commands with --help and shows examples per command', async () => {
    const top = await biobank(['--help']);
    expect(top.code).toBe(0);
    for (const c of ['demo', 'dev-server', 'worker', 'query']) expect(top.stdout).toContain(`  ${c}`);
    const q = await biobank(['query', '--help']);
    expect(q.stdout).toContain('Examples:');
    expect(q.stdout).toContain('--format');
  });

  it('a group word lists its sub-commands; an unknown sub-command names the group', async () => {
    for (const group of ['phecodes', 'release', 'study', 'schedule']) {
      const g = await biobank([group, '--help']);
      expect(g.code, group).toBe(0);
      expect(g.stdout).toMatch(new RegExp(`biobank ${group} — \\d+ commands`));
      const subs = commands.filter((c) => c.name.startsWith(`${group} `));
      expect(subs.length).toBeGreaterThan(0);
      for (const c of subs) expect(g.stdout).toContain(c.name);
    }
    const bare = await biobank(['phecodes']);
    expect(bare.code).toBe(0);
    expect(bare.stdout).toContain('phecodes fetch');
    const wrong = await biobank(['phecodes', 'frobnicate']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("unknown command 'phecodes frobnicate'");
    expect(wrong.stderr).toContain('phecodes load');
  });

  it('the lazy command index agrees with every command it loads', async () => {
    for (const entry of commands) {
      const c = await entry.load();
      expect(c.name).toBe(entry.name);
      expect(c.summary, c.name).toBe(entry.summary);
    }
  });

  it('queries the engine database as a table, CSV and JSON', async () => {
    const table = await biobank(['query', 'SELECT id, chrom, p FROM hits ORDER BY id']);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^id\s+chrom\s+p$/);
    expect(table.stdout).toContain('1.0000e-12');
    expect(table.stdout).toContain('(2 rows)');
    const csv = await biobank(['query', 'SELECT id, note FROM hits ORDER BY id', '--format', 'csv']);
    expect(csv.stdout.trim()).toBe('id,note\nrs1,"a,b"\nrs2,');
    const json = await biobank(['query', 'SELECT id, chrom FROM hits ORDER BY id', '--format', 'json']);
    expect(JSON.parse(json.stdout)).toEqual([
      { id: 'rs1', chrom: 1 },
      { id: 'rs2', chrom: 2 },
    ]);
  });

  it('opens the database read-only: writes are refused with one readable line and exit 2 (issue 18)', async () => {
    const r = await biobank(['query', 'DELETE FROM hits']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^error: .*DELETE statements are not allowed: biobank query runs read statements only/im,
    );
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const count = await biobank(['query', 'SELECT count(*) AS n FROM hits', '--format', 'json']);
    expect(JSON.parse(count.stdout)).toEqual([{ n: '2' }]);
  });

  it('gives meaningful exit codes and hints for usage errors', async () => {
    const unknown = await biobank(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    const badFormat = await biobank(['query', 'SELECT 1', '--format', 'xml']);
    expect(badFormat.code).toBe(2);
    expect(badFormat.stderr).toContain('--format must be one of table, tsv, csv, json');
    const badConfig = await biobank(['query', 'SELECT 1'], { BIOBANK_MAX_ACTIVITIES: 'many' });
    expect(badConfig.code).toBe(2);
    expect(badConfig.stderr).toContain('worker.maxConcurrentActivities (from BIOBANK_MAX_ACTIVITIES="many")');
    const noDb = await biobank(['query', 'SELECT 1'], { BIOBANK_DATA_DIR: join(dataDir, 'nowhere') });
    expect(noDb.code).toBe(1);
    expect(noDb.stderr).toContain('hint: run');
  });
});
