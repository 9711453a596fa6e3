// Bad graphs fail when they are built, with the op's name and the shapes in the message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, gradients, InferenceRunner } from '../../src/graph/index.js';

test('shape errors name the op and the shapes', () => {
  const g = new Graph('bad');
  const x = g.input('x', 'float32', ['N', 3, 32, 32]);
  const w = g.parameter('w', [8, 4, 3, 3], new Float32Array(8 * 4 * 9));
  assert.throws(() => g.conv2d(x, w), /^Error: conv2d: input \[N,3,32,32\] has 3 channels but weight \[8,4,3,3\] with groups 1 expects 4/);
  const a = g.input('a', 'float32', [2, 3]);
  const b = g.input('b', 'float32', [4, 3]);
  assert.throws(() => g.add(a, b), /^Error: add: shapes \[2,3\] and \[4,3\] do not broadcast/);
  assert.throws(() => g.matmul(a, b), /^Error: matmul: inner dims differ: \[2,3\] x \[4,3\]/);
  assert.throws(() => g.reshape(a, [4, 2]), /^Error: reshape: cannot reshape \[2,3\] \(6 elements\) to \[4,2\] \(8 elements\)/);
  assert.throws(() => g.concat([a, g.input('c', 'float32', [2, 4])], 0), /^Error: concat: shapes \[2,3\], \[2,4\] differ outside axis 0/);
  assert.throws(() => g.transpose(a, [0, 0]), /^Error: transpose: perm \[0,0\] is not a permutation/);
  assert.throws(() => g.maxPool(g.input('s', 'float32', [1, 1, 2, 2]), { kernel: 3 }), /^Error: maxPool: input size 2/);
  assert.throws(() => g.softmax(a, 2), /^Error: softmax: axis 2 is out of range for rank 2/);
  assert.throws(() => g.gather(a, g.input('f', 'float32', [2]), 0), /^Error: gather: indices must be int32 or int64, got float32/);
  assert.throws(() => g.add(a, g.input('i', 'int64', [2, 3])), /^Error: add: dtypes differ: float32 \[2,3\] and int64 \[2,3\]/);
  assert.throws(() => g.parameter('p', [2, 2], new Float32Array(3)), /^Error: parameter: 'p' has shape \[2,2\] \(4 values\) but init has 3/);
});

test('a tensor from another graph or a made-up one is refused by name', () => {
  const g = new Graph('one');
  const other = new Graph('two');
  const t = other.input('t', 'float32', [2]);
  assert.throws(() => g.relu(t), /^Error: relu: tensor 't' is not in graph 'one'/);
  assert.throws(() => g.add(g.input('a', 'float32', [2]), { name: 'ghost', dtype: 'float32', shape: [2] }), /add: tensor 'ghost' is not in graph 'one'/);
});

test('an op without a gradient rule on a path to the loss fails at build time, naming the op', () => {
  const g = new Graph('no-rule');
  const x = g.input('x', 'float32', [1, 2, 4, 4]);
  const w = g.parameter('w', [2, 2, 3, 3], new Float32Array(36));
  const up = g.convTranspose2d(g.conv2d(x, w), w); // ConvTranspose has no rule in the table
  const loss = g.reduceSum(up, [0, 1, 2, 3]);
  assert.throws(() => gradients(g, loss, [w]), /^Error: gradients: op ConvTranspose \(node 'ConvTranspose_\d+'\) has no gradient rule, and it lies on the path from 'w' to the loss/);
  // The same op off the path is fine: the loss below does not depend on it.
  const g2 = new Graph('off-path');
  const x2 = g2.input('x', 'float32', [1, 2, 4, 4]);
  const w2 = g2.parameter('w', [2, 2, 3, 3], new Float32Array(36));
  const y2 = g2.conv2d(x2, w2, undefined, { pad: 1 });
  g2.output(g2.convTranspose2d(y2, w2), 'unused');
  const grads = gradients(g2, g2.reduceSum(y2, [0, 1, 2, 3]), [w2]);
  assert.deepEqual(grads.get('w')!.shape, [2, 2, 3, 3]);
});

test('no-gradient ops stop the gradient: detach, comparisons and argMax give zero gradients', async () => {
  const g = new Graph('stops');
  const x = g.input('x', 'float64', [3]);
  const w = g.parameter('w', [3], new Float32Array([1, 2, 3]));
  const w64 = g.cast(w, 'float64');
  // loss = sum(w * detach(w)) + sum(where(w > 1.5, 1, 0) * x): d/dw = detach(w) only.
  const mask = g.cast(g.greater(w64, 1.5), 'float64');
  const loss = g.add(g.reduceSum(g.mul(w64, g.detach(w64)), [0]), g.reduceSum(g.mul(mask, x), [0]));
  const grads = gradients(g, loss, [w]);
  g.output(grads.get('w')!, 'dw');
  const r = await InferenceRunner.create(g, new Map(), { threads: 1 });
  const out = await r.run({ x: { data: new Float64Array([5, 6, 7]), dims: [3], dtype: 'float64' } });
  assert.deepEqual([...(out.dw!.data as Float32Array)], [1, 2, 3]);
  await r.release();
});

test('the loss must be a scalar', () => {
  const g = new Graph('vec');
  const w = g.parameter('w', [3], new Float32Array(3));
  assert.throws(() => gradients(g, g.mul(w, 2), [w]), /gradients: loss '.*' must be a scalar, got shape \[3\]/);
});

test('an op without a rule is fine when the loss depends on it only through a no-gradient op', () => {
  const g = new Graph('indices-only');
  const x = g.input('x', 'float32', [1, 2, 4, 4]);
  const w = g.parameter('w', [2, 2, 3, 3], new Float32Array(36));
  const y = g.conv2d(x, w, undefined, { pad: 1 });
  const pick = g.argMax(g.convTranspose2d(y, w, undefined, { pad: 1 }), 1); // ConvTranspose (no rule) -> argMax (no gradient)
  const loss = g.add(g.reduceSum(y, [0, 1, 2, 3]), g.reduceSum(g.cast(pick, 'float32'), [0, 1, 2]));
  assert.deepEqual(gradients(g, loss, [w]).get('w')!.shape, [2, 2, 3, 3]);
});
