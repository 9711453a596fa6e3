// SSD300 forward pass against the PyTorch reference: recipe weights, recipe image (2, 3, 300, 300) in,
// forward_locs (2, 8732, 4) and forward_scores (2, 8732, 21) out within 1e-3 relative L2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceRunner } from '../../../src/graph/index.js';
import { ssd300 } from '../../../src/nn/models/ssd300.js';
import { initWeights } from '../../../src/nn/layers.js';
import { refF32 } from '../../fixtures/reference.js';
import { recipeImage, recipeWeights, referenceStateDict } from '../recipe.js';
import { relativeL2 } from '../helpers.js';

test('SSD300 parameters are the reference state_dict: same names, shapes and order', () => {
  const specs = ssd300(21).parameters();
  assert.deepEqual(
    specs.map((s) => `${s.name} [${s.shape}]`),
    referenceStateDict.map((e) => `${e.key} [${e.shape}]`),
  );
  // Biases train at twice the rate in the reference: exactly the '.bias' tensors are in the bias group.
  for (const s of specs) assert.equal(s.group, s.name.endsWith('.bias') ? 'bias' : 'weight', s.name);
});

test('any number of classes changes only the class convs', () => {
  const a = ssd300(21).parameters();
  const b = ssd300(3).parameters();
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i]!.name.startsWith('pred_convs.cl_')) assert.equal(b[i]!.shape[0]! / 3, a[i]!.shape[0]! / 21, a[i]!.name);
    else assert.deepEqual(b[i]!.shape, a[i]!.shape, a[i]!.name);
  }
});

test('initialisation: rescale 20, zero biases, Xavier bounds for aux and prediction convs, seeded', () => {
  const net = ssd300(21);
  const w = initWeights(net.parameters(), 7);
  assert.ok(w.get('rescale_factors')!.every((v) => v === 20));
  const first = net.parameters().slice(0, 3); // rescale_factors, base.conv1_1.*: drawn first from the PRNG
  assert.deepEqual(initWeights(first, 7).get('base.conv1_1.weight'), w.get('base.conv1_1.weight'));
  assert.notDeepEqual(initWeights(first, 8).get('base.conv1_1.weight'), w.get('base.conv1_1.weight'));
  for (const s of net.parameters()) {
    const v = w.get(s.name)!;
    if (s.group === 'bias') assert.ok(v.every((x) => x === 0), s.name);
    if ((s.name.startsWith('aux_convs.') || s.name.startsWith('pred_convs.')) && s.group === 'weight') {
      const [o, i, kh, kw] = s.shape as number[];
      const bound = Math.sqrt(6 / ((i! + o!) * kh! * kw!));
      let max = 0;
      for (const x of v) max = Math.max(max, Math.abs(x));
      assert.ok(max <= bound && max > 0.9 * bound, `${s.name}: max |w| ${max}, Xavier bound ${bound}`);
    }
  }
});

test('forward pass equals the reference (1e-3 relative L2)', async () => {
  const net = ssd300(21);
  const weights = recipeWeights();
  const { graph } = net.forwardGraph(weights);
  assert.deepEqual(graph.parameters.map((p) => p.name), [...weights.keys()]);
  const runner = await InferenceRunner.create(graph, weights);
  const image = recipeImage();
  const out = await runner.run({ images: { data: image.data, dims: image.dims, dtype: 'float32' } });
  await runner.release();
  const locs = refF32('forward_locs');
  const scores = refF32('forward_scores');
  assert.deepEqual(out.locs!.dims, locs.shape);
  assert.deepEqual(out.scores!.dims, scores.shape);
  const eLocs = relativeL2(out.locs!.data as Float32Array, locs.data);
  const eScores = relativeL2(out.scores!.data as Float32Array, scores.data);
  console.log(`forward parity: relative L2 error locs ${eLocs.toExponential(2)}, scores ${eScores.toExponential(2)}`);
  assert.ok(eLocs < 1e-3, `locs relative L2 error ${eLocs}`);
  assert.ok(eScores < 1e-3, `scores relative L2 error ${eScores}`);
});
