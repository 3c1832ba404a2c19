/**
 * The committed WebAssembly scan kernel is what its generator makes (issue 17): regenerating
 * stats/wasm/build.ts → scan.wat → scan-wasm.ts from the current generator gives byte-identical
 * files, so nobody can edit the generator (or the outputs) without the other.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assemble, embedSource, moduleText } from '../../stats/wasm/build.js';

const dir = join(import.meta.dirname, '..', '..', 'stats', 'wasm');

describe('generated WASM kernel', () => {
  it('scan.wat and scan-wasm.ts match a fresh regeneration', async () => {
    // The generator's experiment knobs must be at their defaults for the committed module.
    expect(process.env.SCAN_SPARSE_BLOCK ?? '').toBe('');
    expect(process.env.SCAN_UNROLL ?? '').toBe('');
    const text = moduleText();
    expect(text).toBe(readFileSync(join(dir, 'scan.wat'), 'utf8'));
    expect(embedSource(await assemble(text))).toBe(readFileSync(join(dir, 'scan-wasm.ts'), 'utf8'));
  });

  it('a change to the module text changes the embedded binary', async () => {
    const text = moduleText();
    const changed = text.replace('(memory (export "mem") 1)', '(memory (export "mem") 2)');
    expect(changed).not.toBe(text);
    expect(embedSource(await assemble(changed))).not.toBe(embedSource(await assemble(text)));
  });
});
