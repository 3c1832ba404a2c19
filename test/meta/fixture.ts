/**
 * A three-site meta-analysis fixture, written as the sites would send it: site A as gzipped
 * GWAS-SSF, site B as PLINK2 `--glm` output, site C as REGENIE step 2 output (seeded RNG).
 *
 * Every variant has a reference orientation (effect/other allele) and each site's β in that
 * orientation (`truth`); the sites write it their way. Planted:
 *  - `swapped`: site B reports the other allele as A1 (β negated, frequency 1 − f);
 *  - `missing`: site B does not have the variant;
 *  - `ambiguousOne`: an A/T SNP, frequency 0.2 at sites A and B but 0.48 at site C, whose entry
 *    is therefore dropped as strand-ambiguous (EAF within (0.4, 0.6));
 *  - `ambiguousAll`: a C/G SNP at frequency 0.5 everywhere: every entry dropped, status `no_inputs`;
 *  - `hit` and `hitNear` (chr2, 500 bp apart): strong effects, one lead locus; site C reports
 *    `hit` swapped.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pTwoSidedNormal } from '../../stats/distributions.js';
import { rng } from '../helpers/rng.js';

export const LABELS = ['site A', 'site B', 'site C'] as const;

export interface FixtureVariant {
  chrom: string;
  pos: number;
  effect: string;
  other: string;
  /** per site: β and SE in the reference orientation, EAF of the effect allele, n; undefined = absent. */
  sites: ({ beta: number; se: number; eaf: number; n: number } | undefined)[];
  /** per site: whether the site writes it swapped. */
  swapped: boolean[];
  /** per site: whether alignment must drop the entry. */
  dropped: boolean[];
}

export interface MetaFixture {
  dir: string;
  files: string[];
  specPath: string;
  variants: FixtureVariant[];
  special: Record<'swapped' | 'missing' | 'ambiguousOne' | 'ambiguousAll' | 'hit' | 'hitNear', number>;
}

const PAIRS: [string, string][] = [
  ['A', 'G'],
  ['C', 'T'],
  ['G', 'A'],
  ['T', 'C'],
  ['A', 'C'],
  ['G', 'T'],
];

/** Shortest text that reads back as the same double. */
const t = (x: number) => String(x);

export function writeMetaFixture(dir: string, seed = 15, spec: Record<string, unknown> = {}): MetaFixture {
  const { next, normal } = rng(seed);
  const variants: FixtureVariant[] = [];
  const make = (chrom: string, pos: number, e: string, o: string, f: number, mu: number, tau = 0) => {
    const v: FixtureVariant = {
      chrom,
      pos,
      effect: e,
      other: o,
      sites: LABELS.map(() => {
        const se = 0.02 + 0.06 * next();
        return {
          beta: mu + tau * normal() + se * normal(),
          se,
          eaf: Math.min(0.95, Math.max(0.05, f + 0.02 * normal())),
          n: Math.round(2000 + 8000 * next()),
        };
      }),
      swapped: [false, false, false],
      dropped: [false, false, false],
    };
    variants.push(v);
    return v;
  };
  for (let j = 0; j < 30; j++) {
    const [e, o] = PAIRS[j % PAIRS.length];
    const f = next() < 0.5 ? 0.05 + 0.3 * next() : 0.65 + 0.3 * next();
    make(j < 20 ? '1' : '2', 10_000 + 10_000 * j, e, o, f, 0.02 * normal(), j % 3 === 0 ? 0.06 : 0);
  }
  const special = {} as MetaFixture['special'];
  special.swapped = variants.length;
  make('1', 15_000, 'A', 'G', 0.25, 0.04).swapped[1] = true;
  special.missing = variants.length;
  make('1', 25_000, 'C', 'T', 0.7, -0.03).sites[1] = undefined;
  special.ambiguousOne = variants.length;
  {
    const v = make('1', 35_000, 'A', 'T', 0.2, 0.02);
    v.sites[0]!.eaf = 0.2;
    v.sites[1]!.eaf = 0.21;
    v.sites[2]!.eaf = 0.48;
    v.dropped[2] = true;
  }
  special.ambiguousAll = variants.length;
  {
    const v = make('1', 45_000, 'C', 'G', 0.5, 0.01);
    for (const s of v.sites) s!.eaf = 0.5;
    v.dropped = [true, true, true];
  }
  special.hit = variants.length;
  make('2', 500_000, 'G', 'A', 0.3, 0.35).swapped[2] = true;
  special.hitNear = variants.length;
  make('2', 500_500, 'T', 'C', 0.4, 0.3);
  variants.sort((a, b) => Number(a.chrom) - Number(b.chrom) || a.pos - b.pos);
  for (const key of Object.keys(special) as (keyof MetaFixture['special'])[]) {
    // indices after sorting
    const pos = {
      swapped: 15_000,
      missing: 25_000,
      ambiguousOne: 35_000,
      ambiguousAll: 45_000,
      hit: 500_000,
      hitNear: 500_500,
    }[key];
    special[key] = variants.findIndex((v) => v.pos === pos);
  }

  /** What site i writes for v: effect, other, β, EAF (its own orientation). */
  const written = (v: FixtureVariant, i: number) => {
    const s = v.sites[i]!;
    const p = pTwoSidedNormal(s.beta / s.se);
    return v.swapped[i]
      ? { e: v.other, o: v.effect, beta: -s.beta, eaf: 1 - s.eaf, se: s.se, n: s.n, p }
      : { e: v.effect, o: v.other, beta: s.beta, eaf: s.eaf, se: s.se, n: s.n, p };
  };
  const present = (i: number) => variants.filter((v) => v.sites[i] !== undefined);

  // site A: gzipped GWAS-SSF
  const ssf = [
    'chromosome\tbase_pair_location\teffect_allele\tother_allele\tbeta\tstandard_error\teffect_allele_frequency\tp_value\tn',
    ...present(0).map((v) => {
      const w = written(v, 0);
      return [v.chrom, v.pos, w.e, w.o, t(w.beta), t(w.se), t(w.eaf), t(w.p), w.n].join('\t');
    }),
  ];
  const fileA = join(dir, 'siteA.tsv.gz');
  writeFileSync(fileA, gzipSync(`${ssf.join('\n')}\n`));
  // site B: PLINK2 --glm linear (REF/ALT, A1 the effect allele, a covariate row per variant)
  const plink = [
    '#CHROM\tPOS\tID\tREF\tALT\tA1\tA1_FREQ\tTEST\tOBS_CT\tBETA\tSE\tT_STAT\tP\tERRCODE',
    ...present(1).flatMap((v) => {
      const w = written(v, 1);
      const id = `${v.chrom}:${v.pos}`;
      return [
        [
          v.chrom,
          v.pos,
          id,
          v.other,
          v.effect,
          w.e,
          t(w.eaf),
          'ADD',
          w.n,
          t(w.beta),
          t(w.se),
          t(w.beta / w.se),
          t(w.p),
          '.',
        ].join('\t'),
        [
          v.chrom,
          v.pos,
          id,
          v.other,
          v.effect,
          w.e,
          t(w.eaf),
          'AGE',
          w.n,
          '0.01',
          '0.002',
          '5',
          '1e-6',
          '.',
        ].join('\t'),
      ];
    }),
  ];
  const fileB = join(dir, 'siteB.LDL.glm.linear');
  writeFileSync(fileB, `${plink.join('\n')}\n`);
  // site C: REGENIE step 2 (ALLELE1 the effect allele), space-separated
  const regenie = [
    'CHROM GENPOS ID ALLELE0 ALLELE1 A1FREQ N TEST BETA SE CHISQ LOG10P EXTRA',
    ...present(2).map((v) => {
      const w = written(v, 2);
      const z = w.beta / w.se;
      return [
        v.chrom,
        v.pos,
        `${v.chrom}:${v.pos}`,
        w.o,
        w.e,
        t(w.eaf),
        w.n,
        'ADD',
        t(w.beta),
        t(w.se),
        t(z * z),
        t(-Math.log10(w.p)),
        'NA',
      ].join(' ');
    }),
  ];
  const fileC = join(dir, 'siteC.regenie');
  writeFileSync(fileC, `${regenie.join('\n')}\n`);
  const files = [fileA, fileB, fileC];
  const specPath = join(dir, 'meta.json');
  writeFileSync(
    specPath,
    JSON.stringify(
      {
        metaId: 'ldl-meta',
        trait: 'LDL',
        inputs: [
          { path: 'siteA.tsv.gz', label: LABELS[0], nCases: 0, ancestry: 'EUR' },
          { path: 'siteB.LDL.glm.linear', label: LABELS[1] },
          { path: 'siteC.regenie', label: LABELS[2], format: 'regenie' },
        ],
        ...spec,
      },
      null,
      2,
    ),
  );
  return { dir, files, specPath, variants, special };
}

/** The aligned entries R gets: one row per (variant, contributing site). */
export function truthCsv(fx: MetaFixture): string {
  const rows = ['variant,input,yi,sei,n'];
  fx.variants.forEach((v, j) => {
    v.sites.forEach((s, i) => {
      if (s && !v.dropped[i]) rows.push(`${j},${i},${t(s.beta)},${t(s.se)},${s.n}`);
    });
  });
  return `${rows.join('\n')}\n`;
}
