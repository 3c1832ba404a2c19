/** Error classification: what cannot succeed on a retry fails at once; transient errors retry. */
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { classify, toFailure } from '../../activities/failures.js';
import { NON_RETRYABLE_TYPES } from '../../engine/errors.js';

const errno = (code: string, path: string) => Object.assign(new Error(`${code}: ${path}`), { code, path });

describe('error classification', () => {
  it('missing release files, corrupt compressed data and deterministic SQL errors are final', () => {
    expect(classify(errno('ENOENT', '/d/releases/r1/abc123/variants.parquet'))).toBe('MissingFile');
    expect(
      classify(
        new Error(
          'IO Error: No files found that match the pattern "/d/releases/r1/abc/measurements.parquet"',
        ),
      ),
    ).toBe('MissingFile');
    expect(classify(Object.assign(new Error('unexpected end of file'), { code: 'Z_BUF_ERROR' }))).toBe(
      'CorruptInput',
    );
    expect(classify(new Error('Catalog Error: Column with name x already exists!'))).toBe('DataError');
    expect(classify(new Error('Binder Error: Referenced column "y" not found'))).toBe('DataError');
    for (const t of ['MissingFile', 'CorruptInput', 'DataError']) expect(NON_RETRYABLE_TYPES).toContain(t);
    const f = toFailure(new Error('Parser Error: syntax error at or near "SELEC"')) as ApplicationFailure;
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect(f.nonRetryable).toBe(true);
    expect(f.type).toBe('DataError');
  });

  it('lock contention, temp files that vanish in a race and other errors stay retryable', () => {
    expect(
      classify(new Error('IO Error: Could not set lock on file "/d/engine.duckdb": Conflicting lock')),
    ).toBe(undefined);
    expect(classify(errno('ENOENT', '/d/releases/r1/abc/derived/pca/.k4-x.tmp-1/pcs.parquet'))).toBe(
      undefined,
    );
    expect(classify(errno('ENOENT', '/d/tmp/bundle.js'))).toBe(undefined);
    expect(classify(new Error('Out of Memory Error: failed to allocate'))).toBe(undefined);
    const plain = new Error('socket hang up');
    expect(toFailure(plain)).toBe(plain);
  });
});
