/**
 * The demo-size release, checked only through its output files with independent tools:
 * bgzip/tabix/bcftools (VCF validity, INFO tags), DuckDB (EHR, labs), plink2 (PCA, GWAS)
 * and R (Fisher's exact test for the burden gene).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlString } from '../../engine/duckdb.js';
import { DEMO_PHECODE_MAP_DIR, generateBiobank } from '../../synth/index.js';
import { hasTool, run, SHIPPED_MAPS, sh, tempDir } from './helpers.js';
import { countPhecodes, lambdaGc, query, readPlinkTable } from './release-check.js';

const tools = ['bcftools', 'tabix', 'bgzip', 'plink2', 'Rscript'].every(hasTool);
const MAP_DIR = join(DEMO_PHECODE_MAP_DIR, 'v1.2');
const MAP = join(MAP_DIR, 'phecode_map.csv');
const PLOF = [
  'stop_gained',
  'frameshift_variant',
  'splice_donor_variant',
  'splice_acceptor_variant',
  'start_lost',
];

interface Truth {
  counts: { persons: number; variants: number; conditions: number; measurements: number };
  extractDate: string;
  spectrum: Record<string, number>;
  recordsWithDs: number;
  quantitative: { trait: string; causal: { id: string; alt: string; betaPerAllele: number }[] }[];
  binary: {
    key: string;
    phecode12: string;
    cases: number;
    singleCodePersons: number;
    causal: { id: string; alt: string; liabilityPerAllele: number }[];
  }[];
  burden: {
    gene: string;
    variants: string[];
    carriers: number;
    phecodes: { key: string; phecode12: string; cases: number; singleCodePersons: number }[];
  };
  nullVariants: { id: string }[];
}

describe.skipIf(!tools)('demo release (independent checks)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let rel: string;
  let vcf: string;
  let truth: Truth;
  let work: string;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('demo'));
    rel = join(dir, 'release');
    const r = await generateBiobank({
      size: 'demo',
      seed: Number(process.env.SYNTH_TEST_SEED ?? 5),
      out: rel,
    });
    truth = JSON.parse(readFileSync(r.truthPath, 'utf8'));
    vcf = join(rel, 'chr1-22.vcf.gz');
    work = join(dir, 'plink');
    run('mkdir', ['-p', work]);
    // One plink2 import plus LD pruning and PCA, shared by the GWAS tests.
    const p = ['--threads', '1', '--memory', '2000'];
    run('plink2', [...p, '--vcf', vcf, '--double-id', '--make-pgen', '--out', join(work, 'g')]);
    run('plink2', [
      ...p,
      '--pfile',
      join(work, 'g'),
      '--maf',
      '0.05',
      '--indep-pairwise',
      '50',
      '10',
      '0.2',
      '--out',
      join(work, 'prune'),
    ]);
    run('plink2', [
      ...p,
      '--pfile',
      join(work, 'g'),
      '--extract',
      join(work, 'prune.prune.in'),
      '--pca',
      '4',
      '--out',
      join(work, 'pc'),
    ]);
  }, 240_000);
  afterAll(() => cleanup?.());

  it('writes a valid BGZF VCF with a correct tabix index, readable in full by bcftools', () => {
    run('bgzip', ['-t', vcf]);
    // tabix indexes a copy; the generator's own .tbi must answer every query the same way.
    const copy = join(work, 'copy.vcf.gz');
    run('cp', [vcf, copy]);
    run('tabix', ['-p', 'vcf', copy]);
    expect(run('bcftools', ['index', '-s', vcf])).toBe(run('bcftools', ['index', '-s', copy]));
    const lengths = run('bcftools', ['index', '-s', copy])
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    for (let k = 0; k < 60; k++) {
      const [chrom, len] = lengths[(k * 7) % lengths.length];
      const start = 1 + Math.floor((((k * 7919) % 1000) / 1000) * Number(len));
      const region = `${chrom}:${start}-${start + (k % 3 === 0 ? 50_000 : 5_000_000)}`;
      expect(run('tabix', [vcf, region]), region).toBe(run('tabix', [copy, region]));
    }
    const records = Number(sh(`bcftools view -H ${vcf} | wc -l`).trim());
    expect(records).toBe(truth.counts.variants);
    const header = run('bcftools', ['view', '-h', vcf]);
    for (let c = 1; c <= 22; c++) expect(header).toContain(`##contig=<ID=${c},`);
    expect(header).toMatch(/##INFO=<ID=CSQ,.*Format: Allele\|Consequence\|IMPACT\|SYMBOL\|Gene\|/);
    expect(header).toContain('##INFO=<ID=REVEL,');
    expect(header).toContain('##INFO=<ID=CADD,');
    const samples = run('bcftools', ['query', '-l', vcf]).trim().split('\n');
    const persons = readFileSync(join(rel, 'persons.tsv'), 'utf8').trim().split('\n').slice(1);
    expect(samples).toEqual(persons.map((l) => l.split('\t')[0]));
    // Region queries through the index: every chromosome has records, the burden gene is where it should be.
    for (let c = 1; c <= 22; c++) expect(run('tabix', [vcf, String(c)]).length).toBeGreaterThan(0);
    const lmna = run('tabix', [vcf, '1:156000000-156300000']);
    expect(lmna).toContain('|LMNA|');
  });

  it('has INFO AC/AN equal to bcftools recomputation, DS equal to the GT dosage, and a rare-heavy spectrum', () => {
    const ours = sh(`bcftools query -f '%ID\\t%INFO/AC\\t%INFO/AN\\n' ${vcf}`).trim().split('\n');
    const recomputed = sh(
      `bcftools +fill-tags ${vcf} -- -t AC,AN | bcftools query -f '%ID\\t%INFO/AC\\t%INFO/AN\\n'`,
    )
      .trim()
      .split('\n');
    expect(recomputed).toEqual(ours);
    const bins = { monomorphic: 0, below0_001: 0, below0_01: 0, below0_05: 0, common: 0 };
    for (const l of recomputed) {
      const [, ac, an] = l.split('\t').map(Number);
      const af = ac / an;
      const maf = Math.min(af, 1 - af);
      if (ac === 0 || ac === an) bins.monomorphic++;
      else if (maf < 0.001) bins.below0_001++;
      else if (maf < 0.01) bins.below0_01++;
      else if (maf < 0.05) bins.below0_05++;
      else bins.common++;
    }
    expect(bins).toEqual(truth.spectrum);
    const n = recomputed.length;
    expect((bins.below0_001 + bins.below0_01) / n).toBeGreaterThan(0.45); // most variants rare
    expect(bins.common / n).toBeGreaterThan(0.15);
    expect(bins.common / n).toBeLessThan(0.45);
    expect(bins.monomorphic / n).toBeLessThan(0.03);
    // DS records: the dosage equals the ALT count of the call; missing calls have DS '.'.
    const dsVcf = join(work, 'ds.vcf');
    run('bcftools', ['view', '-i', 'FMT/DS!="."', '-Ov', '-o', dsVcf, vcf]);
    const ds = sh(`bcftools query -f '[%GT:%DS\\n]' ${dsVcf} | sort | uniq -c`);
    const seen = new Set<string>();
    for (const line of ds.trim().split('\n')) {
      const [gt, d] = line.trim().split(/\s+/)[1].split(':');
      seen.add(gt);
      if (gt === './.') expect(d).toBe('.');
      else expect(Number(d)).toBe(gt.split('|').reduce((s, a) => s + Number(a), 0));
    }
    expect(seen.has('0|1') || seen.has('1|0')).toBe(true);
    expect(Number(sh(`bcftools view -H ${dsVcf} | wc -l`).trim())).toBe(truth.recordsWithDs);
  });

  it('has LD: nearby common variants correlate, distant ones do not', () => {
    const text = sh(`bcftools view -i 'MAF>0.1' -r 2 ${vcf} | bcftools query -f '%POS[\\t%GT]\\n'`);
    const rows = text
      .trim()
      .split('\n')
      .map((l) => {
        const f = l.split('\t');
        return {
          pos: Number(f[0]),
          g: f.slice(1).map((gt) => (gt[0] === '.' ? Number.NaN : Number(gt[0]) + Number(gt[2]))),
        };
      });
    const r2 = (a: number[], b: number[]) => {
      let n = 0;
      let sa = 0;
      let sb = 0;
      let saa = 0;
      let sbb = 0;
      let sab = 0;
      for (let i = 0; i < a.length; i++) {
        if (Number.isNaN(a[i]) || Number.isNaN(b[i])) continue;
        n++;
        sa += a[i];
        sb += b[i];
        saa += a[i] * a[i];
        sbb += b[i] * b[i];
        sab += a[i] * b[i];
      }
      const cov = sab / n - (sa / n) * (sb / n);
      return (cov * cov) / ((saa / n - (sa / n) ** 2) * (sbb / n - (sb / n) ** 2));
    };
    const near: number[] = [];
    const far: number[] = [];
    for (let i = 0; i + 1 < rows.length; i++) {
      const d = rows[i + 1].pos - rows[i].pos;
      if (d < 5000) near.push(r2(rows[i].g, rows[i + 1].g));
      const j = rows.findIndex((r) => r.pos > rows[i].pos + 2_000_000);
      if (j > 0 && far.length < 200) far.push(r2(rows[i].g, rows[j].g));
    }
    const mean = (x: number[]) => x.reduce((a, b) => a + b, 0) / x.length;
    expect(near.length).toBeGreaterThan(30);
    expect(mean(near)).toBeGreaterThan(0.2);
    expect(mean(far)).toBeLessThan(0.03);
  });

  it('has ancestry structure that the top genetic PCs (plink2 --pca) separate', () => {
    const anc = new Map(
      readFileSync(join(rel, 'persons.tsv'), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => {
          const f = l.split('\t');
          return [f[0], f[4]] as const;
        }),
    );
    const pcs = readPlinkTable(join(work, 'pc.eigenvec'));
    // Share of each PC's variance explained by the ancestry labels (η²).
    const eta2 = (k: string) => {
      const all = pcs.map((r) => Number(r[k]));
      const mean = all.reduce((a, b) => a + b, 0) / all.length;
      const groups = new Map<string, number[]>();
      pcs.forEach((r, i) => {
        const g = anc.get(r.IID)!;
        if (!groups.has(g)) groups.set(g, []);
        groups.get(g)!.push(all[i]);
      });
      let between = 0;
      for (const v of groups.values())
        between += v.length * (v.reduce((a, b) => a + b, 0) / v.length - mean) ** 2;
      const total = all.reduce((s, x) => s + (x - mean) ** 2, 0);
      return between / total;
    };
    expect(eta2('PC1')).toBeGreaterThan(0.8);
    expect(eta2('PC2')).toBeGreaterThan(0.8);
    expect(eta2('PC3')).toBeLessThan(0.1);
  });

  it('plants LDL variants that plink2 --glm finds genome-wide significant, with null variants not inflated', () => {
    const p = ['--threads', '1', '--memory', '2000'];
    run('plink2', [
      ...p,
      '--pfile',
      join(work, 'g'),
      '--pheno',
      join(rel, 'pheno.txt'),
      '--pheno-name',
      'LDL',
      '--covar',
      join(work, 'pc.eigenvec'),
      '--covar-variance-standardize',
      '--glm',
      'hide-covar',
      '--maf',
      '0.01',
      '--out',
      join(work, 'ldl'),
    ]);
    const rows = new Map(readPlinkTable(join(work, 'ldl.LDL.glm.linear')).map((r) => [r.ID, r]));
    for (const c of truth.quantitative[0].causal) {
      const r = rows.get(c.id)!;
      expect(Number(r.P), c.id).toBeLessThan(5e-8);
      const sign = (r.A1 === c.alt ? 1 : -1) * Math.sign(Number(r.BETA));
      expect(sign).toBe(Math.sign(c.betaPerAllele));
    }
    for (const v of truth.nullVariants) {
      const r = rows.get(v.id);
      if (r) expect(Number(r.P)).toBeGreaterThan(5e-8);
    }
    // The study example's cohort (EUR, age 40–80) still finds them.
    const keep = join(work, 'eur40-80.txt');
    const extract = Date.parse(`${truth.extractDate}T00:00:00Z`);
    writeFileSync(
      keep,
      readFileSync(join(rel, 'persons.tsv'), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split('\t'))
        .filter((f) => {
          const age = (extract - Date.parse(`${f[2]}T00:00:00Z`)) / (365.25 * 86_400_000);
          return f[4] === 'EUR' && age >= 40 && age <= 80;
        })
        .map((f) => `${f[0]}\t${f[0]}`)
        .join('\n'),
    );
    run('plink2', [
      ...p,
      '--pfile',
      join(work, 'g'),
      '--keep',
      keep,
      '--pheno',
      join(rel, 'pheno.txt'),
      '--pheno-name',
      'LDL',
      '--glm',
      'allow-no-covars',
      '--extract',
      'range',
      writeRange(
        work,
        'ldl',
        truth.quantitative[0].causal.map((c) => c.id),
      ),
      '--out',
      join(work, 'ldl-eur'),
    ]);
    const eur = readPlinkTable(join(work, 'ldl-eur.LDL.glm.linear'));
    expect(eur.length).toBe(truth.quantitative[0].causal.length);
    for (const r of eur) expect(Number(r.P), `EUR 40-80 ${r.ID}`).toBeLessThan(5e-8);
    const pruned = new Set(readFileSync(join(work, 'prune.prune.in'), 'utf8').trim().split('\n'));
    const chi2 = [...rows.values()]
      .filter((r) => pruned.has(r.ID) && r.T_STAT !== 'NA')
      .map((r) => Number(r.T_STAT) ** 2);
    // ~1,200 pruned variants: λGC's sampling SD is ~0.06 here, hence the loose band.
    const lambda = lambdaGc(chi2);
    expect(lambda).toBeGreaterThan(0.8);
    expect(lambda).toBeLessThan(1.2);
    // Without the PCs, ancestry confounds LDL: the PCs matter.
    run('plink2', [
      ...p,
      '--pfile',
      join(work, 'g'),
      '--extract',
      join(work, 'prune.prune.in'),
      '--pheno',
      join(rel, 'pheno.txt'),
      '--pheno-name',
      'LDL',
      '--glm',
      'allow-no-covars',
      '--out',
      join(work, 'ldl-nopc'),
    ]);
    const raw = readPlinkTable(join(work, 'ldl-nopc.LDL.glm.linear'))
      .filter((r) => r.T_STAT !== 'NA')
      .map((r) => Number(r.T_STAT) ** 2);
    expect(lambdaGc(raw)).toBeGreaterThan(1.3);
  });

  it('plants phecode cases (≥ 2 dates) whose counts DuckDB recomputes from conditions.parquet, with causal variants plink2 finds', async () => {
    const planted = [...truth.binary, ...truth.burden.phecodes];
    const counts = await countPhecodes(
      rel,
      MAP_DIR,
      planted.map((b) => b.phecode12),
    );
    for (const b of planted) {
      expect(counts.get(b.phecode12)!.cases, b.key).toBe(b.cases);
      expect(counts.get(b.phecode12)!.single, b.key).toBe(b.singleCodePersons);
      expect(b.singleCodePersons).toBeGreaterThan(0);
    }
    // The demo studies use the real maps shipped in data/phecode: they find the same cases.
    const real = await countPhecodes(
      rel,
      join(SHIPPED_MAPS, 'v1.2'),
      planted.map((b) => b.phecode12),
    );
    for (const b of planted) {
      expect(real.get(b.phecode12)!.cases, `${b.key} (real maps)`).toBe(b.cases);
      expect(real.get(b.phecode12)!.single, `${b.key} (real maps)`).toBe(b.singleCodePersons);
    }
    const ids = readFileSync(join(rel, 'persons.tsv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split('\t')[0]);
    const p = ['--threads', '1', '--memory', '2000'];
    for (const b of truth.binary) {
      const c = counts.get(b.phecode12)!;
      // PLINK coding: 2 case, 1 control, NA for persons with a single code (excluded).
      const lines = [
        '#FID IID Y',
        ...ids.map((id) => `${id} ${id} ${c.casesIds.has(id) ? 2 : c.anyIds.has(id) ? 'NA' : 1}`),
      ];
      const phe = join(work, `${b.key}.phe`);
      writeFileSync(phe, `${lines.join('\n')}\n`);
      run('plink2', [
        ...p,
        '--pfile',
        join(work, 'g'),
        '--pheno',
        phe,
        '--covar',
        join(work, 'pc.eigenvec'),
        '--covar-variance-standardize',
        '--glm',
        'hide-covar',
        'firth-fallback',
        '--extract',
        'range',
        writeRange(
          work,
          b.key,
          b.causal.map((v) => v.id),
        ),
        '--out',
        join(work, b.key),
      ]);
      const rows = readPlinkTable(join(work, `${b.key}.Y.glm.logistic.hybrid`));
      for (const v of b.causal) {
        const r = rows.find((x) => x.ID === v.id)!;
        expect(Number(r.P), `${b.key} ${v.id}`).toBeLessThan(5e-8);
        expect((r.A1 === v.alt ? 1 : -1) * Math.log(Number(r.OR))).toBeGreaterThan(0);
      }
    }
  });

  it('plants a pLoF burden gene whose carriers have the burden phecodes far more often (Fisher test in R)', async () => {
    const lines = sh(`bcftools query -r 1:155000000-157500000 -f '%ID\\t%INFO/CSQ[\\t%GT]\\n' ${vcf}`)
      .trim()
      .split('\n');
    const samples = run('bcftools', ['query', '-l', vcf]).trim().split('\n');
    const carriers = new Set<string>();
    const plofIds: string[] = [];
    for (const l of lines) {
      const f = l.split('\t');
      const csq = f[1].split('|');
      if (csq[3] !== truth.burden.gene || !PLOF.includes(csq[1])) continue;
      plofIds.push(f[0]);
      f.slice(2).forEach((gt, i) => {
        if (gt.includes('1')) carriers.add(samples[i]);
      });
    }
    expect(plofIds).toEqual(truth.burden.variants);
    expect(carriers.size).toBe(truth.burden.carriers);
    expect(carriers.size).toBeGreaterThanOrEqual(20);
    const counts = await countPhecodes(
      rel,
      MAP_DIR,
      truth.burden.phecodes.map((b) => b.phecode12),
    );
    const nPhecodes = Number(
      sh(`tail -n +2 ${join(DEMO_PHECODE_MAP_DIR, 'v1.2', 'pheinfo.csv')} | wc -l`).trim(),
    );
    for (const b of truth.burden.phecodes) {
      const c = counts.get(b.phecode12)!;
      let a = 0; // carrier cases
      let bb = 0; // carrier controls
      let cc = 0; // non-carrier cases
      let d = 0; // non-carrier controls
      for (const id of samples) {
        if (c.anyIds.has(id) && !c.casesIds.has(id)) continue; // excluded (one code)
        const isCase = c.casesIds.has(id);
        if (carriers.has(id)) isCase ? a++ : bb++;
        else isCase ? cc++ : d++;
      }
      const out = run('Rscript', [
        '-e',
        `t <- fisher.test(matrix(c(${a}, ${cc}, ${bb}, ${d}), 2)); cat(t$p.value, t$estimate)`,
      ]).trim();
      const [pValue, or] = out.split(/\s+/).map(Number);
      expect(pValue, `${b.key}: ${out}`).toBeLessThan(0.05 / nPhecodes);
      expect(or).toBeGreaterThan(3);
    }
  });

  it('writes EHR rows with valid dates, vocabularies by date, known codes and sex restrictions respected', async () => {
    const cond = sqlString(join(rel, 'conditions.parquet'));
    const persons = sqlString(join(rel, 'persons.tsv'));
    const map = sqlString(MAP);
    const rollup = sqlString(join(MAP_DIR, 'phecode_rollup_map.csv'));
    const sex = sqlString(join(DEMO_PHECODE_MAP_DIR, 'v1.2', 'sex_restriction.csv'));
    const [r] = await query(`
      WITH c AS (SELECT * FROM read_parquet(${cond})),
           p AS (SELECT * FROM read_csv(${persons}, delim = '\t', header = true)),
           m0 AS (SELECT * FROM read_csv(${map}, header = true, all_varchar = true)),
           r AS (SELECT * FROM read_csv(${rollup}, header = true, all_varchar = true)),
           m AS (SELECT m0.vocabulary_id, m0.code, r.phecode_unrolled AS phecode FROM m0 JOIN r ON r.code = m0.phecode),
           s AS (SELECT * FROM read_csv(${sex}, header = true, all_varchar = true))
      SELECT
        (SELECT count(*) FROM c) AS n,
        (SELECT count(*) FROM c JOIN p USING (person_id) WHERE c.date < p.birth_date) AS before_birth,
        (SELECT count(*) FROM c WHERE c.date > DATE '${truth.extractDate}') AS future,
        (SELECT count(*) FROM c WHERE (c.vocabulary = 'ICD9CM') <> (c.date < DATE '2015-10-01')) AS wrong_vocab,
        (SELECT count(*) FROM c WHERE c.vocabulary = 'ICD9CM') AS icd9,
        (SELECT count(*) FROM c ANTI JOIN m ON m.vocabulary_id = c.vocabulary AND m.code = c.code) AS unknown_code,
        (SELECT count(*) FROM c JOIN p USING (person_id) JOIN m ON m.vocabulary_id = c.vocabulary AND m.code = c.code
           JOIN s ON s.phecode = m.phecode
           WHERE (s.male_only = 'TRUE' AND p.sex <> 'M') OR (s.female_only = 'TRUE' AND p.sex <> 'F')) AS wrong_sex,
        (SELECT median(k) FROM (SELECT count(DISTINCT date) AS k FROM c GROUP BY person_id)) AS median_dates,
        (SELECT count(DISTINCT person_id) FROM c) AS persons_with_codes,
        (SELECT count(*) FROM p WHERE sex NOT IN ('M', 'F') OR ancestry NOT IN ('EUR', 'AFR', 'EAS')) AS bad_person,
        (SELECT min(date_diff('day', birth_date, DATE '${truth.extractDate}')) / 365.25 FROM p) AS min_age,
        (SELECT max(date_diff('day', birth_date, DATE '${truth.extractDate}')) / 365.25 FROM p) AS max_age,
        (SELECT count(*) FILTER (WHERE ancestry = 'EUR') / count(*) FROM p) AS eur_share
    `);
    expect(Number(r.n)).toBe(truth.counts.conditions);
    expect(Number(r.before_birth)).toBe(0);
    expect(Number(r.future)).toBe(0);
    expect(Number(r.wrong_vocab)).toBe(0);
    expect(Number(r.icd9)).toBeGreaterThan(0);
    expect(Number(r.unknown_code)).toBe(0);
    expect(Number(r.wrong_sex)).toBe(0);
    expect(Number(r.median_dates)).toBeGreaterThanOrEqual(3);
    expect(Number(r.persons_with_codes)).toBeGreaterThan(0.9 * truth.counts.persons);
    expect(Number(r.bad_person)).toBe(0);
    expect(Number(r.min_age)).toBeGreaterThanOrEqual(20);
    expect(Number(r.max_age)).toBeLessThanOrEqual(90);
    expect(Number(r.eur_share)).toBeGreaterThan(0.55);
    expect(Number(r.eur_share)).toBeLessThan(0.65);
  });

  it('writes labs with units and dates in range, and a PLINK-style pheno table with missing tokens', async () => {
    const labs = sqlString(join(rel, 'labs.csv'));
    const persons = sqlString(join(rel, 'persons.tsv'));
    const rows = await query(`
      WITH l AS (SELECT * FROM read_csv(${labs}, header = true)),
           p AS (SELECT * FROM read_csv(${persons}, delim = '\t', header = true))
      SELECT name, unit, count(*) AS n, count(DISTINCT person_id) AS persons, min(value) AS lo, max(value) AS hi,
             count(*) FILTER (WHERE l.date > DATE '${truth.extractDate}' OR l.date < p.birth_date) AS bad_dates
      FROM l JOIN p USING (person_id) GROUP BY ALL ORDER BY ALL`);
    const by = Object.fromEntries(rows.map((r) => [`${r.name} ${r.unit}`, r]));
    expect(Object.keys(by).sort()).toEqual(['HbA1c %', 'LDL mg/dL', 'LDL mmol/L']);
    for (const r of rows) expect(Number(r.bad_dates)).toBe(0);
    expect(Number(by['LDL mg/dL'].n)).toBeGreaterThan(1.5 * truth.counts.persons); // several per person
    expect(Number(by['LDL mg/dL'].lo)).toBeGreaterThanOrEqual(20);
    expect(Number(by['LDL mmol/L'].hi)).toBeLessThan(15);
    expect(Number(by['HbA1c %'].lo)).toBeGreaterThanOrEqual(4);
    const total = rows.reduce((s, r) => s + Number(r.n), 0);
    expect(total).toBe(truth.counts.measurements);
    const pheno = readFileSync(join(rel, 'pheno.txt'), 'utf8').trim().split('\n');
    expect(pheno[0]).toBe('FID IID LDL HbA1c BMI batch');
    expect(pheno.length - 1).toBe(truth.counts.persons);
    const tokens = pheno.slice(1).flatMap((l) => l.split(' ').slice(2, 5));
    expect(tokens).toContain('-9');
    expect(tokens).toContain('NA');
    expect(new Set(pheno.slice(1).map((l) => l.split(' ')[5]))).toEqual(new Set(['B1', 'B2', 'B3', 'B4']));
  });
});

function writeRange(dir: string, key: string, ids: string[]): string {
  const file = join(dir, `${key}.range`);
  writeFileSync(
    file,
    `${ids
      .map((id) => {
        const [chrom, pos] = id.split(':');
        return `${chrom}\t${pos}\t${pos}\t${id}`;
      })
      .join('\n')}\n`,
  );
  return file;
}
