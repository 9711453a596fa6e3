// The formulations chooseConvGradients picks from a layer's shape, and the one it must fall back to when the batch
// is symbolic: the grouped depthwise weight gradient and the per-image Gemm need a static batch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { chooseConvGradients, Graph, gradients, type ConvGeometry, type ConvWeightGradMethod, type Dim } from '../../src/graph/index.js';
import { rng } from './naive.js';

/** A conv's geometry as chooseConvGradients reads it: square maps, `side` in and `out` out, stride 1 unless said. */
function geometry(batch: Dim, cin: number, cout: number, kernel: number, side: number, out: number, o: { stride?: number; groups?: number } = {}): ConvGeometry {
  const groups = o.groups ?? 1;
  const stride = o.stride ?? 1;
  const pad = (kernel - 1) >> 1;
  const g = new Graph('geometry');
  return {
    x: g.input('x', 'float32', [batch, cin, side, side]),
    w: g.input('w', 'float32', [cout, cin / groups, kernel, kernel]),
    dy: g.input('dy', 'float32', [batch, cout, out, out]),
    cout,
    cinG: cin / groups,
    cin,
    groups,
    kernel: [kernel, kernel],
    strides: [stride, stride],
    dilations: [1, 1],
    pads: [pad, pad, pad, pad],
    H: side,
    W: side,
    ho: out,
    wo: out,
    batch: typeof batch === 'number' ? batch : 8,
  };
}

const weightOf = (k: ConvGeometry): string => chooseConvGradients(k, {}).weight;

test('1x1 weight gradient: one Gemm over the batch where the per-image products outweigh the maps, else the batched MatMul', () => {
  assert.equal(weightOf(geometry(8, 960, 160, 1, 10, 10)), 'im2col-gemm'); // 100 * 1120 <= 153600
  assert.equal(weightOf(geometry(8, 1024, 1024, 1, 19, 19)), 'im2col-gemm'); // SSD300's conv7
  assert.equal(weightOf(geometry(8, 576, 96, 1, 20, 20)), 'matmul'); // 400 * 672 > 55296
  assert.equal(weightOf(geometry(8, 16, 96, 1, 160, 160)), 'matmul');
});

test('depthwise weight gradient: one grouped Conv on outputs of 10x10 or less at any stride, im2col above and with a symbolic batch', () => {
  assert.equal(weightOf(geometry(8, 960, 960, 3, 10, 10, { groups: 960 })), 'grouped');
  assert.equal(weightOf(geometry(8, 576, 576, 3, 20, 10, { groups: 576, stride: 2 })), 'grouped');
  assert.equal(weightOf(geometry(8, 576, 576, 3, 20, 20, { groups: 576 })), 'im2col');
  assert.equal(weightOf(geometry(8, 96, 96, 3, 160, 80, { groups: 96, stride: 2 })), 'im2col');
  assert.equal(weightOf(geometry('N', 960, 960, 3, 10, 10, { groups: 960 })), 'im2col');
});

test('depthwise weight gradient where the session runs depthwise convolutions on NCHWc kernels: the grouped Conv whenever it lowers (its images x channels groups a whole number of blocks, static batch)', () => {
  const nchwc = (k: ConvGeometry): string => chooseConvGradients(k, { nchwcBlock: 16 }).weight;
  assert.equal(nchwc(geometry(8, 96, 96, 3, 160, 80, { groups: 96, stride: 2 })), 'grouped');
  assert.equal(nchwc(geometry(8, 576, 576, 3, 20, 20, { groups: 576 })), 'grouped');
  assert.equal(nchwc(geometry(1, 72, 72, 3, 48, 48, { groups: 72 })), 'im2col'); // 72 = 4.5 blocks
  assert.equal(nchwc(geometry(2, 72, 72, 3, 48, 48, { groups: 72 })), 'grouped'); // 2 x 72 = 9 blocks
  assert.equal(chooseConvGradients(geometry(1, 72, 72, 3, 48, 48, { groups: 72 }), { nchwcBlock: 8 }).weight, 'grouped');
  assert.equal(nchwc(geometry('N', 96, 96, 3, 40, 40, { groups: 96 })), 'im2col');
  assert.equal(nchwc(geometry(8, 64, 64, 3, 40, 40)), 'im2col-gemm'); // dense: unchanged
});

/** d sum(conv(x, w)^2) / dw of a depthwise conv on 2 images of 4 channels, its batch static or symbolic ('N'). */
async function depthwiseWeightGrad(batch: Dim, weight: ConvWeightGradMethod, x: Float32Array, w: Float32Array, side: number): Promise<Float32Array> {
  const g = new Graph('depthwise');
  const xs = g.input('x', 'float32', [batch, 4, side, side]);
  const ws = g.input('w', 'float32', [4, 1, 3, 3]);
  const y = g.conv2d(xs, ws, undefined, { pad: [1, 1, 1, 1], groups: 4 });
  const loss = g.reduceSum(g.mul(y, y), [0, 1, 2, 3]);
  g.output(gradients(g, loss, [ws], { convWeightGrad: weight }).get('w')!, 'dw');
  const session = await ort.InferenceSession.create(g.toBytes(), { intraOpNumThreads: 1 });
  const out = await session.run({ x: new ort.Tensor('float32', x, [2, 4, side, side]), w: new ort.Tensor('float32', w, [4, 1, 3, 3]) });
  return out.dw!.data as Float32Array;
}

for (const side of [5, 10])
  test(`depthwise weight gradient on ${side}x${side} maps: the chosen formulation with a static batch and its fallback with a symbolic one agree with im2col`, async () => {
    const r = rng(3);
    const x = Float32Array.from({ length: 2 * 4 * side * side }, () => r() * 2 - 1);
    const w = Float32Array.from({ length: 36 }, () => r() * 2 - 1);
    const reference = await depthwiseWeightGrad(2, 'im2col', x, w, side);
    for (const batch of [2, 'N'] as Dim[]) {
      const auto = await depthwiseWeightGrad(batch, 'auto', x, w, side);
      for (let i = 0; i < reference.length; i++) assert.ok(Math.abs(auto[i]! - reference[i]!) <= 1e-4 * (1 + Math.abs(reference[i]!)), `batch ${batch}, dw[${i}]: ${auto[i]} against ${reference[i]}`);
    }
  });
