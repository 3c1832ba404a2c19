/**
 * The planted time-to-event effect (synth/planted.ts `PLANTED_TIME_TO_EVENT`): burden-gene pLoF
 * carriers get coronary atherosclerosis (1.2 411.4) earlier, proportional hazards on the age
 * scale with HR 5.
 *
 * Checked from the generated files only: persons.tsv (birth, sex), conditions.parquet and
 * labs.csv (dates), the demo map (the codes of 411.4) and the VCF (carriers of the pLoF variants
 * truth.json lists). With the rules of docs/phenotyping.md — entry at the first dated record,
 * exit at the last, event at the second distinct code date, prevalent when the first code is on
 * or before entry — R `coxph(Surv(entry, stop, event) ~ carrier + male)` recovers the planted HR
 * inside its 95 % CI, and its p is smaller than that of `glm(event ~ carrier + male + age,
 * binomial)` on the same persons (the logistic PheWAS model, which ignores when the disease came).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PHECODE_MAP_DIR, generateBiobank } from '../../synth/index.js';
import { PLANTED_TIME_TO_EVENT } from '../../synth/planted.js';
import { tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let r: {
  hr: number;
  lo: number;
  hi: number;
  pCox: number;
  pLogit: number;
  nEvents: number;
  nPrevalent: number;
};

const DAY = 86_400_000;
const days = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / DAY;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('tte'));
  const out = join(dir, 'release');
  await generateBiobank({ size: 'demo', seed: 5, out });
  const truth = JSON.parse(readFileSync(join(out, 'truth.json'), 'utf8'));
  expect(truth.timeToEvent.hazardRatio).toBe(PLANTED_TIME_TO_EVENT.hr);
  console.log('truth.json timeToEvent:', JSON.stringify(truth.timeToEvent));

  // Carriers: ≥ 1 ALT allele at any listed pLoF variant (from the VCF text).
  const plof = new Set<string>(truth.burden.variants);
  const vcf = gunzipSync(readFileSync(join(out, 'chr1-22.vcf.gz')))
    .toString('utf8')
    .split('\n');
  const header = vcf.find((l) => l.startsWith('#CHROM'))!.split('\t');
  const ids = header.slice(9);
  const carrier = new Map<string, number>(ids.map((id) => [id, 0]));
  for (const line of vcf) {
    if (line.startsWith('#') || line === '') continue;
    const f = line.split('\t');
    if (!plof.has(f[2])) continue;
    for (let s = 9; s < f.length; s++) if (/1/.test(f[s].split(':')[0])) carrier.set(ids[s - 9], 1);
  }

  // The codes of phecode 411.4 in the demo map (the map lists each code's own phecode).
  const codes = new Set(
    readFileSync(join(DEMO_PHECODE_MAP_DIR, 'v1.2', 'phecode_map.csv'), 'utf8')
      .split('\n')
      .map((l) => l.replaceAll('"', '').split(','))
      .filter((f) => f[2] === PLANTED_TIME_TO_EVENT.phecode12)
      .map((f) => `${f[0]} ${f[1]}`),
  );
  expect(codes.size).toBeGreaterThan(0);

  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const conditions = (
    await conn.runAndReadAll(
      `SELECT person_id, vocabulary, code, strftime(date, '%Y-%m-%d') AS date
       FROM read_parquet('${join(out, 'conditions.parquet')}')`,
    )
  ).getRowObjectsJS() as { person_id: string; vocabulary: string; code: string; date: string }[];
  conn.closeSync();
  db.closeSync();

  const first = new Map<string, number>();
  const last = new Map<string, number>();
  const seen = (id: string, d: number) => {
    first.set(id, Math.min(first.get(id) ?? Number.POSITIVE_INFINITY, d));
    last.set(id, Math.max(last.get(id) ?? Number.NEGATIVE_INFINITY, d));
  };
  const codeDays = new Map<string, Set<number>>();
  for (const c of conditions) {
    const d = days(c.date);
    seen(c.person_id, d);
    if (codes.has(`${c.vocabulary} ${c.code}`)) {
      if (!codeDays.has(c.person_id)) codeDays.set(c.person_id, new Set());
      codeDays.get(c.person_id)!.add(d);
    }
  }
  for (const line of readFileSync(join(out, 'labs.csv'), 'utf8').split('\n').slice(1)) {
    if (line === '') continue;
    const f = line.split(',');
    seen(f[0], days(f[5]));
  }

  const rows = ['entry,stop,event,carrier,male,age'];
  let nPrevalent = 0;
  for (const line of readFileSync(join(out, 'persons.tsv'), 'utf8').split('\n').slice(1)) {
    if (line === '') continue;
    const [id, sex, birth] = line.split('\t');
    if (!first.has(id)) continue;
    const b = days(birth);
    const entry = (first.get(id)! - b) / 365.25;
    const exit = (last.get(id)! - b) / 365.25;
    const dates = [...(codeDays.get(id) ?? [])].sort((x, y) => x - y);
    if (dates.length > 0 && dates[0] <= first.get(id)!) {
      nPrevalent++;
      continue;
    }
    const event = dates.length >= 2;
    const stop = event ? (dates[1] - b) / 365.25 : exit;
    if (stop <= entry) continue;
    if (dates.length === 1) continue; // one code: excluded, as the phenome's minCodeCount rule
    rows.push([entry, stop, event ? 1 : 0, carrier.get(id) ?? 0, sex === 'M' ? 1 : 0, exit].join(','));
  }
  const csv = join(dir, 'tte.csv');
  writeFileSync(csv, `${rows.join('\n')}\n`);
  const script = `
    suppressMessages(library(survival))
    d <- read.csv('${csv}')
    f <- coxph(Surv(entry, stop, event) ~ carrier + male, data = d, ties = 'efron')
    s <- summary(f)
    g <- glm(event ~ carrier + male + age, data = d, family = binomial)
    ci <- exp(confint(f))['carrier', ]
    cat(exp(coef(f))['carrier'], ci[1], ci[2], s$coefficients['carrier', 'Pr(>|z|)'],
        summary(g)$coefficients['carrier', 'Pr(>|z|)'], sum(d$event), '\\n')`;
  const [hr, lo, hi, pCox, pLogit, nEvents] = execFileSync('Rscript', ['-e', script], { encoding: 'utf8' })
    .trim()
    .split(/\s+/)
    .map(Number);
  r = { hr, lo, hi, pCox, pLogit, nEvents, nPrevalent };
  console.log('planted time-to-event:', JSON.stringify(r));
}, 120_000);

afterAll(async () => {
  await cleanup?.();
});

describe('planted time-to-event effect', () => {
  it('Cox on the age scale recovers the planted HR within its 95 % CI', () => {
    expect(r.nEvents).toBeGreaterThan(100);
    expect(r.nPrevalent).toBeGreaterThan(10);
    expect(r.lo).toBeLessThan(PLANTED_TIME_TO_EVENT.hr);
    expect(r.hi).toBeGreaterThan(PLANTED_TIME_TO_EVENT.hr);
    expect(r.pCox).toBeLessThan(1e-6);
  });

  it('Cox finds it with a smaller p than logistic regression on the same persons', () => {
    expect(r.pCox).toBeLessThan(r.pLogit);
  });
});
