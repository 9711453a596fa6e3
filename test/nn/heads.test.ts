// SSDHead in a training graph runs each map's box and class convs as one Conv (weights stacked, result split):
// the predictions and every parameter's gradient must be those of the two separate convs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gradients, Graph, InferenceRunner } from '../../src/graph/index.js';
import { BuildContext, initWeights } from '../../src/nn/layers.js';
import { ssdTiny } from '../../src/nn/models/ssd-tiny.js';

const net = ssdTiny(5, { inputSize: 96, width: 0.5 });
const weights = initWeights(net.parameters(), 3);
const n = 2, S = 96;
const images = new Float32Array(n * 3 * S * S).map((_, i) => Math.sin(i * 0.011) + 0.3 * Math.cos(i * 0.0009));
const wave = (count: number, phase: number) => new Float32Array(count).map((_, i) => Math.sin(i * 0.37 + phase));

/** locs, scores and the gradient of a fixed weighted sum of them with respect to every trainable parameter; and the
 *  forward pass's Conv nodes. */
async function run(stacked: boolean): Promise<{ outputs: Record<string, Float32Array>; convs: number }> {
  const g = new Graph(`head-${stacked}`);
  const x = g.input('images', 'float32', [n, 3, S, S]);
  const { locs, scores } = net.build(new BuildContext(g, weights, stacked), x, 'train');
  const size = (t: typeof locs) => (t.shape as number[]).reduce((a, b) => a * b, 1);
  const all = (t: typeof locs) => t.shape.map((_, i) => i);
  const weigh = (t: typeof locs, phase: number) => g.reduceSum(g.mul(t, g.constant(wave(size(t), phase), { shape: t.shape as number[] })), all(t));
  const loss = g.add(weigh(locs, 0), weigh(scores, 1));
  const convs = g.nodes.filter((node) => node.op === 'Conv').length;
  const grads = gradients(g, loss, g.parameters);
  g.output(locs, 'locs');
  g.output(scores, 'scores');
  for (const p of g.parameters) g.output(grads.get(p.name)!, `grad.${p.name}`);
  const runner = await InferenceRunner.create(g, new Map([...weights].filter(([k]) => g.parameters.some((p) => p.name === k))), { threads: 1 });
  const out = await runner.run({ images: { data: images, dims: [n, 3, S, S], dtype: 'float32' } });
  await runner.release();
  return { outputs: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array])), convs };
}

test('stacked head convs give the separate convs\' predictions and gradients', async () => {
  const separate = await run(false);
  const stacked = await run(true);
  // ssd-tiny predicts on 4 maps: one Conv fewer on each.
  assert.equal(separate.convs - stacked.convs, 4);
  const names = Object.keys(separate.outputs);
  assert.deepEqual(Object.keys(stacked.outputs).sort(), [...names].sort());
  assert.ok(names.filter((k) => k.startsWith('grad.head.')).length >= 16, 'the head parameters have gradients');
  for (const k of names) {
    const [a, b] = [stacked.outputs[k]!, separate.outputs[k]!];
    let d = 0, s = 0;
    for (let i = 0; i < b.length; i++) (d += (a[i]! - b[i]!) ** 2), (s += b[i]! ** 2);
    assert.ok(s > 0, `${k} is not all zeros`);
    assert.ok(Math.sqrt(d / s) < 1e-5, `${k}: relative L2 difference ${Math.sqrt(d / s)}`);
  }
});
