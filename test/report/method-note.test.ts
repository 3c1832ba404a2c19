/**
 * The report's association-model note (report/sections.ts `gwasMethodNote`): it names the level 0
 * that ran when the run's result says (auto resolved to blocks or the whole genome), else the one
 * the spec asked for; plain regression says so.
 */
import { describe, expect, it } from 'vitest';
import { gwasMethodNote } from '../../report/sections.js';

const loco = (level0?: string) => ({
  gwas: { relatedness: 'loco', ...(level0 ? { loco: { level0 } } : {}) },
});

describe('gwasMethodNote', () => {
  it('names the level 0 as run, else as asked', () => {
    expect(gwasMethodNote(loco(), 'genome')).toContain(
      'level 0: one ridge regression on every step-1 variant',
    );
    expect(gwasMethodNote(loco(), 'blocks')).toContain('level 0: ridge regressions per block of variants');
    expect(gwasMethodNote(loco('genome'))).toContain('split by chromosome');
    expect(gwasMethodNote(loco())).toContain('level 0: auto');
    expect(gwasMethodNote({ gwas: { relatedness: 'none' } })).toContain(
      'ordinary regression on the covariates',
    );
    expect(gwasMethodNote({ gwas: { relatedness: 'none' } })).not.toContain('level 0');
    expect(gwasMethodNote(null)).toBe('');
  });
});
