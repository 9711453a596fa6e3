// The source tree's shape: no import cycles between files, and no import from a layer into one above it.
// Layers, bottom to top: graph, boxes, io, draw | nn, data, eval | train, serve, predict, demo | cli (the root index.ts
// may import anything). Imports within a layer are allowed; cycles never.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

const LAYER: Record<string, number> = { graph: 0, boxes: 0, io: 0, draw: 0, nn: 1, data: 1, eval: 1, train: 2, serve: 2, predict: 2, demo: 2, cli: 3 };

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : name.endsWith('.ts') ? [path] : [];
  });
}

/** Relative imports of a file (static `import`/`export ... from`, and dynamic `import('...')`), as paths under src. */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) out.push(relative(src, resolve(dirname(file), m[1]!)).replace(/\.js$/, '.ts'));
  return out;
}

const area = (path: string): string => path.split('/')[0]!;
const graph = new Map(files(src).map((f) => [relative(src, f), imports(f)]));

test('every area of src/ has a layer, and no file imports from a layer above its own', () => {
  const upward: string[] = [];
  for (const [file, deps] of graph) {
    if (file === 'index.ts') continue;
    const own = LAYER[area(file)];
    assert.notEqual(own, undefined, `${file}: the area '${area(file)}' has no layer; add it to LAYER`);
    for (const d of deps) {
      const theirs = LAYER[area(d)];
      if (theirs !== undefined && theirs > own!) upward.push(`${file} -> ${d}`);
    }
  }
  assert.deepEqual(upward, [], 'imports from a higher layer');
});

test('no import cycles between files', () => {
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const d of graph.get(f) ?? []) {
      if (!graph.has(d)) continue;
      if (state.get(d) === 'open') cycles.push([...stack.slice(stack.indexOf(d)), d].join(' -> '));
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  assert.deepEqual(cycles, []);
});
