// Every rule of the gradient table against central finite differences. float64 where ORT's CPU kernels
// support it; Conv, ConvTranspose and the average pools only run in float32 there, so those use eps 1e-2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { distinct, gradCheck } from './gradcheck.js';
import type { Graph, Tensor } from '../../src/graph/index.js';

const f32 = { dtype: 'float32' as const };

// ------------------------------------------------------------------ convolution

const convCases: { name: string; x: number[]; w: number[]; o: Parameters<Graph['conv2d']>[3] }[] = [
  { name: '3x3 pad 1', x: [2, 3, 6, 6], w: [4, 3, 3, 3], o: { pad: 1 } },
  { name: 'stride 2, asymmetric pads, groups 2', x: [2, 4, 7, 6], w: [6, 2, 3, 3], o: { stride: 2, pad: [1, 0, 2, 1], groups: 2 } },
  { name: 'dilation 2 pad 2 (conv6 style)', x: [1, 2, 7, 7], w: [3, 2, 3, 3], o: { pad: 2, dilation: 2 } },
  { name: 'stride 3 leaving trailing pixels unused', x: [1, 2, 8, 8], w: [3, 2, 3, 3], o: { stride: 3 } },
  { name: '1x1 (conv7 style)', x: [2, 5, 4, 4], w: [3, 5, 1, 1], o: {} },
  { name: '1x1 expanding (MobileNetV2 style)', x: [2, 3, 4, 5], w: [6, 3, 1, 1], o: {} },
  { name: 'depthwise stride 2', x: [1, 4, 6, 6], w: [4, 1, 3, 3], o: { stride: 2, pad: 1, groups: 4 } },
  { name: 'depthwise stride 1 pad 1', x: [2, 3, 5, 6], w: [3, 1, 3, 3], o: { pad: 1, groups: 3 } },
  { name: 'depthwise stride 2 on an odd side, no pad', x: [2, 3, 7, 6], w: [3, 1, 3, 3], o: { stride: 2, groups: 3 } },
  { name: 'depthwise dilation 2, asymmetric pads', x: [1, 2, 7, 7], w: [2, 1, 3, 3], o: { pad: [2, 1, 0, 2], dilation: 2, groups: 2 } },
  { name: 'stride 2 pad 1 on an odd side (ssd-tiny stem)', x: [2, 3, 7, 7], w: [4, 3, 3, 3], o: { stride: 2, pad: 1 } },
  { name: 'stride 2 pad 1, depthwise, even side', x: [1, 3, 8, 6], w: [3, 1, 3, 3], o: { stride: 2, pad: 1, groups: 3 } },
  { name: 'stride 3, 4x4 kernel, asymmetric pads', x: [1, 2, 10, 9], w: [3, 2, 4, 4], o: { stride: 3, pad: [2, 0, 1, 3] } },
  { name: 'stride 2 pad 1 on an even side (ssd-tiny conv2)', x: [2, 3, 8, 6], w: [4, 3, 3, 3], o: { stride: 2, pad: 1 } },
  { name: 'stride 3, 4x4 kernel, sides divisible by 3', x: [1, 2, 9, 6], w: [3, 2, 4, 4], o: { stride: 3, pad: [2, 1, 2, 1] } },
];
const depthwise = (c: (typeof convCases)[number]): boolean => c.o?.groups !== undefined && c.w[1] === 1 && c.w[0] === c.o.groups;

const convMethods = [
  { convWeightGrad: 'im2col', convInputGrad: 'conv' },
  { convWeightGrad: 'im2col-slices', convInputGrad: 'convTranspose' },
  { convWeightGrad: 'transposed', convInputGrad: 'auto' },
  // im2col in chunks of output rows (a 64-byte bound forces one row per chunk)
  { convWeightGrad: 'im2col', convInputGrad: 'auto', im2colChunkBytes: 64 },
  { convWeightGrad: 'im2col-slices', convInputGrad: 'auto', im2colChunkBytes: 64 },
  { convWeightGrad: 'im2col-gemm', convInputGrad: 'auto' },
  { convWeightGrad: 'im2col-gemm', convInputGrad: 'auto', im2colChunkBytes: 64 },
  // each image's im2col and its own Gemm, summed through C
  { convWeightGrad: 'gemm-per-image', convInputGrad: 'auto' },
  // depthwise layers: one Conv with a group per image and channel; the flipped depthwise Conv (stride 1)
  { convWeightGrad: 'grouped', convInputGrad: 'depthwise' },
  // 1x1 layers: one MatMul each way
  { convWeightGrad: 'matmul', convInputGrad: 'matmul' },
] as const;
for (const c of convCases)
  for (const method of convMethods.filter((m) => ((m.convWeightGrad !== 'im2col-gemm' && m.convWeightGrad !== 'gemm-per-image') || !c.o?.groups) && (m.convWeightGrad !== 'grouped' || depthwise(c))))
    test(`Conv ${c.name}: x, w, b gradients (weight: ${method.convWeightGrad}${'im2colChunkBytes' in method ? ' in row chunks' : ''}, input: ${method.convInputGrad})`, async () => {
      await gradCheck(
        [
          { name: 'x', shape: c.x },
          { name: 'w', shape: c.w },
          { name: 'b', shape: [c.w[0]!] },
        ],
        (g, [x, w, b]) => g.conv2d(x!, w!, b!, c.o),
        { ...f32, gradients: method },
      );
    });

// ------------------------------------------------------------------ pooling

test('MaxPool ceil mode, overlapping windows (3x3 stride 2 pad 1): duplicate indices add', async () => {
  await gradCheck([{ name: 'x', shape: [2, 2, 7, 7], data: distinct(196, 1) }], (g, [x]) => g.maxPool(x!, { kernel: 3, stride: 2, pad: 1, ceilMode: true }), { samples: 98 });
});

test('MaxPool with windows tiling the input exactly (2x2 stride 2 on 6x6: the MaxUnpool formulation)', async () => {
  await gradCheck([{ name: 'x', shape: [2, 3, 6, 6], data: distinct(216, 4) }], (g, [x]) => g.maxPool(x!, { kernel: 2, stride: 2 }), { ...f32, samples: 216 });
  await gradCheck([{ name: 'x', shape: [1, 2, 6, 4], data: distinct(48, 5) }], (g, [x]) => g.maxPool(x!, { kernel: [3, 2], stride: [3, 2] }), { ...f32, samples: 48 });
});

test('MaxPool pool5 style (3x3 stride 1 pad 1) and pool3 style (2x2 stride 2 ceil on odd size)', async () => {
  await gradCheck([{ name: 'x', shape: [1, 2, 5, 5], data: distinct(50, 2) }], (g, [x]) => g.maxPool(x!, { kernel: 3, stride: 1, pad: 1 }), { samples: 50 });
  await gradCheck([{ name: 'x', shape: [1, 2, 5, 5], data: distinct(50, 3) }], (g, [x]) => g.maxPool(x!, { kernel: 2, stride: 2, ceilMode: true }), { samples: 50 });
});

for (const countIncludePad of [false, true])
  test(`AveragePool 3x3 stride 2 pad 1 ceil (countIncludePad ${countIncludePad}) and GlobalAveragePool`, async () => {
    await gradCheck([{ name: 'x', shape: [1, 2, 6, 6] }], (g, [x]) => g.averagePool(x!, { kernel: 3, stride: 2, pad: 1, ceilMode: true, countIncludePad }), { ...f32, samples: 72 });
    await gradCheck([{ name: 'x', shape: [2, 3, 3, 3] }], (g, [x]) => g.globalAveragePool(x!), f32);
  });

// ------------------------------------------------------------------ elementwise

const offset = (n: number, seed: number, step: number, shift: number) => distinct(n, seed, step).map((v) => v + shift);
const unaries: [string, (g: Graph, x: Tensor) => Tensor, number[]?][] = [
  ['relu', (g, x) => g.relu(x), offset(24, 4, 0.1, 0.05)],
  ['relu6', (g, x) => g.relu6(x), offset(24, 5, 0.7, 0.03)],
  ['clip(-0.5, 0.4)', (g, x) => g.clip(x, -0.5, 0.4), offset(24, 5, 0.1, 0.01)],
  ['sigmoid', (g, x) => g.sigmoid(x)],
  ['tanh', (g, x) => g.tanh(x)],
  ['exp', (g, x) => g.exp(x)],
  ['log', (g, x) => g.log(x), offset(24, 6, 0.1, 1.3)],
  ['sqrt', (g, x) => g.sqrt(x), offset(24, 7, 0.1, 1.3)],
  ['abs', (g, x) => g.abs(x), offset(24, 8, 0.1, 0.05)],
  ['neg', (g, x) => g.neg(x)],
  ['reciprocal', (g, x) => g.reciprocal(x), offset(24, 9, 0.1, 1.3)],
  ['cast to float32 and back', (g, x) => g.cast(g.cast(x, 'float32'), 'float64')],
  ['identity', (g, x) => g.identity(x)],
];
for (const [name, f, data] of unaries)
  test(`${name}`, async () => {
    await gradCheck([{ name: 'x', shape: [2, 3, 4], ...(data ? { data } : {}) }], (g, [x]) => f(g, x!), name.startsWith('cast') ? { eps: 1e-2, tol: 1e-4 } : {});
  });

const binaries: [string, (g: Graph, a: Tensor, b: Tensor) => Tensor][] = [
  ['add', (g, a, b) => g.add(a, b)],
  ['sub', (g, a, b) => g.sub(a, b)],
  ['mul', (g, a, b) => g.mul(a, b)],
  ['div', (g, a, b) => g.div(a, g.add(g.abs(b), 0.5))],
  ['pow', (g, a, b) => g.pow(g.add(g.abs(a), 0.5), b)],
  ['maximum', (g, a, b) => g.maximum(a, b)],
  ['minimum', (g, a, b) => g.minimum(a, b)],
];
for (const [name, f] of binaries)
  test(`${name} with broadcasting ([2,3,4] with [3,1] and [1,1,4])`, async () => {
    await gradCheck(
      [
        { name: 'a', shape: [2, 3, 4], data: offset(24, 10, 0.08, 0.013) },
        { name: 'b', shape: [3, 1], data: [0.31, -0.47, 0.77] },
      ],
      (g, [a, b]) => f(g, a!, b!),
    );
    await gradCheck(
      [
        { name: 'a', shape: [1, 1, 4], data: [0.21, -0.63, 0.92, -0.14] },
        { name: 'b', shape: [2, 3, 4], data: offset(24, 11, 0.08, 0.017) },
      ],
      (g, [a, b]) => f(g, a!, b!),
    );
  });

test('where with a broadcast condition and branches', async () => {
  await gradCheck(
    [
      { name: 'c', shape: [3, 1], dtype: 'bool', data: [1, 0, 1] },
      { name: 'a', shape: [3, 4] },
      { name: 'b', shape: [4] },
    ],
    (g, [c, a, b]) => g.where(c!, a!, b!),
  );
});

test('gemm: every transpose combination, alpha, and a broadcast C scaled by beta', async () => {
  for (const transA of [false, true])
    for (const transB of [false, true])
      await gradCheck(
        [
          { name: 'a', shape: transA ? [4, 3] : [3, 4] },
          { name: 'b', shape: transB ? [5, 4] : [4, 5] },
          { name: 'c', shape: [1, 5] },
        ],
        (g, [a, b, c]) => g.gemm(a!, b!, { transA, transB, alpha: 0.7, beta: 1.3, c: c! }),
      );
});

test('matmul, batched and broadcast', async () => {
  await gradCheck([{ name: 'a', shape: [2, 3, 4] }, { name: 'b', shape: [4, 5] }], (g, [a, b]) => g.matmul(a!, b!));
  await gradCheck([{ name: 'a', shape: [3, 4] }, { name: 'b', shape: [2, 4, 5] }], (g, [a, b]) => g.matmul(a!, b!));
});

// ------------------------------------------------------------------ reductions, shapes

for (const keep of [false, true])
  test(`reduceSum, reduceMean, reduceMax (keepDims ${keep})`, async () => {
    await gradCheck([{ name: 'x', shape: [2, 3, 4] }], (g, [x]) => g.reduceSum(x!, [0, 2], keep));
    await gradCheck([{ name: 'x', shape: [2, 3, 4] }], (g, [x]) => g.reduceMean(x!, [-1], keep));
    await gradCheck([{ name: 'x', shape: [2, 3, 4], data: distinct(24, 12) }], (g, [x]) => g.reduceMax(x!, [1], keep));
  });

test('concat, split, slice', async () => {
  await gradCheck([{ name: 'a', shape: [2, 3] }, { name: 'b', shape: [2, 2] }], (g, [a, b]) => g.concat([a!, b!, a!], 1));
  await gradCheck([{ name: 'x', shape: [2, 5] }], (g, [x]) => {
    const [p, q] = g.split(x!, [2, 3], 1);
    return g.concat([g.mul(p!, 2), q!], 1);
  });
  await gradCheck([{ name: 'x', shape: [4, 5] }], (g, [x]) => g.slice(x!, [1, -3], [3, 100], [0, 1]));
});

test('expand sums the gradient back over the broadcast dims', async () => {
  await gradCheck([{ name: 'x', shape: [3, 1] }], (g, [x]) => g.expand(x!, g.constant(BigInt64Array.from([2n, 3n, 4n]), { dtype: 'int64' }), [2, 3, 4]));
});

test('reshape, transpose, flatten, unsqueeze, squeeze', async () => {
  await gradCheck([{ name: 'x', shape: [2, 3, 4] }], (g, [x]) => g.reshape(g.transpose(x!, [2, 0, 1]), [4, -1]));
  await gradCheck([{ name: 'x', shape: [2, 3, 2, 2] }], (g, [x]) => g.flatten(x!, 2));
  await gradCheck([{ name: 'x', shape: [3, 1, 4] }], (g, [x]) => g.unsqueeze(g.squeeze(x!, [1]), [0]));
});

test('softmax and logSoftmax', async () => {
  await gradCheck([{ name: 'x', shape: [2, 3, 4] }], (g, [x]) => g.softmax(x!, 1));
  await gradCheck([{ name: 'x', shape: [2, 3, 4] }], (g, [x]) => g.logSoftmax(x!, -1));
});

test('gather (axis 0 and 1, repeated indices add, int32 and int64) and gatherElements', async () => {
  await gradCheck([{ name: 'x', shape: [4, 3] }, { name: 'i', shape: [2, 2], dtype: 'int64', data: [3, 0, 3, 3] }], (g, [x, i]) => g.gather(x!, i!, 0));
  await gradCheck([{ name: 'x', shape: [2, 4, 3] }, { name: 'i', shape: [5], dtype: 'int32', data: [1, 1, 0, 3, 1] }], (g, [x, i]) => g.gather(x!, i!, 1));
  await gradCheck(
    [{ name: 'x', shape: [3, 4] }, { name: 'i', shape: [3, 2], dtype: 'int64', data: [0, 0, 3, 1, 2, 2] }],
    (g, [x, i]) => g.gatherElements(x!, i!, 1),
  );
});

test('topK values carry the gradient back to their positions', async () => {
  await gradCheck([{ name: 'x', shape: [2, 5], data: distinct(10, 13) }], (g, [x]) => g.topK(x!, 3, 1).values);
});

test('batchNorm in training mode (batch statistics) and inference mode', async () => {
  await gradCheck(
    [{ name: 'x', shape: [3, 2, 2, 2] }, { name: 'scale', shape: [2] }, { name: 'bias', shape: [2] }],
    (g, [x, s, b]) => {
      const zero = g.constant(new Float64Array(2));
      return g.batchNorm(x!, s!, b!, zero, g.add(zero, 1), { training: true }).y;
    },
  );
  await gradCheck(
    [{ name: 'x', shape: [3, 2, 2, 2] }, { name: 'scale', shape: [2] }, { name: 'bias', shape: [2] }],
    (g, [x, s, b]) => g.batchNorm(x!, s!, b!, g.constant(new Float64Array([0.1, -0.2])), g.constant(new Float64Array([0.5, 2])), { training: false }).y,
  );
});

test('a small conv net end to end: conv, relu, maxPool, concat, reshape, transpose, logSoftmax, gatherElements, mul, add, reduceSum', async () => {
  await gradCheck(
    [
      { name: 'x', shape: [2, 2, 6, 6] },
      { name: 'w1', shape: [3, 2, 3, 3] },
      { name: 'w2', shape: [2, 3, 1, 1] },
      { name: 'labels', shape: [2, 16, 1], dtype: 'int64', data: Array.from({ length: 32 }, (_, i) => (i * 7) % 5) },
    ],
    (g, [x, w1, w2, labels]) => {
      const h = g.relu(g.conv2d(x!, w1!, undefined, { pad: 1 }));
      const p = g.maxPool(h, { kernel: 3, stride: 2, pad: 1, ceilMode: true }); // [2,3,4,4]
      const both = g.concat([p, g.conv2d(p, w2!)], 1); // [2,5,4,4]
      const logits = g.reshape(g.transpose(both, [0, 2, 3, 1]), [2, 16, 5]);
      const logp = g.gatherElements(g.logSoftmax(logits, -1), labels!, 2);
      return g.reduceSum(g.add(g.mul(logp, -1), 0.5), [1, 2]);
    },
    // relu before max pool: a sample may sit within eps of a kink (seed 7 puts two values of one pool window
    // 2e-4 apart, a kink for every weight of that channel); such samples must match a one-sided slope
    { ...f32, eps: 1e-3, tol: 1e-2, kinks: true, seed: 11 },
  );
});
