/**
 * Measurements (`labs.csv`: repeated LDL and HbA1c values over time, with LOINC and unit)
 * and a PLINK-style phenotype/covariate table (`pheno.txt`: `FID IID LDL HbA1c BMI batch`,
 * whitespace-delimited, missing values as `-9` or `NA`).
 *
 * - LDL measurements: the person's LDL plus N(0, 12²) visit noise; 1% reported in mmol/L
 *   (LOINC 22748-8, value / 38.67) so unit checks have something to catch.
 * - HbA1c: 5.3 + 0.01·(age − 50) + 1.6 for type 2 diabetes cases + N(0, 0.35²) %.
 * - pheno.txt LDL: the person's LDL + batch offset (B1–B4: 0, +3, −2, +5 mg/dL) + N(0, 6²),
 *   missing for 3%.
 * - With families, a last column `HEIGHT` (the polygenic trait, cm, 2 decimals, never missing).
 */
import { open } from 'node:fs/promises';
import type { Visits } from './ehr.js';
import { BATCHES, isoOf, type Persons } from './persons.js';
import type { Phenotypes } from './phenotypes.js';
import { POLYGENIC_TRAIT } from './planted.js';
import { Rng } from './prng.js';

export const LDL_LOINC = '13457-7';
export const LDL_MMOL_LOINC = '22748-8';
export const HBA1C_LOINC = '4548-4';
const BATCH_OFFSET = [0, 3, -2, 5];

class LineWriter {
  private parts: string[] = [];
  private size = 0;
  lines = 0;
  constructor(private readonly fh: Awaited<ReturnType<typeof open>>) {}
  async add(line: string): Promise<void> {
    this.parts.push(line);
    this.size += line.length + 1;
    this.lines++;
    if (this.size > 1 << 20) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    await this.fh.write(`${this.parts.join('\n')}\n`);
    this.parts = [];
    this.size = 0;
  }
}

/** Writes `header` and the lines `body` adds to a new file at `path`; returns the lines after the header. */
async function writeLines(
  path: string,
  header: string,
  body: (w: LineWriter) => Promise<void>,
): Promise<number> {
  const fh = await open(path, 'w');
  try {
    const w = new LineWriter(fh);
    await w.add(header);
    await body(w);
    await w.flush();
    return w.lines - 1;
  } finally {
    await fh.close();
  }
}

/** Write labs.csv; returns the number of measurement rows. */
export async function writeLabs(
  seed: number,
  path: string,
  persons: Persons,
  visits: Visits,
  phenotypes: Phenotypes,
  extractDay: number,
): Promise<number> {
  const rng = new Rng(seed, 'labs');
  return writeLines(path, 'person_id,name,loinc,value,unit,date', async (w) => {
    const t2d = phenotypes.cases.get('T2D')!;
    for (let i = 0; i < persons.n; i++) {
      const start = visits.ehrStart[i];
      const span = extractDay - start + 1;
      const rows: [number, string][] = [];
      const nLdl = rng.poisson(2.2);
      for (let k = 0; k < nLdl; k++) {
        const day = start + rng.int(span);
        const v = phenotypes.ldl[i] + 12 * rng.normal();
        const value = Math.max(20, v);
        if (rng.float() < 0.01)
          rows.push([day, `${persons.ids[i]},LDL,${LDL_MMOL_LOINC},${(value / 38.67).toFixed(2)},mmol/L`]);
        else rows.push([day, `${persons.ids[i]},LDL,${LDL_LOINC},${Math.round(value)},mg/dL`]);
      }
      const nA1c = rng.poisson(t2d[i] ? 4 : 1.2);
      const base = 5.3 + 0.01 * (persons.age[i] - 50) + (t2d[i] ? 1.6 : 0);
      for (let k = 0; k < nA1c; k++) {
        const day = start + rng.int(span);
        const value = Math.max(4, base + 0.35 * rng.normal());
        rows.push([day, `${persons.ids[i]},HbA1c,${HBA1C_LOINC},${value.toFixed(1)},%`]);
      }
      rows.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
      for (const [day, text] of rows) await w.add(`${text},${isoOf(day)}`);
    }
  });
}

/** Write pheno.txt; returns the number of data rows. */
export async function writePheno(
  seed: number,
  path: string,
  persons: Persons,
  phenotypes: Phenotypes,
): Promise<number> {
  const rng = new Rng(seed, 'pheno');
  const poly = phenotypes.polygenic?.values;
  const header = `FID IID LDL HbA1c BMI batch${poly ? ` ${POLYGENIC_TRAIT.name}` : ''}`;
  return writeLines(path, header, async (w) => {
    const t2d = phenotypes.cases.get('T2D')!;
    const miss = (): string => (rng.float() < 0.5 ? '-9' : 'NA');
    for (let i = 0; i < persons.n; i++) {
      const b = persons.batch[i];
      const ldl = phenotypes.ldl[i] + BATCH_OFFSET[b] + 6 * rng.normal();
      const a1c = 5.3 + 0.01 * (persons.age[i] - 50) + (t2d[i] ? 1.6 : 0) + 0.35 * rng.normal();
      const bmi = 27 + (t2d[i] ? 3 : 0) + 4.5 * rng.normal();
      const id = persons.ids[i];
      const ldlText = rng.float() < 0.03 ? miss() : ldl.toFixed(1);
      const a1cText = rng.float() < 0.1 ? miss() : Math.max(4, a1c).toFixed(1);
      const bmiText = rng.float() < 0.05 ? miss() : Math.max(15, bmi).toFixed(1);
      const polyText = poly ? ` ${poly[i].toFixed(2)}` : '';
      await w.add(`${id} ${id} ${ldlText} ${a1cText} ${bmiText} ${BATCHES[b]}${polyText}`);
    }
  });
}
