// A short training run of every model of the family on a few generated scenes: the MultiBox loss must fall.
// Each run repeats SGD steps on one fixed batch (what a training step must do first: fit what it sees).
// SSD512 runs at its full 512 px input with every layer's width divided by 16 (the architecture, maps and
// 24564 priors unchanged): the full network costs ~270 GMAC per image per step, minutes on two cores. SSDLite
// runs at width 0.25 and 192 px (its graph, with 60 batch norms, is what takes time to build and run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoxCoder } from '../../../src/boxes/coder.js';
import { Matcher } from '../../../src/boxes/match.js';
import { generatePriors } from '../../../src/boxes/priors.js';
import { renderScene } from '../../../src/data/synthetic.js';
import { initWeights } from '../../../src/nn/layers.js';
import { ssd512 } from '../../../src/nn/models/ssd512.js';
import { ssdliteMobileNetV2 } from '../../../src/nn/models/ssdlite.js';
import { ssdTiny } from '../../../src/nn/models/ssd-tiny.js';
import { matchBatch } from '../../../src/nn/targets.js';
import type { SSDNetwork } from '../../../src/nn/ssd.js';
import { StepSession } from '../../../src/train/session.js';

const MEAN = [0.485, 0.456, 0.406], STD = [0.229, 0.224, 0.225];

/** `n` scenes rendered at the network's input size, normalised (N, 3, S, S), with matched targets. */
function batchFor(net: SSDNetwork, n: number) {
  const size = net.inputSize.width;
  const images = new Float32Array(n * 3 * size * size);
  const objects = [];
  for (let k = 0; k < n; k++) {
    const s = renderScene(1000 + k, { size, objects: [2, 4] });
    const plane = size * size;
    for (let c = 0; c < 3; c++) for (let p = 0; p < plane; p++) images[(k * 3 + c) * plane + p] = (s.rgb[3 * p + c]! / 255 - MEAN[c]!) / STD[c]!;
    objects.push({ boxes: s.boxes.map((v) => v / size), labels: s.labels });
  }
  const t = matchBatch(new Matcher(new BoxCoder(generatePriors(net.priors))), objects);
  return { size: n, images, trueClasses: t.classes.data as BigInt64Array, trueLocs: t.offsets.data as Float32Array, positives: t.positives };
}

async function lossesOf(net: SSDNetwork, n: number, steps: number, lr: number): Promise<number[]> {
  const batch = batchFor(net, n);
  assert.ok(batch.positives.every((p) => p > 0), 'every scene has matched priors');
  const session = await StepSession.create(net, initWeights(net.parameters(), 1), n, { threads: 2, clipGradNorm: 10 });
  const losses: number[] = [];
  try {
    for (let i = 0; i < steps; i++) {
      const out = await session.step(batch, lr);
      assert.ok(Number.isFinite(out.loss), `step ${i}: loss ${out.loss}`);
      losses.push(out.loss);
    }
  } finally {
    await session.release();
  }
  return losses;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

const cases: Array<{ name: string; net: () => SSDNetwork; n: number; steps: number; lr: number }> = [
  { name: 'ssd-tiny (192 px)', net: () => ssdTiny(6), n: 4, steps: 12, lr: 0.05 },
  { name: 'ssdlite-mobilenetv2 (192 px, width 0.25)', net: () => ssdliteMobileNetV2(6, { width: 0.25, inputSize: 192 }), n: 2, steps: 8, lr: 0.2 },
  { name: 'ssd512 (512 px, width 1/16)', net: () => ssd512(6, { width: 1 / 16 }), n: 1, steps: 10, lr: 0.01 },
];

for (const c of cases) {
  test(`${c.name}: the loss falls over ${c.steps} SGD steps on a fixed batch`, async () => {
    const losses = await lossesOf(c.net(), c.n, c.steps, c.lr);
    const first = mean(losses.slice(0, 2)), last = mean(losses.slice(-2));
    assert.ok(last < 0.8 * first, `loss ${first.toFixed(3)} -> ${last.toFixed(3)}: ${losses.map((l) => l.toFixed(2)).join(' ')}`);
  });
}
