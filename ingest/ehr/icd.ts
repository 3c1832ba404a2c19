/**
 * ICD code normalisation to the canonical form of the phecode maps: upper case, dotted.
 * - ICD-10 / ICD-10-CM: category of 3 characters, then a dot and up to 4 more (`E119` →
 *   `E11.9`, `e11.9` → `E11.9`, `I10` → `I10`).
 * - ICD-9-CM: numeric codes have 3 digits before the dot (`25000` → `250.00`, `8.0` →
 *   `008.0`); V codes `V` + 2 digits (`V700` → `V70.0`); E codes `E` + 3 digits (`E8490` →
 *   `E849.0`).
 */
import type { Vocabulary } from '../../schemas/release.js';

/** Canonical dotted code, or null when the code does not have the vocabulary's shape. */
export function normalizeIcd(raw: string, vocabulary: Vocabulary): string | null {
  const code = raw.trim().toUpperCase();
  if (code === '') return null;
  if (vocabulary === 'ICD10CM' || vocabulary === 'ICD10') {
    const flat = code.replace('.', '');
    if (code.includes('.') && code.indexOf('.') !== 3) return null;
    if (!/^[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}$/.test(flat)) return null;
    return flat.length > 3 ? `${flat.slice(0, 3)}.${flat.slice(3)}` : flat;
  }
  // ICD-9-CM
  let head: string;
  let tail: string;
  if (code.includes('.')) {
    [head, tail] = code.split('.', 2) as [string, string];
    if (code.split('.').length > 2) return null;
    if (/^\d{1,3}$/.test(head)) head = head.padStart(3, '0');
  } else if (code.startsWith('E')) {
    head = code.slice(0, 4);
    tail = code.slice(4);
  } else {
    head = code.slice(0, 3);
    tail = code.slice(3);
  }
  const ok =
    (/^\d{3}$/.test(head) && /^\d{0,2}$/.test(tail)) ||
    (/^V\d{2}$/.test(head) && /^\d{0,2}$/.test(tail)) ||
    (/^E\d{3}$/.test(head) && /^\d?$/.test(tail));
  if (!ok) return null;
  return tail ? `${head}.${tail}` : head;
}

/** The vocabulary named by `raw` (case-insensitive, `-` and spaces ignored), or null. */
export function parseVocabulary(raw: string): Vocabulary | null {
  const v = raw.trim().toUpperCase().replace(/[\s-]/g, '');
  if (v === 'ICD9CM' || v === 'ICD9') return 'ICD9CM';
  if (v === 'ICD10CM') return 'ICD10CM';
  if (v === 'ICD10') return 'ICD10';
  return null;
}
