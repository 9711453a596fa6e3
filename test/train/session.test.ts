// StepSession: an epoch's last short batch, padded with blank images, makes the step a graph of its own size
// would make (networks without batch normalisation); with batch norm a short batch is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoxCoder } from '../../src/boxes/coder.js';
import { Matcher } from '../../src/boxes/match.js';
import { generatePriors } from '../../src/boxes/priors.js';
import { renderScene } from '../../src/data/synthetic.js';
import { initWeights } from '../../src/nn/layers.js';
import { ssd512 } from '../../src/nn/models/ssd512.js';
import { ssdTiny } from '../../src/nn/models/ssd-tiny.js';
import type { SSDNetwork } from '../../src/nn/ssd.js';
import { matchBatch } from '../../src/nn/targets.js';
import { StepSession } from '../../src/train/session.js';

/** One generated scene at the network's input size (pixels scaled to [-1, 1]) with its matched targets. */
function oneImage(net: SSDNetwork) {
  const size = net.inputSize.width;
  const s = renderScene(7, { size, objects: [2, 3] });
  const plane = size * size;
  const images = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) for (let p = 0; p < plane; p++) images[c * plane + p] = s.rgb[3 * p + c]! / 127.5 - 1;
  const t = matchBatch(new Matcher(new BoxCoder(generatePriors(net.priors))), [{ boxes: s.boxes.map((v) => v / size), labels: s.labels }]);
  return { size: 1, images, trueClasses: t.classes.data as BigInt64Array, trueLocs: t.offsets.data as Float32Array };
}

test('a short batch padded to the graph batch makes the same SGD step as a graph of its own size (no batch norm)', async () => {
  const net = ssd512(6, { width: 1 / 16 }); // VGG: no batch statistics
  const weights = initWeights(net.parameters(), 3);
  const batch = oneImage(net);
  const padded = await StepSession.create(net, weights, 2, { threads: 2 });
  const exact = await StepSession.create(net, weights, 1, { threads: 2 });
  try {
    assert.equal(padded.padsShortBatches, true);
    const a = await padded.step(batch, 0.01);
    const b = await exact.step(batch, 0.01);
    assert.ok(b.positives > 0, 'the scene has matched priors');
    assert.equal(a.positives, b.positives);
    for (const k of ['loss', 'conf_loss', 'loc_loss'] as const) assert.ok(Math.abs(a[k] - b[k]) <= 1e-5 * Math.abs(b[k]), `${k}: padded ${a[k]}, own size ${b[k]}`);
    // The parameters after the step: the padded update equals the exact one to float rounding.
    const pa = padded.parameters();
    const pb = exact.parameters();
    for (const [name, w0] of weights) {
      const x = pa.get(name)!, y = pb.get(name)!;
      let diff = 0, step = 0;
      for (let i = 0; i < y.length; i++) {
        diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
        step = Math.max(step, Math.abs(y[i]! - w0[i]!));
      }
      assert.ok(diff <= 1e-4 * step + 1e-7, `${name}: padded and exact updates differ by ${diff} (largest update ${step})`);
    }
    await assert.rejects(padded.step({ ...batch, size: 3 }, 0.01), /takes batches of 2 images or fewer, got 3/);
  } finally {
    await padded.release();
    await exact.release();
  }
});

test('a network with batch normalisation refuses a short batch instead of padding it', async () => {
  const net = ssdTiny(4);
  const session = await StepSession.create(net, initWeights(net.parameters(), 1), 2, { threads: 2 });
  try {
    assert.equal(session.padsShortBatches, false);
    await assert.rejects(session.step(oneImage(net), 0.01), /the graph takes batches of 2 images, got 1/);
  } finally {
    await session.release();
  }
});
