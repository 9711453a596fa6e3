// A small conv net built with the Graph builder runs in ONNX Runtime and matches loop implementations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, InferenceRunner, ONNX } from '../../src/graph/index.js';
import { conv2d, maxPool, maxRelErr, randomArray, relu } from './naive.js';

test('conv (stride, pad, dilation, groups) + relu + maxPool (ceil, overlapping) match loop implementations', async () => {
  const g = new Graph('small');
  const x = g.input('x', 'float32', ['N', 4, 11, 11]);
  const w1 = g.parameter('w1', [6, 2, 3, 3], randomArray(6 * 2 * 9, 1, 0.5));
  const b1 = g.parameter('b1', [6], randomArray(6, 2, 0.1), { group: 'bias' });
  const w2 = g.parameter('w2', [5, 6, 3, 3], randomArray(5 * 6 * 9, 3, 0.3));
  const h1 = g.relu(g.conv2d(x, w1, b1, { stride: 2, pad: [1, 0, 2, 1], groups: 2 }));
  const h2 = g.conv2d(h1, w2, undefined, { pad: 2, dilation: 2 });
  const p = g.maxPool(h2, { kernel: 3, stride: 2, pad: 1, ceilMode: true });
  assert.deepEqual(h1.shape, ['N', 6, 6, 5]);
  assert.deepEqual(p.shape, ['N', 5, 4, 3]);
  const flat = g.reshape(g.transpose(p, [0, 2, 3, 1]), ['N', -1, 5]);
  assert.deepEqual(flat.shape, ['N', 12, 5]);
  g.output(flat, 'y');
  g.output(g.softmax(flat, -1), 'probs');

  const runner = await InferenceRunner.create(g, new Map(), { threads: 1 });
  const xs = [2, 4, 11, 11];
  const xd = randomArray(2 * 4 * 121, 4);
  const out = await runner.run({ x: { data: xd, dims: xs, dtype: 'float32' } });
  assert.deepEqual(out.y!.dims, [2, 12, 5]);

  // Independent computation.
  const c1 = conv2d(xd, xs, w1.init, [6, 2, 3, 3], b1.init, { stride: [2, 2], pad: [1, 0, 2, 1], dilation: [1, 1], groups: 2 });
  const c2 = conv2d(relu(c1.data), c1.dims, w2.init, [5, 6, 3, 3], null, { stride: [1, 1], pad: [2, 2, 2, 2], dilation: [2, 2], groups: 1 });
  const mp = maxPool(c2.data, c2.dims, 3, 2, 1, true);
  assert.deepEqual(mp.dims, [2, 5, 4, 3]);
  const expected = new Float32Array(2 * 12 * 5);
  for (let n = 0; n < 2; n++)
    for (let c = 0; c < 5; c++) for (let s = 0; s < 12; s++) expected[(n * 12 + s) * 5 + c] = mp.data[(n * 5 + c) * 12 + s]!;
  assert.ok(maxRelErr(out.y!.data as Float32Array, expected) < 1e-5, 'forward differs from the loop implementation');
  const probs = out.probs!.data as Float32Array;
  for (let r = 0; r < 24; r++) {
    let sum = 0;
    for (let c = 0; c < 5; c++) sum += probs[r * 5 + c]!;
    assert.ok(Math.abs(sum - 1) < 1e-5);
  }
  await runner.release();
});

test('maxPool ceil mode shapes agree with ORT (pool3 of SSD300: 75 -> 38; pool5 3x3 s1 p1)', async () => {
  const g = new Graph('pools');
  const x = g.input('x', 'float32', [1, 1, 75, 75]);
  const p3 = g.maxPool(x, { kernel: 2, stride: 2, ceilMode: true });
  const p5 = g.maxPool(p3, { kernel: 3, stride: 1, pad: 1 });
  const odd = g.maxPool(x, { kernel: 3, stride: 2, pad: 1, ceilMode: true });
  assert.deepEqual(p3.shape, [1, 1, 38, 38]);
  g.output(p5, 'p5');
  g.output(odd, 'odd');
  const r = await InferenceRunner.create(g, new Map(), { threads: 1 });
  const xd = randomArray(75 * 75, 9);
  const out = await r.run({ x: { data: xd, dims: [1, 1, 75, 75], dtype: 'float32' } });
  assert.deepEqual(out.p5!.dims, p5.shape);
  assert.deepEqual(out.odd!.dims, odd.shape);
  const ref = maxPool(xd, [1, 1, 75, 75], 3, 2, 1, true);
  assert.ok(maxRelErr(out.odd!.data as Float32Array, ref.data) === 0);
  await r.release();
});

test('parameters are baked as initializers with given values; the model is valid protobuf', () => {
  const g = new Graph('lin');
  const x = g.input('x', 'float32', ['N', 3]);
  const w = g.parameter('w', [3, 2], new Float32Array(6));
  g.output(g.matmul(x, w), 'y');
  const bytes = g.toBytes({ values: new Map([['w', new Float32Array([1, 2, 3, 4, 5, 6])]]) });
  const m = ONNX.ModelProto.decode(bytes);
  assert.equal(Number(m.opsetImport[0]!.version), 18);
  const graph = m.graph as NonNullable<typeof m.graph>;
  const init = graph.initializer!.find((t) => t.name === 'w')!;
  assert.deepEqual([...new Float32Array(new Uint8Array(init.rawData as Uint8Array).buffer)], [1, 2, 3, 4, 5, 6]);
  assert.equal(graph.input![0]?.type?.tensorType?.shape?.dim?.[0]?.dimParam, 'N');
  const asInputs = ONNX.ModelProto.decode(g.toBytes({ parameters: 'inputs' }));
  assert.deepEqual(asInputs.graph?.input?.map((i) => i.name), ['x', 'w']);
});

test('batchNorm in training mode normalises with batch statistics and updates running stats as PyTorch', async () => {
  const g = new Graph('bn');
  const x = g.input('x', 'float32', ['N', 2, 2, 2]);
  const scale = g.constant(new Float32Array([1.5, 0.5]));
  const bias = g.constant(new Float32Array([0.1, -0.2]));
  const mean = g.constant(new Float32Array([0.3, -0.1]));
  const variance = g.constant(new Float32Array([2, 0.5]));
  const bn = g.batchNorm(x, scale, bias, mean, variance, { training: true, momentum: 0.1 });
  g.output(bn.y, 'y');
  g.output(bn.runningMean!, 'rm');
  g.output(bn.runningVar!, 'rv');
  const r = await InferenceRunner.create(g, new Map(), { threads: 1 });
  const xd = randomArray(3 * 8, 17, 2);
  const out = await r.run({ x: { data: xd, dims: [3, 2, 2, 2], dtype: 'float32' } });
  for (let c = 0; c < 2; c++) {
    const vals: number[] = [];
    for (let n = 0; n < 3; n++) for (let k = 0; k < 4; k++) vals.push(xd[(n * 2 + c) * 4 + k]!);
    const mu = vals.reduce((a, b) => a + b, 0) / vals.length;
    const v = vals.reduce((a, b) => a + (b - mu) ** 2, 0) / vals.length;
    const rm = 0.9 * [0.3, -0.1][c]! + 0.1 * mu;
    const rv = 0.9 * [2, 0.5][c]! + 0.1 * v * (vals.length / (vals.length - 1));
    assert.ok(Math.abs((out.rm!.data as Float32Array)[c]! - rm) < 1e-5, `running mean ${c}`);
    assert.ok(Math.abs((out.rv!.data as Float32Array)[c]! - rv) < 1e-5, `running var ${c}`);
    const y0 = (out.y!.data as Float32Array)[c * 4]!;
    const expected = ((xd[c * 4]! - mu) / Math.sqrt(v + 1e-5)) * [1.5, 0.5][c]! + [0.1, -0.2][c]!;
    assert.ok(Math.abs(y0 - expected) < 1e-5, `y[0, ${c}] ${y0} vs ${expected}`);
  }
  await r.release();
});
