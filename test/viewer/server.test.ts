/**
 * The viewer over HTTP: every page and API route, search, the read-only guarantee, and hostile
 * requests (path traversal, SQL injection, other methods, foreign Host headers) that must get a
 * 4xx and leak nothing.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.js';
import { sha256File } from '../../engine/fsutil.js';
import { startViewer, type Viewer } from '../../viewer/server.js';
import { addBurdenPhewas, BURDEN_PREDICTORS } from '../report/helpers.js';
import { type Fixture, makeFixture } from '../results/fixture.js';

let fx: Fixture;
let viewer: Viewer;
let dbHash = '';

beforeAll(async () => {
  fx = await makeFixture();
  await addBurdenPhewas(fx);
  dbHash = await sha256File(fx.config.database);
  viewer = await startViewer(fx.config, { port: 0 });
});
afterAll(async () => {
  await viewer?.close();
  await fx?.cleanup();
});

/** A raw GET (no client-side URL normalisation), optionally with another Host or method. */
function raw(
  path: string,
  options: { method?: string; host?: string } = {},
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const { port } = new URL(viewer.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: Number(port),
        path,
        method: options.method ?? 'GET',
        headers: options.host ? { Host: options.host } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            headers: res.headers,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const enc = encodeURIComponent;

describe('pages', () => {
  it('binds 127.0.0.1 by default', () => {
    expect(viewer.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((viewer.server.address() as { address: string }).address).toBe('127.0.0.1');
  });

  it('serves the runs list, run, GWAS, variant, gene and phecode pages', async () => {
    const runs = await raw('/');
    expect(runs.status).toBe(200);
    expect(runs.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(runs.body).toContain(`href="/runs/${fx.runId}"`);

    const run = await raw(`/runs/${fx.runId}`);
    expect(run.status).toBe(200);
    expect(run.body).toContain('<script src="/static/vega.min.js"></script>');
    expect(run.body.match(/data-plot="manhattan-/g)?.length).toBe(3);

    const gwas = await raw(`/runs/${fx.runId}/gwas/LDL`);
    expect(gwas.status).toBe(200);
    expect(gwas.body).toContain(`href="/variant/${enc(fx.topVariant)}"`);
    expect(gwas.body).toContain('class="top-hits-table"');
    expect((await raw(`/runs/${fx.runId}/gwas/${enc('250.2')}`)).status).toBe(200);
    expect((await raw(`/runs/${fx.runId}/gwas/nope`)).status).toBe(404);

    const variant = await raw(`/variant/${enc(fx.topVariant)}`);
    expect(variant.status).toBe(200);
    expect(variant.body).toContain('class="variant-gwas-table"');
    expect(variant.body).toContain('data-plot="phewas-0-');

    const gene = await raw('/gene/PCSK9');
    expect(gene.status).toBe(200);
    expect(gene.body).toContain('data-plot="burden-phewas"');
    expect(gene.body).toContain('class="burden-table"');
    expect((await raw('/gene/NOTAGENE')).status).toBe(404);

    const phecode = await raw(`/phecode/${enc('255.2')}`);
    expect(phecode.status).toBe(200);
    expect(phecode.body).toContain('class="phecode-table"');
  });

  it('searches by rsid, chr:pos, variant id, gene and phecode', async () => {
    const top = fx.gwas.find((r) => r.variant_id === fx.topVariant && r.phenotype === 'LDL');
    const withRsid = fx.gwas.find((r) => r.rsid && r.phenotype === 'LDL' && r.chrom === '2');
    const cases: [string, string][] = [
      [withRsid?.rsid as string, `/variant/${enc(withRsid?.variant_id as string)}`],
      [fx.topVariant, `/variant/${enc(fx.topVariant)}`],
      ['PCSK9', '/gene/PCSK9'],
      ['ldlr', '/gene/LDLR'],
      ['255.2', `/phecode/${enc('255.2')}`],
    ];
    for (const [q, url] of cases) {
      const r = await raw(`/search?q=${enc(q)}`);
      expect(r.status, q).toBe(302);
      expect(r.headers.location, q).toBe(url);
    }
    // chr:pos: every variant at that position (the fixture has one per phenotype, alleles differ).
    const atPos = [
      ...new Set(
        fx.gwas.filter((r) => r.chrom === top?.chrom && r.pos === top?.pos).map((r) => r.variant_id),
      ),
    ];
    expect(atPos.length).toBeGreaterThan(1);
    for (const q of [`${top?.chrom}:${top?.pos}`, `chr${top?.chrom}:${top?.pos}`]) {
      const r = await raw(`/search?q=${enc(q)}`);
      expect(r.status).toBe(200);
      const found = [...r.body.matchAll(/href="\/variant\/([^"]+)"/g)].map((m) => decodeURIComponent(m[1]));
      expect(found.sort()).toEqual(atPos.sort());
    }
    const none = await raw('/search?q=nothing-like-this');
    expect(none.status).toBe(200);
    expect(none.body).toContain('Nothing found');
    const api = JSON.parse((await raw(`/api/search?q=${enc('PCSK9')}`)).body);
    expect(api.hits).toEqual([{ type: 'gene', id: 'PCSK9', label: 'gene PCSK9', url: '/gene/PCSK9' }]);
  });
});

describe('JSON API', () => {
  it('returns runs, GWAS, variant, gene and phecode data with counts suppressed', async () => {
    const runs = JSON.parse((await raw('/api/runs')).body);
    expect(runs.runs.map((r: { run_id: string }) => r.run_id)).toEqual([fx.runId]);

    const gwas = JSON.parse((await raw(`/api/runs/${fx.runId}/gwas/LDL?limit=5`)).body);
    expect(gwas.top).toHaveLength(5);
    expect(gwas.top[0].variant_id).toBe(fx.topVariant);
    expect(gwas.manhattan.nVariants).toBe(
      fx.gwas.filter((r) => r.phenotype === 'LDL' && r.neg_log10_p !== null).length,
    );
    expect((await raw(`/api/runs/${fx.runId}/gwas/LDL?limit=0`)).status).toBe(400);

    const variant = JSON.parse((await raw(`/api/variant/${enc(fx.topVariant)}`)).body);
    const expected = fx.phewas.filter((r) => r.predictor === fx.topVariant);
    expect(variant.phewas).toHaveLength(expected.length);
    const three = variant.phewas.find(
      (r: { phecode: string }) => r.phecode === expected.find((e) => e.n_cases === 3)?.phecode,
    );
    expect(three.n_cases).toBe('≤20');
    expect(three.reason).toBe('≤20 cases < 20'); // the skip reason does not quote the hidden 3
    expect(JSON.stringify(variant)).not.toMatch(/"n_cases":(20|1[0-9]|[1-9])[,}]/);
    expect(JSON.stringify(variant)).not.toMatch(/"reason":"(20|1[0-9]|[1-9]) cases/);

    const gene = JSON.parse((await raw('/api/gene/PCSK9')).body);
    expect(gene.burden.find((b: { aaf_bin: string }) => b.aaf_bin === 'singleton').n_carriers).toBe('≤20');
    expect(new Set(gene.phewas.map((r: { predictor: string }) => r.predictor))).toEqual(
      new Set([BURDEN_PREDICTORS[0]]),
    );

    const phecode = JSON.parse((await raw(`/api/phecode/${enc('255.2')}`)).body);
    expect(phecode.phewas.length).toBe(fx.phewas.filter((r) => r.phecode === '255.2').length);
  });
});

describe('hostile requests', () => {
  const leaks = (body: string) => {
    expect(body).not.toContain(fx.dataDir);
    expect(body).not.toMatch(/root:|Binder Error|Parser Error|Catalog Error|duckdb|SELECT|\n\s+at /i);
  };

  it('path traversal gets 404 and no file content', async () => {
    for (const path of [
      '/static/../../etc/passwd',
      '/static/%2e%2e/%2e%2e/etc/passwd',
      '/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '/static/..%2f..%2fengine.duckdb',
      '/static/%252e%252e%252fetc%252fpasswd',
      '/static/vega.min.js/../../../etc/passwd',
      '/static/',
      '/static/constructor',
      '/static/__proto__',
      '/static/toString',
      '/../engine.duckdb',
      '/engine.duckdb',
      `/runs/${fx.runId}/gwas/..%2f..%2f..%2fetc%2fpasswd`,
      `/runs/${fx.runId}/gwas/%2e%2e`,
      '/runs/..%2f..%2fetc/gwas/LDL',
      '//etc/passwd',
      '/%00',
      '/static/%',
    ]) {
      const r = await raw(path);
      expect([400, 404], path).toContain(r.status);
      leaks(r.body);
    }
  });

  it('SQL injection in path and query parameters is rejected or matched as plain text', async () => {
    for (const path of [
      `/api/variant/${enc("1:1:A:G' OR '1'='1")}`,
      `/api/variant/${enc('1:1:A:G; DROP TABLE runs; --')}`,
      `/api/gene/${enc("PCSK9' OR 1=1 --")}`,
      `/api/gene/${enc('x" UNION SELECT * FROM runs --')}`,
      `/api/phecode/${enc("250.2') OR ('1'='1")}`,
      `/api/runs/${enc(`${fx.runId}' OR '1'='1`)}`,
      `/api/runs/${fx.runId}/gwas/${enc("LDL' OR '1'='1")}`,
      `/api/runs/${fx.runId}/gwas/LDL?limit=${enc('5; DROP TABLE runs')}`,
      `/variant/${enc("x' UNION SELECT run_id FROM runs --")}`,
    ]) {
      const r = await raw(path);
      expect([400, 404], path).toContain(r.status);
      leaks(r.body);
    }
    for (const q of [
      "rs1' OR '1'='1",
      "PCSK9' OR 1=1 --",
      "1:1' UNION SELECT * FROM runs --",
      "'; DROP TABLE runs; --",
    ]) {
      const r = await raw(`/api/search?q=${enc(q)}`);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toEqual({ hits: [] });
    }
    // Still all there.
    expect(JSON.parse((await raw('/api/runs')).body).runs).toHaveLength(1);
  });

  it('echoes nothing unescaped (XSS in the search box)', async () => {
    const r = await raw(`/search?q=${enc('<script>alert(1)</script>"><img src=x onerror=alert(1)>')}`);
    expect(r.status).toBe(200);
    expect(r.body).not.toContain('<script>alert');
    expect(r.body).not.toContain('<img src=x');
    expect(r.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('biobank serve on a port in use exits 3 with a hint', async () => {
    const { port } = new URL(viewer.url);
    const err: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
    const saved = process.env.BIOBANK_DATA_DIR;
    process.env.BIOBANK_DATA_DIR = fx.dataDir;
    try {
      expect(await main(['serve', '--port', port])).toBe(3);
    } finally {
      spy.mockRestore();
      if (saved === undefined) delete process.env.BIOBANK_DATA_DIR;
      else process.env.BIOBANK_DATA_DIR = saved;
    }
    expect(err.join('\n')).toMatch(/^error: port \d+ is already in use\nhint: pick another/);
  });

  it('other methods get 405, a foreign Host header 403, unknown routes 404', async () => {
    expect((await raw('/api/runs', { method: 'POST' })).status).toBe(405);
    expect((await raw('/api/runs', { method: 'DELETE' })).status).toBe(405);
    const rebinding = await raw('/api/runs', { host: 'evil.example:80' });
    expect(rebinding.status).toBe(403);
    expect(rebinding.body).not.toContain(fx.runId);
    expect((await raw('/api/nothing')).status).toBe(404);
    expect((await raw('/api/runs/extra/segments/here/too')).status).toBe(404);
    const head = await raw('/api/runs', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('left the results database unchanged (read-only)', async () => {
    expect(await sha256File(fx.config.database)).toBe(dbHash);
  });
});
