// Batch norm in the model family: the three build modes and the calibration of the running statistics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceRunner } from '../../src/graph/index.js';
import { initWeights } from '../../src/nn/layers.js';
import { calibrateBatchNorm } from '../../src/nn/calibrate.js';
import { ssdTiny } from '../../src/nn/models/ssd-tiny.js';

const net = ssdTiny(4, { inputSize: 96, width: 0.5 });
const weights = initWeights(net.parameters(), 7);
const n = 4, S = 96;
const images = new Float32Array(n * 3 * S * S).map((_, i) => Math.sin(i * 0.013) * 1.5 + Math.cos(i * 0.0007));

async function forward(mode: 'train' | 'eval', w: Map<string, Float32Array>) {
  const { graph } = net.forwardGraph(w, { norm: mode });
  const runner = await InferenceRunner.create(graph, new Map([...w].filter(([k]) => graph.parameters.some((p) => p.name === k))), { threads: 1 });
  const out = await runner.run({ images: { data: images, dims: [n, 3, S, S], dtype: 'float32' } });
  await runner.release();
  return out.scores!.data as Float32Array;
}

test('calibrated on a batch, inference mode reproduces the batch-statistics forward on it', async () => {
  const stats = await calibrateBatchNorm(net, weights, [{ images, size: n }], { threads: 1 });
  assert.equal(stats.size, net.parameters().filter((p) => p.buffer).length);
  const w = new Map(weights);
  for (const [k, v] of stats) w.set(k, v);
  const batchStats = await forward('train', w);
  const calibrated = await forward('eval', w);
  const uncalibrated = await forward('eval', weights);
  const err = (a: Float32Array, b: Float32Array) => {
    let d = 0, s = 0;
    for (let i = 0; i < a.length; i++) (d += (a[i]! - b[i]!) ** 2), (s += b[i]! ** 2);
    return Math.sqrt(d / s);
  };
  // Only the unbiased (stored) against biased (used in training) variance differs: N*H*W >= 4*3*3 values per channel.
  assert.ok(err(calibrated, batchStats) < 0.05, `calibrated vs batch statistics: ${err(calibrated, batchStats)}`);
  assert.ok(err(uncalibrated, batchStats) > 10 * err(calibrated, batchStats), 'the initial statistics (0, 1) are far off');
});

test('the running statistics are averages over the batches, and stay out of the training graph', async () => {
  const half = n / 2, plane = 3 * S * S;
  const a = await calibrateBatchNorm(net, weights, [{ images: images.slice(0, half * plane), size: half }], { threads: 1 });
  const b = await calibrateBatchNorm(net, weights, [{ images: images.slice(half * plane), size: half }], { threads: 1 });
  const both = await calibrateBatchNorm(net, weights, [{ images: images.slice(0, half * plane), size: half }, { images: images.slice(half * plane), size: half }], { threads: 1 });
  for (const [k, v] of both) for (let i = 0; i < v.length; i++) assert.ok(Math.abs(v[i]! - (a.get(k)![i]! + b.get(k)![i]!) / 2) < 1e-4 * (1 + Math.abs(v[i]!)), k);
  const { graph } = net.lossGraph(weights, { batch: 2 });
  assert.ok(graph.parameters.length > 0);
  assert.ok(graph.parameters.every((p) => !p.name.endsWith('.running_mean') && !p.name.endsWith('.running_var')), 'no running statistic is a trainable parameter of the training graph');
  assert.equal(net.norm!.mode, 'eval', 'building a training graph leaves the network in inference mode');
});
