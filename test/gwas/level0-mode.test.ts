/**
 * Which level 0 a step 1 runs (gwas/step1.ts `level0Mode`): `auto` takes the whole genome for
 * quantitative traits up to persons × step-1 variants × traits = GENOME_LEVEL0_AUTO_MAX, blocks
 * beyond and for binary traits; an explicit
 * `genome` too large to hold is refused as bad input, naming the field, before anything is written.
 */
import { describe, expect, it } from 'vitest';
import { InputError } from '../../engine/errors.js';
import { GENOME_LEVEL0_MAX_VALUES, level0Mode, locoSettings } from '../../gwas/step1.js';
import { GENOME_LEVEL0_AUTO_MAX, gwasSpecSchema } from '../../schemas/study.js';

const settings = (level0?: 'auto' | 'blocks' | 'genome') =>
  locoSettings(gwasSpecSchema.parse({ relatedness: 'loco', ...(level0 ? { loco: { level0 } } : {}) }));

describe('level0Mode', () => {
  it('auto: the whole genome for quantitative traits up to the bound, blocks beyond and for binary traits', () => {
    expect(settings().level0).toBe('auto');
    expect(level0Mode(settings(), 3000, 7677, 1, false)).toBe('genome');
    expect(level0Mode(settings(), 3000, 7677, 1, true)).toBe('blocks');
    expect(level0Mode(settings(), 3000, 7677, 8, false)).toBe('blocks');
    expect(level0Mode(settings(), 10_000, 5000, 1, false)).toBe('genome');
    expect(GENOME_LEVEL0_AUTO_MAX).toBe(5e7);
    expect(level0Mode(settings(), 10_000, 5001, 1, false)).toBe('blocks');
    expect(level0Mode(settings(), 10_000, 90_000, 1, false)).toBe('blocks');
  });

  it('an explicit choice is kept; genome beyond 2 GiB of genotypes is refused, naming the field', () => {
    expect(level0Mode(settings('blocks'), 100, 100, 1, false)).toBe('blocks');
    expect(level0Mode(settings('genome'), 10_000, 20_000, 50, true)).toBe('genome');
    const big = () => level0Mode(settings('genome'), 100_000, 5000, 1, false);
    expect(100_000 * 5000).toBeGreaterThan(GENOME_LEVEL0_MAX_VALUES);
    expect(big).toThrow(InputError);
    expect(big).toThrow(/gwas\.loco\.level0.*100000 × 5000.*3\.7 GiB.*'blocks'/);
    expect(level0Mode(settings('blocks'), 100_000, 5000, 1, false)).toBe('blocks');
  });
});
