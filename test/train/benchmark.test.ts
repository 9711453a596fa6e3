// benchmarkModel takes any model of the zoo: a batch-norm network (ssd-tiny) trains with batch statistics and
// infers with running ones, and the figures are consistent with each other and with the network's size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchmarkModel } from '../../src/train/benchmark.js';
import { modelEntry } from '../../src/nn/models/index.js';
import { modelStats } from '../../src/nn/stats.js';

test('benchmarkModel times ssd-tiny: parameter counts of the zoo network, images/s = batch / step time', async () => {
  const r = await benchmarkModel({ model: 'ssd-tiny', batch: 2, threads: 1, steps: 2, inferenceRuns: 1 });
  const stats = modelStats(modelEntry('ssd-tiny').build(21));
  assert.equal(r.parameters, stats.parameters);
  assert.equal(r.buffers, stats.buffers);
  assert.equal(r.train_step_times_s.length, 2);
  assert.equal(r.train_step_s, r.train_step_times_s[1]);
  assert.ok(Math.abs(r.train_images_per_s * r.train_step_s - 2) < 1e-9);
  assert.ok(r.inference_s_per_image > 0 && r.inference_s_per_image < 10, `inference ${r.inference_s_per_image} s`);
  assert.ok(r.peak_rss_mb > 0);
});

test('benchmarkModel names the known models for an unknown one', async () => {
  await assert.rejects(benchmarkModel({ model: 'yolo' }), /unknown model 'yolo'; known: ssd300, ssd512, ssdlite320-mobilenetv2, ssd-tiny/);
});
