// AdamW in an SSD training step: Adam's first step moves every parameter with a gradient by exactly lr against the
// gradient's sign (m / sqrt(v) = g / |g| after bias correction), plus the decoupled weight decay lr * wd * p on
// weights only. (Parameters with no gradient at all do not move: here the layers of the two coarse maps, which
// hold no positive and no hard negative at initialisation.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoxCoder } from '../../../src/boxes/coder.js';
import { Matcher } from '../../../src/boxes/match.js';
import { generatePriors } from '../../../src/boxes/priors.js';
import { renderScene } from '../../../src/data/synthetic.js';
import { AdamW } from '../../../src/graph/index.js';
import { initWeights } from '../../../src/nn/layers.js';
import { ssdTiny } from '../../../src/nn/models/ssd-tiny.js';
import { matchBatch } from '../../../src/nn/targets.js';
import { StepSession } from '../../../src/train/session.js';

test('AdamW: the first step is lr * sign(g) plus decoupled weight decay; later steps lower the loss', async () => {
  const net = ssdTiny(6, { inputSize: 96, width: 0.5 });
  const n = 2, S = 96;
  const images = new Float32Array(n * 3 * S * S);
  const objects = [];
  for (let k = 0; k < n; k++) {
    const s = renderScene(40 + k, { size: S, objects: [2, 3] });
    for (let c = 0; c < 3; c++) for (let p = 0; p < S * S; p++) images[(k * 3 + c) * S * S + p] = s.rgb[3 * p + c]! / 255 - 0.5;
    objects.push({ boxes: s.boxes.map((v) => v / S), labels: s.labels });
  }
  const t = matchBatch(new Matcher(new BoxCoder(generatePriors(net.priors))), objects);
  const batch = { size: n, images, trueClasses: t.classes.data as BigInt64Array, trueLocs: t.offsets.data as Float32Array };
  const weights = initWeights(net.parameters(), 5);
  const lr = 1e-3, wd = 0.01;
  const session = await StepSession.create(net, weights, n, { optimizer: new AdamW({ weightDecay: wd }), lrMultipliers: {}, threads: 1 });
  try {
    const before = session.parameters();
    const first = await session.step(batch, lr);
    const after = session.parameters();
    const groups = new Map(net.parameters().map((p) => [p.name, p.group]));
    let exact = 0, still = 0, total = 0;
    for (const [name, p0] of before) {
      const p1 = after.get(name)!;
      for (let i = 0; i < p0.length; i++) {
        const decay = groups.get(name) === 'weight' ? lr * wd * p0[i]! : 0;
        const move = Math.abs(p1[i]! - (p0[i]! - decay));
        assert.ok(move <= lr * 1.001 + 1e-7, `${name}[${i}] moved ${move}, more than lr`);
        if (Math.abs(move - lr) < lr * 1e-3) exact++;
        else if (move < lr * 1e-3) still++;
        total++;
      }
    }
    // Only elements whose gradient is tiny against epsilon (1e-8) may move by something else.
    assert.ok((exact + still) / total > 0.99, `${exact} moved by lr, ${still} stayed, of ${total}`);
    assert.ok(exact / total > 0.3, `${exact} of ${total} elements moved by exactly lr`);
    let last = first.loss;
    for (let i = 0; i < 8; i++) last = (await session.step(batch, lr)).loss;
    assert.ok(last < 0.8 * first.loss, `loss ${first.loss} -> ${last}`);
  } finally {
    await session.release();
  }
});
