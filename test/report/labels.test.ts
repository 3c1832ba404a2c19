/** PheWAS plot labels never overlap: neighbours join one label; at most `top` labels. */
import { describe, expect, it } from 'vitest';
import { placeLabels } from '../../report/specs.js';

const pt = (x: number, nlp: number, label: string) => ({ x, nlp, label });

describe('placeLabels', () => {
  it('joins neighbouring phecodes with the same p into one label', () => {
    const labels = placeLabels([pt(100, 30.7, '425'), pt(101, 30.7, '425.1'), pt(900, 22.7, '427.2')], {
      nX: 1500,
      maxY: 31,
      top: 5,
    });
    expect(labels.map((l) => l.label)).toEqual(['425, 425.1', '427.2']);
  });

  it('keeps far-apart labels apart, caps the count, and leaves no two labels in one box', () => {
    const points = Array.from({ length: 40 }, (_, i) => pt((i * 37) % 1500, 8 + ((i * 13) % 17), `p${i}`));
    const labels = placeLabels(points, { nX: 1500, maxY: 25, top: 6 });
    expect(labels.length).toBeLessThanOrEqual(6);
    for (const a of labels)
      for (const b of labels)
        if (a !== b)
          expect(Math.abs(a.x - b.x) >= 0.06 * 1500 || Math.abs(a.nlp - b.nlp) >= 0.07 * 25).toBe(true);
    // The most significant point is always labelled.
    const best = points.reduce((m, p) => (p.nlp > m.nlp ? p : m));
    expect(labels[0].label.split(', ')[0]).toBe(best.label);
  });

  it('lists at most three codes in one label', () => {
    const labels = placeLabels(
      [pt(10, 9, 'a'), pt(11, 9, 'b'), pt(12, 9, 'c'), pt(13, 9, 'd'), pt(14, 9, 'e')],
      { nX: 100, maxY: 10, top: 5 },
    );
    expect(labels.map((l) => l.label)).toEqual(['a, b, c +2']);
  });
});
