/**
 * Synthetic persons: sex, birth date (ages 20–90 at the extract date), genetic ancestry
 * group and genotyping batch. Held as typed arrays (one entry per person).
 */
import { Rng } from './prng.js';

export const ANCESTRIES = ['EUR', 'AFR', 'EAS'] as const;
/** Share of each ancestry group among persons. */
export const ANCESTRY_SHARES = [0.6, 0.25, 0.15] as const;
export const BATCHES = ['B1', 'B2', 'B3', 'B4'] as const;

/** Days since 1970-01-01 of an ISO date. */
export function dayOf(iso: string): number {
  return Math.round(Date.parse(`${iso}T00:00:00Z`) / 86_400_000);
}

/** ISO date (YYYY-MM-DD) of a day number. */
export function isoOf(day: number): string {
  return new Date(day * 86_400_000).toISOString().slice(0, 10);
}

export interface Persons {
  n: number;
  /** `P0000001`-style ids, also the VCF sample names. */
  ids: string[];
  /** 1 = M, 2 = F. */
  sex: Uint8Array;
  /** Index into `ANCESTRIES`. */
  ancestry: Uint8Array;
  /** Index into `BATCHES`. */
  batch: Uint8Array;
  /** Birth date as days since 1970-01-01. */
  birthDay: Int32Array;
  /** Age in years at the extract date. */
  age: Float64Array;
}

export function personId(i: number, n: number): string {
  return `P${String(i + 1).padStart(Math.max(7, String(n).length), '0')}`;
}

export function generatePersons(seed: number, n: number, extractDay: number): Persons {
  const rng = new Rng(seed, 'persons');
  const sex = new Uint8Array(n);
  const ancestry = new Uint8Array(n);
  const batch = new Uint8Array(n);
  const birthDay = new Int32Array(n);
  const age = new Float64Array(n);
  const ids: string[] = new Array(n);
  const cum = [ANCESTRY_SHARES[0], ANCESTRY_SHARES[0] + ANCESTRY_SHARES[1], 1];
  for (let i = 0; i < n; i++) {
    ids[i] = personId(i, n);
    sex[i] = rng.bernoulli(0.52) ? 2 : 1;
    ancestry[i] = rng.pickCumulative(cum);
    batch[i] = rng.int(BATCHES.length);
    // Ages 20–90, bulk in the 40s–70s as in adult biobanks.
    const a = 20 + 70 * rng.beta(1.8, 1.6);
    const days = Math.floor(a * 365.25);
    birthDay[i] = extractDay - days;
    age[i] = days / 365.25;
  }
  return { n, ids, sex, ancestry, batch, birthDay, age };
}
