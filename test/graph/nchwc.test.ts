// Depthwise convolutions on ONNX Runtime's NCHWc kernels (src/graph/nchwc.ts): which convolutions a graph written
// for a block size lowers, that each lowered convolution computes what the standard Conv does (every kind a
// training graph has: forward at stride 1 and 2, asymmetric padding, bias, and the weight gradient's grouped Conv
// with a map-sized kernel and dilation), that the probe finds a block where the processor has NCHWc kernels and
// its premise holds, and that training steps give the standard gradients. Where this machine's ONNX Runtime has no NCHWc kernels (the probe finds no block), the tests that run
// them are skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { Graph, NCHWC_DOMAIN, nchwcBlock, SGD, TrainingSession, type DType, type Tensor } from '../../src/graph/index.js';
import { rng } from './naive.js';

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  kernel: [number, number];
  stride?: number;
  dilation?: number;
  pad: [number, number, number, number];
  bias?: boolean;
}

/** A graph of one depthwise conv (inputs x, w and optionally b). */
function depthwise(c: ConvCase, dtype: DType = 'float32'): Graph {
  const g = new Graph(c.name);
  const ch = c.x[1];
  const x = g.input('x', dtype, c.x);
  const w = g.input('w', dtype, [ch, 1, ...c.kernel]);
  const b = c.bias ? g.input('b', dtype, [ch]) : undefined;
  const s = c.stride ?? 1;
  const d = c.dilation ?? 1;
  g.output(g.conv2d(x, w, b, { stride: [s, s], dilation: [d, d], pad: c.pad, groups: ch }), 'y');
  return g;
}

/** How many Conv nodes of a graph written at `block` run on NCHWc kernels, and how many stay standard. */
function loweredConvs(g: Graph, block: number): { nchwc: number; standard: number } {
  const nodes = g.toModelProto({ nchwcBlock: block }).graph!.node!;
  const convs = nodes.filter((n) => n.opType === 'Conv');
  const nchwc = convs.filter((n) => n.domain === NCHWC_DOMAIN).length;
  return { nchwc, standard: convs.length - nchwc };
}

test('a graph written for NCHWc kernels lowers the float32 depthwise convolutions over a whole number of blocks, and nothing else', () => {
  const dw = (channels: number, dtype: DType = 'float32'): Graph => depthwise({ name: 'dw', x: [2, channels, 6, 6], kernel: [3, 3], pad: [1, 1, 1, 1] }, dtype);
  assert.deepEqual(loweredConvs(dw(32), 16), { nchwc: 1, standard: 0 });
  assert.deepEqual(loweredConvs(dw(24), 16), { nchwc: 0, standard: 1 });
  assert.deepEqual(loweredConvs(dw(24), 8), { nchwc: 1, standard: 0 });
  assert.deepEqual(loweredConvs(dw(32, 'float64'), 16), { nchwc: 0, standard: 1 });
  assert.deepEqual(loweredConvs(dw(32), 0), { nchwc: 0, standard: 1 });
  const dense = new Graph('dense');
  dense.output(dense.conv2d(dense.input('x', 'float32', [2, 32, 6, 6]), dense.input('w', 'float32', [32, 32, 3, 3]), undefined, { pad: [1, 1, 1, 1] }), 'y');
  assert.deepEqual(loweredConvs(dense, 16), { nchwc: 0, standard: 1 });
  const multiplier = new Graph('multiplier'); // two outputs per input channel: not depthwise
  multiplier.output(multiplier.conv2d(multiplier.input('x', 'float32', [2, 16, 6, 6]), multiplier.input('w', 'float32', [32, 1, 3, 3]), undefined, { pad: [1, 1, 1, 1], groups: 16 }), 'y');
  assert.deepEqual(loweredConvs(multiplier, 16), { nchwc: 0, standard: 1 });
  const proto = dw(32).toModelProto({ nchwcBlock: 16 });
  assert.ok(proto.opsetImport!.some((o) => o.domain === NCHWC_DOMAIN), 'the NCHWc domain is imported where a conv is lowered');
  assert.ok(!dw(24).toModelProto({ nchwcBlock: 16 }).opsetImport!.some((o) => o.domain === NCHWC_DOMAIN), 'and only there');
});

test("the probe finds a block on an x86-64 machine with AVX2, where ONNX Runtime has NCHWc kernels (8 channels, 16 with AVX-512)", async (t) => {
  if (process.arch !== 'x64' || !existsSync('/proc/cpuinfo')) return t.skip('not an x86-64 Linux machine');
  const flags = new Set(/^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim().split(/\s+/) ?? []);
  if (!flags.has('avx2')) return t.skip('no AVX2');
  const block = await nchwcBlock();
  assert.ok(block === 8 || block === 16, `block ${block}`);
  if (!flags.has('avx512f')) assert.equal(block, 8, 'without AVX-512');
});

/** Runs graph `g` written at `block` on `feeds`; returns output y. */
async function run(g: Graph, block: number, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(g.toBytes({ nchwcBlock: block }), { graphOptimizationLevel: 'basic', intraOpNumThreads: 2 });
  try {
    return (await session.run(feeds)).y!.data as Float32Array;
  } finally {
    await session.release();
  }
}

test('each kind of depthwise convolution a training graph has gives the standard Conv\'s result on NCHWc kernels', async (t) => {
  const block = await nchwcBlock();
  if (block === 0) return t.skip("this machine's ONNX Runtime has no NCHWc kernels");
  const C = 2 * block;
  const cases: ConvCase[] = [
    { name: 'forward, stride 1', x: [2, C, 9, 7], kernel: [3, 3], pad: [1, 1, 1, 1] },
    { name: 'forward, stride 2, odd map', x: [2, C, 11, 9], kernel: [3, 3], stride: 2, pad: [1, 1, 1, 1] },
    { name: 'asymmetric padding and bias', x: [2, C, 8, 8], kernel: [3, 3], pad: [1, 0, 0, 1], bias: true },
    { name: 'no padding, 1x1 output', x: [2, C, 3, 3], kernel: [3, 3], pad: [0, 0, 0, 0] },
    // The grouped weight gradient of a stride-2 3x3 depthwise conv on 10x10 maps: images x channels as groups,
    // dy (5x5) as the kernel, dilation = the forward's stride, padding trimmed to what the windows reach.
    { name: 'weight gradient: map-sized kernel, dilation 2', x: [1, 2 * C, 10, 10], kernel: [5, 5], dilation: 2, pad: [1, 1, 0, 0] },
  ];
  const r = rng(7);
  for (const c of cases) {
    const g = depthwise(c);
    const random = (n: number): Float32Array => Float32Array.from({ length: n }, () => r() * 2 - 1);
    const feeds: Record<string, ort.Tensor> = {
      x: new ort.Tensor('float32', random(c.x.reduce((a, b) => a * b, 1)), c.x),
      w: new ort.Tensor('float32', random(c.x[1] * c.kernel[0] * c.kernel[1]), [c.x[1], 1, ...c.kernel]),
    };
    if (c.bias) feeds.b = new ort.Tensor('float32', random(c.x[1]), [c.x[1]]);
    assert.equal(loweredConvs(g, block).nchwc, 1, c.name);
    const [standard, lowered] = [await run(g, 0, feeds), await run(g, block, feeds)];
    assert.equal(lowered.length, standard.length, c.name);
    for (let i = 0; i < standard.length; i++)
      assert.ok(Math.abs(lowered[i]! - standard[i]!) <= 1e-5 * (1 + Math.abs(standard[i]!)), `${c.name}: y[${i}] ${lowered[i]} against ${standard[i]}`);
  }
});

test("the probe's premise: lowered at a block that is not a multiple of the machine's, a convolution fails to run", async (t) => {
  const block = await nchwcBlock();
  if (block === 0) return t.skip("this machine's ONNX Runtime has no NCHWc kernels");
  if (block < 8) return t.skip('the machine uses the smallest block');
  const half = block / 2;
  const g = depthwise({ name: 'half', x: [1, half, 4, 4], kernel: [3, 3], pad: [1, 1, 1, 1] });
  const feeds = { x: new ort.Tensor('float32', new Float32Array(half * 16).fill(1), [1, half, 4, 4]), w: new ort.Tensor('float32', new Float32Array(half * 9).fill(1), [half, 1, 3, 3]) };
  await assert.rejects(async () => {
    const session = await ort.InferenceSession.create(g.toBytes({ nchwcBlock: half }), { logSeverityLevel: 4 });
    await session.run(feeds);
  });
});

test('a training step of depthwise convolutions (stride 1 and 2, batch norm, ReLU6) on NCHWc kernels moves the parameters as the standard one does', async (t) => {
  const block = await nchwcBlock();
  if (block === 0) return t.skip("this machine's ONNX Runtime has no NCHWc kernels");
  const [N, C, H] = [4, 2 * block, 16];
  const r = rng(11);
  const random = (n: number, scale = 1): Float32Array => Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
  const init = [random(C * 9, 0.5), random(C * 9, 0.5), random(C * 9, 0.5)];
  const images = random(N * C * H * H);
  const target = random(N * C * (H / 2) * (H / 2));
  const step = async (nchwc: boolean): Promise<Map<string, Float32Array>> => {
    const g = new Graph('depthwise-stack');
    const x = g.input('x', 'float32', [N, C, H, H]);
    const layer = (input: Tensor, i: number, stride: number): Tensor => {
      const w = g.parameter(`w${i}`, [C, 1, 3, 3], init[i]!);
      const y = g.conv2d(input, w, undefined, { stride: [stride, stride], pad: [1, 1, 1, 1], groups: C });
      const ones = g.constant(new Float32Array(C).fill(1), { shape: [C] });
      const zeros = g.constant(new Float32Array(C), { shape: [C] });
      return g.relu6(g.batchNorm(y, ones, zeros, zeros, ones, { training: true }).y);
    };
    const y = layer(layer(layer(x, 0, 1), 1, 2), 2, 1);
    const loss = g.reduceSum(g.mul(y, g.constant(target, { shape: [N, C, H / 2, H / 2] })), [0, 1, 2, 3]);
    g.output(loss, 'loss');
    const session = await TrainingSession.create(g, loss, { optimizer: new SGD({ momentum: 0 }), nchwc, threads: 2 });
    try {
      const before = session.getParameters();
      await session.step({ x: { data: images, dims: [N, C, H, H], dtype: 'float32' } }, 1);
      return new Map([...session.getParameters()].map(([k, v]) => [k, v.map((p, i) => before.get(k)![i]! - p)]));
    } finally {
      await session.release();
    }
  };
  const [standard, lowered] = [await step(false), await step(true)];
  for (const [name, g] of standard) {
    const h = lowered.get(name)!;
    let d = 0, n = 0;
    for (let i = 0; i < g.length; i++) {
      d += (h[i]! - g[i]!) ** 2;
      n += g[i]! ** 2;
    }
    assert.ok(n > 0, `${name}: a gradient to compare`);
    assert.ok(Math.sqrt(d / n) <= 1e-5, `${name}: gradients differ by ${Math.sqrt(d / n).toExponential(2)} (relative L2)`);
  }
});
