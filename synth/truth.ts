/**
 * `truth.json` of a generated release: the generator's settings and counts, and what was planted
 * (causal variants and their effects, case counts, the burden gene, null variants and genes);
 * with families also `families` (the sibships) and `polygenic` (the polygenic trait).
 */
import { join } from 'node:path';
import { sha256File } from '../engine/fsutil.js';
import type { PlantedCount, TimeToEventCount } from './ehr.js';
import { type FamilyPlan, MORGANS_PER_BP } from './families.js';
import type { SynthCounts } from './generate.js';
import type { AncestrySpecificVariant, GenotypeResult } from './genotypes.js';
import { ANCESTRIES, BATCHES, type Persons } from './persons.js';
import { type CodePools, mapCsvPath } from './phecodes.js';
import { type AncestrySpecificEffect, LDL_SD, type Phenotypes } from './phenotypes.js';
import {
  BURDEN_GENE,
  LDL_ANCESTRY_SPECIFIC,
  LDL_VARIANTS,
  PLANTED_BINARY,
  PLANTED_BURDEN,
  PLANTED_TIME_TO_EVENT,
  POLYGENIC_TRAIT,
} from './planted.js';

/** What `buildTruth` records: the generator's settings and what the generation produced. */
export interface TruthInputs {
  /** The generator's settings (compared by `ifExists: 'reuse'`). */
  generator: unknown;
  counts: SynthCounts;
  extractDate: string;
  fst: number;
  /** The folder of real phecode maps given in the options, or undefined (the shipped demo map). */
  phecodeMaps: string | undefined;
  pools: CodePools;
  geno: GenotypeResult;
  phenotypes: Phenotypes;
  plantedCounts: PlantedCount[];
  /** The planted time-to-event phecode's counts (null: not generated). */
  timeToEvent?: TimeToEventCount | null;
  nPersons: number;
  persons: Persons;
  /** Sibships, when generated with families. */
  families?: FamilyPlan;
}

type VariantOut = { id: string; chrom: string; pos: number; ref: string; alt: string; af: number };

/** truth.json `families`: the model and every sibship's person ids. */
function familiesTruth(plan: FamilyPlan, persons: Persons) {
  const members: string[][] = [];
  for (let k = 0; k < plan.nFamilies; k++)
    members.push(persons.ids.slice(plan.start[k], plan.start[k] + plan.size));
  return {
    model: 'full sibships; parents drawn as founders, not sampled; no shared environment',
    share: plan.share,
    size: plan.size,
    nFamilies: plan.nFamilies,
    personsInFamilies: plan.nFamilies * plan.size,
    recombination: `Haldane (Poisson crossovers), ${MORGANS_PER_BP * 1e8} cM/Mb`,
    expectedKinship: { siblings: 0.25, unrelated: 0 },
    members,
  };
}

/** truth.json `polygenic`: the trait's model, its large effects and where its causal variants are. */
function polygenicTruth(t: TruthInputs, variantOut: (key: string) => VariantOut) {
  const p = t.phenotypes.polygenic!;
  const score = t.geno.polygenic!;
  const spec = POLYGENIC_TRAIT;
  const round = (x: number) => Number(x.toPrecision(6));
  const largeKeys = new Set(spec.large.map((v) => v.key));
  return {
    trait: spec.name,
    unit: spec.unit,
    sources: [`tables.pheno: column ${spec.name}`],
    model:
      `${spec.name} = ${spec.mean} + ${spec.sd} (ancestry(EUR ${spec.ancestry[0]}, AFR ${spec.ancestry[1]}, EAS ${spec.ancestry[2]})` +
      ' + sum b z (large) + sum c w z (small) + sqrt(1 - h2) e)',
    mean: spec.mean,
    sd: spec.sd,
    h2: spec.h2,
    h2Large: round(spec.large.reduce((s, v) => s + v.r2, 0)),
    h2Small: round(p.h2Small),
    realisedH2: round(p.realisedH2),
    sharedEnvironment: 0,
    nPolygenic: p.nSmall,
    causal: p.large.map((e) => ({
      key: e.key,
      ...variantOut(e.key),
      r2: e.r2,
      betaStd: round(e.betaStd),
      betaPerAllele: round(e.betaPerAllele),
    })),
    // Blocks holding a causal variant of the trait (large ones with their `key`): variants
    // outside them are null for the trait (blocks are independent draws, so no LD crosses them).
    causalBlocks: score.spans.filter((s) => s.key === undefined || largeKeys.has(s.key)),
    small: score.variants.map((v) => ({
      id: v.id,
      af: Number(v.af.toFixed(6)),
      betaStd: round(p.scale * v.weight),
    })),
  };
}

/** truth.json `ancestrySpecific`: the variant, its block, its effect per ancestry group. */
function ancestrySpecificTruth(v: AncestrySpecificVariant, e: AncestrySpecificEffect) {
  const round = (x: number) => Number(x.toPrecision(6));
  const group = ANCESTRIES[e.ancestry];
  return {
    key: e.key,
    trait: LDL_ANCESTRY_SPECIFIC.trait,
    ancestry: group,
    model: `LDL += ${LDL_SD} b (x - mean_${group}) / sd_${group} for ${group} persons only (x the ALT count)`,
    id: v.id,
    chrom: v.chrom,
    pos: v.pos,
    ref: v.ref,
    alt: v.alt,
    af: Number(v.af.toFixed(6)),
    afByAncestry: Object.fromEntries(ANCESTRIES.map((a, k) => [a, Number(v.afByAncestry[k].toFixed(6))])),
    // The LD block it lies in: other variants there tag it, variants outside do not.
    block: { chrom: v.block.chrom, start: v.block.start, end: v.block.end },
    r2Within: e.r2,
    betaStd: round(e.betaStd),
    betaPerAllele: Object.fromEntries(ANCESTRIES.map((a, k) => [a, round(e.betaPerAllele[k])])),
    persons: e.n,
  };
}

/** The content of truth.json (written as formatted JSON, keys in this order). */
export async function buildTruth(t: TruthInputs) {
  const { generator, counts, extractDate, fst, pools, geno, phenotypes, plantedCounts, nPersons } = t;
  const causal = new Map(geno.causal.map((c) => [c.key, c]));
  const variantOut = (key: string) => {
    const v = causal.get(key)!;
    return { id: v.id, chrom: v.chrom, pos: v.pos, ref: v.ref, alt: v.alt, af: Number(v.af.toFixed(6)) };
  };
  const round = (x: number) => Number(x.toPrecision(6));
  const countOf = (key: string) => plantedCounts.find((p) => p.key === key)!;
  const carriers = geno.burdenCarrier.reduce((a, b) => a + b, 0);
  const caseCarriers = (key: string) => {
    const c = phenotypes.cases.get(key)!;
    let k = 0;
    for (let i = 0; i < nPersons; i++) k += c[i] & geno.burdenCarrier[i];
    return k;
  };
  const step = Math.max(1, Math.floor(geno.nullCandidates.length / 50));
  const truth = {
    generator,
    counts,
    extractDate,
    ancestry: { groups: [...ANCESTRIES], fst, model: 'Balding-Nichols' },
    batches: [...BATCHES],
    // Repository-relative for the shipped demo map, so truth.json is the same in every checkout.
    phecodeMaps: t.phecodeMaps
      ? {
          v12: pools.mapDir,
          X: pools.mapDirX ?? null,
          sha256: await sha256File(mapCsvPath(join(pools.mapDir, 'phecode_map.csv'))),
        }
      : {
          v12: 'data/demo-phecode-map/v1.2',
          X: 'data/demo-phecode-map/X',
          sha256: await sha256File(mapCsvPath(join(pools.mapDir, 'phecode_map.csv'))),
        },
    spectrum: geno.spectrum,
    recordsWithDs: geno.nWithDs,
    recordsLowCallRate: geno.nLowCallRate,
    quantitative: [
      {
        trait: 'LDL',
        unit: 'mg/dL',
        sources: ['measurements: name LDL (LOINC 13457-7 mg/dL; 22748-8 mmol/L)', 'tables.pheno: column LDL'],
        model: 'LDL = 120 + 0.35(age-55) + 4 female + ancestry(EUR 0, AFR -10, EAS +8) + 32 (sum b z + e)',
        sd: LDL_SD,
        causal: phenotypes.ldlEffects.map((e) => ({
          key: e.key,
          ...variantOut(e.key),
          r2: e.r2,
          betaStd: round(e.betaStd),
          betaPerAllele: round(e.betaPerAllele),
        })),
      },
    ],
    ...(phenotypes.ancestrySpecific && geno.ancestrySpecific
      ? { ancestrySpecific: [ancestrySpecificTruth(geno.ancestrySpecific, phenotypes.ancestrySpecific)] }
      : {}),
    binary: PLANTED_BINARY.map((spec) => ({
      key: spec.key,
      name: spec.name,
      phecode12: spec.phecode12,
      phecodeX: spec.phecodeX,
      prevalence: spec.prevalence,
      model: 'liability threshold',
      cases: countOf(spec.key).cases,
      singleCodePersons: countOf(spec.key).singleCode,
      causal: phenotypes.effects.get(spec.key)!.map((e) => ({
        key: e.key,
        ...variantOut(e.key),
        r2: e.r2,
        betaStd: round(e.betaStd),
        liabilityPerAllele: round(e.betaPerAllele),
      })),
    })),
    burden: {
      gene: BURDEN_GENE,
      mask: 'pLoF',
      consequences: [
        'stop_gained',
        'frameshift_variant',
        'splice_donor_variant',
        'splice_acceptor_variant',
        'start_lost',
      ],
      variants: geno.burdenPlof,
      carriers,
      phecodes: PLANTED_BURDEN.map((spec) => ({
        key: spec.key,
        name: spec.name,
        phecode12: spec.phecode12,
        phecodeX: spec.phecodeX,
        prevalence: spec.prevalence,
        liabilityShift: spec.shift,
        cases: countOf(spec.key).cases,
        casesAmongCarriers: caseCarriers(spec.key),
        singleCodePersons: countOf(spec.key).singleCode,
      })),
    },
    ...(t.timeToEvent
      ? {
          timeToEvent: {
            key: PLANTED_TIME_TO_EVENT.key,
            name: PLANTED_TIME_TO_EVENT.name,
            phecode12: PLANTED_TIME_TO_EVENT.phecode12,
            phecodeX: PLANTED_TIME_TO_EVENT.phecodeX,
            exposure: `${BURDEN_GENE} pLoF carrier (as burden.carriers)`,
            timeScale: 'age',
            model: 'proportional hazards, Weibull baseline: H0(age) = (age/scale)^shape (female non-carrier)',
            hazardRatio: PLANTED_TIME_TO_EVENT.hr,
            hazardRatioMale: PLANTED_TIME_TO_EVENT.hrMale,
            shape: PLANTED_TIME_TO_EVENT.shape,
            scale: PLANTED_TIME_TO_EVENT.scale,
            codes:
              'one code on the onset day (or the EHR start day if onset was earlier), a second 1–60 days later, 0–4 more',
            incident: t.timeToEvent.incident,
            incidentCarriers: t.timeToEvent.incidentCarriers,
            prevalentAtEhrStart: t.timeToEvent.prevalent,
            prevalentCarriers: t.timeToEvent.prevalentCarriers,
            onsetAfterExtract: t.timeToEvent.censored,
          },
        }
      : {}),
    nullVariants: geno.nullCandidates
      .filter((_, i) => i % step === 0)
      .slice(0, 50)
      .map((v) => ({
        id: v.id,
        chrom: v.chrom,
        pos: v.pos,
        ref: v.ref,
        alt: v.alt,
        af: Number(v.af.toFixed(6)),
      })),
    nullGenes: geno.genes
      .filter((g) => g.symbol !== BURDEN_GENE)
      .map((g) => ({
        symbol: g.symbol,
        chrom: g.chrom,
        plof: g.plof.length,
        missense: g.missense.length,
        plofCarriers: g.plofCarriers,
      })),
    plantedLdlVariantCount: LDL_VARIANTS.length,
    ...(t.families ? { families: familiesTruth(t.families, t.persons) } : {}),
    ...(t.phenotypes.polygenic ? { polygenic: polygenicTruth(t, variantOut) } : {}),
  };
  return truth;
}
