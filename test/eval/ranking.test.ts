// The ranking helpers against plain definitions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { argsortDescending, groupByLabel } from '../../src/eval/ranking.js';

test('argsortDescending equals a stable sort by value, highest first, at every run/merge size', () => {
  let seed = 3;
  const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
  for (const n of [0, 1, 2, 15, 16, 17, 33, 200, 1000]) {
    // Few distinct values, so ties are common and stability is tested.
    const values = Float64Array.from({ length: n + 5 }, () => Math.floor(rand() * 7) / 7);
    const from = 5;
    const expected = Array.from({ length: n }, (_, k) => from + k).sort((a, b) => values[b] - values[a] || a - b);
    assert.deepEqual(Array.from(argsortDescending(values, from, n)), expected, `n = ${n}`);
  }
});

test('groupByLabel buckets by class, keeping the given order within a class', () => {
  const labels = [2, 1, 2, 3, 1];
  const g = groupByLabel(labels, 3, [4, 3, 2, 1, 0]);
  assert.deepEqual(Array.from(g.start), [0, 0, 2, 4, 5]);
  assert.deepEqual(Array.from(g.order), [4, 1, 2, 0, 3]);
  assert.deepEqual(Array.from(groupByLabel(labels, 3).order), [1, 4, 0, 2, 3]);
});
