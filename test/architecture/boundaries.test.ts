/**
 * The import-boundary rule (issue 17): lower layers never import higher ones. Every TypeScript
 * module of the engine is parsed (TypeScript's own parser), each relative import resolved to its
 * layer, and checked against LAYERS below; docs/ARCHITECTURE.md draws the same table.
 *
 * - `stats/` and `schemas/` import nothing of the engine.
 * - `engine/` (infrastructure: DuckDB, files, threads, Temporal client) imports no domain core,
 *   no activity, no workflow.
 * - Domain cores (`ingest/`, `phenotype/`, `gwas/`, `phewas/`, `burden/`, `export/`, `report/`,
 *   `synth/`) import infrastructure and the cores listed for them, never activities.
 * - Activities are adapters: they import cores, never each other (only the shared adapter
 *   helpers and the index that assembles them).
 * - Workflows import schemas and other workflow modules, and activities as types only.
 * - `worker.ts` is the one place that wires activities to the worker; `cli/`, `viewer/`,
 *   `bench/`, `scripts/` and tests sit on top.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');

const INFRA = ['stats', 'schemas', 'config', 'engine'];
/** Layer → the layers it may import (besides itself). */
const LAYERS: Record<string, string[]> = {
  stats: [],
  schemas: [],
  config: ['schemas'],
  engine: ['stats', 'schemas', 'config'],
  synth: INFRA,
  ingest: INFRA,
  phenotype: [...INFRA, 'ingest'],
  gwas: [...INFRA, 'phenotype'],
  phewas: [...INFRA, 'phenotype'],
  burden: [...INFRA, 'phenotype'],
  export: [...INFRA, 'ingest'],
  report: [...INFRA, 'ingest'],
  study: [...INFRA, 'phenotype'],
  meta: [...INFRA, 'ingest'],
  activities: [
    ...INFRA,
    'synth',
    'ingest',
    'phenotype',
    'gwas',
    'phewas',
    'burden',
    'export',
    'report',
    'study',
    'meta',
  ],
  workflows: ['schemas'],
  worker: [...INFRA, 'activities', 'workflows'],
  viewer: [...INFRA, 'ingest', 'export', 'report', 'meta'],
  cli: [...INFRA, 'synth', 'ingest', 'phenotype', 'export', 'report', 'viewer', 'worker', 'meta'],
};
/** Activity modules every adapter may use: failure mapping, payload checks, timings, keep-alive. */
const SHARED_ACTIVITY_MODULES = new Set(['failures', 'timings', 'keepalive', 'payloads']);
/** Type-only imports that are allowed although the layer is not (workflows need the activity types). */
const TYPE_ONLY_ALLOWED: Record<string, string[]> = { workflows: ['activities'], cli: ['workflows'] };

function layerOf(file: string, root = ROOT): string | undefined {
  const rel = relative(root, file);
  if (rel === 'temporal.config.ts') return 'config';
  if (rel === 'worker.ts') return 'worker';
  const top = rel.split('/')[0];
  return top in LAYERS ? top : undefined;
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (/\.(ts|mts)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

/** Relative imports, re-exports and dynamic imports of one module. */
function importsOf(file: string): Edge[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  const edges: Edge[] = [];
  const add = (spec: string, typeOnly: boolean) => {
    if (!spec.startsWith('.')) return;
    edges.push({ from: file, to: resolve(dirname(file), spec.replace(/\.js$/, '.ts')), typeOnly });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        !!clause &&
        (clause.isTypeOnly ||
          (!clause.name &&
            !!clause.namedBindings &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier.text, typeOnly);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      add(node.moduleSpecifier.text, node.isTypeOnly);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      add(node.arguments[0].text, false);
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      add(node.argument.literal.text, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return edges;
}

/** Every import that breaks the rule, as `from → to (why)`. */
function violations(root = ROOT): string[] {
  const files = [
    ...['temporal.config.ts', 'worker.ts'].map((f) => join(root, f)).filter((f) => existsSync(f)),
    ...Object.keys(LAYERS)
      .filter((l) => l !== 'config' && l !== 'worker')
      .flatMap((l) => sourceFiles(join(root, l))),
  ];
  const out: string[] = [];
  for (const file of files) {
    const from = layerOf(file, root) as string;
    for (const e of importsOf(file)) {
      const to = layerOf(e.to, root);
      const show = `${relative(root, e.from)} → ${relative(root, e.to)}`;
      if (to === undefined) {
        out.push(`${show} (imports outside the engine's layers)`);
        continue;
      }
      if (to === from) {
        const mod = relative(join(root, 'activities'), e.to).replace(/\.ts$/, '');
        const self = relative(join(root, 'activities'), e.from).replace(/\.ts$/, '');
        if (from === 'activities' && self !== 'index' && !SHARED_ACTIVITY_MODULES.has(mod))
          out.push(`${show} (an activity module imports another; share through a domain core)`);
        continue;
      }
      if (LAYERS[from].includes(to)) continue;
      if (e.typeOnly && TYPE_ONLY_ALLOWED[from]?.includes(to)) continue;
      out.push(`${show} (${from} may not import ${to}${e.typeOnly ? ', even as a type' : ''})`);
    }
  }
  return out;
}

describe('import boundaries', () => {
  it('no module imports a layer above its own', () => {
    expect(violations()).toEqual([]);
  });

  it('the rule finds each kind of violation in a tree that has them', () => {
    const root = mkdtempSync(join(tmpdir(), 'boundaries-'));
    try {
      const put = (path: string, text: string) => {
        mkdirSync(dirname(join(root, path)), { recursive: true });
        writeFileSync(join(root, path), text);
      };
      put('engine/a.ts', "import { x } from '../activities/gwas.js';\nexport const a = x;\n");
      put('activities/gwas.ts', "import { y } from './phewas.js';\nexport const x = y;\n");
      put('activities/phewas.ts', "import { f } from './failures.js';\nexport const y = f;\n");
      put('activities/failures.ts', 'export const f = 1;\n');
      put('stats/s.ts', "export type { T } from '../schemas/t.js';\n");
      put(
        'workflows/w.ts',
        "import type { A } from '../activities/index.js';\nimport { b } from '../engine/a.js';\n",
      );
      put('schemas/t.ts', 'export type T = number;\n');
      expect(violations(root).sort()).toEqual([
        'activities/gwas.ts → activities/phewas.ts (an activity module imports another; share through a domain core)',
        'engine/a.ts → activities/gwas.ts (engine may not import activities)',
        'stats/s.ts → schemas/t.ts (stats may not import schemas, even as a type)',
        'workflows/w.ts → engine/a.ts (workflows may not import engine)',
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('engine code reads the environment only in temporal.config.ts', () => {
    // Allowed elsewhere, each for a reason: where the temporal binary is (PATH), and whether the
    // user configured a server address at all (a configured server is never replaced).
    const allowed = new Set(['temporal.config.ts', 'engine/temporal-bin.ts', 'cli/services.ts']);
    const files = [
      join(ROOT, 'worker.ts'),
      ...Object.keys(LAYERS)
        .filter((l) => l !== 'config' && l !== 'worker')
        .flatMap((l) => sourceFiles(join(ROOT, l))),
    ].filter((f) => !relative(ROOT, f).startsWith('stats/wasm/')); // a build tool, run by hand
    const readers = files
      .filter((f) => /process\.env\b/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(ROOT, f))
      .filter((f) => !allowed.has(f));
    expect(readers).toEqual([]);
  });

  it('workflow code imports no Node built-ins (it runs in the deterministic sandbox)', () => {
    const bad = sourceFiles(join(ROOT, 'workflows')).flatMap((f) =>
      [...readFileSync(f, 'utf8').matchAll(/from '(node:[^']+|fs|path|os|crypto)'/g)].map(
        (m) => `${relative(ROOT, f)} → ${m[1]}`,
      ),
    );
    expect(bad).toEqual([]);
  });
});
