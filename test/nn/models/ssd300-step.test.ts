// One SSD300 training step against the PyTorch reference (manifest train_step): recipe weights, the recipe
// image batch (2, 3, 300, 300), targets = the ground truth of loss images 1 and 3 matched by src/boxes' Matcher.
// Checks the loss, every parameter's gradient (L2 norm and first 8 values) and the loss after one SGD step
// (lr 1e-3, biases 2e-3, momentum 0.9, weight decay 5e-4). The weights first go through a model-file round
// trip, so this is also "a loaded model continues training".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoxCoder } from '../../../src/boxes/coder.js';
import { Matcher } from '../../../src/boxes/match.js';
import { generatePriors } from '../../../src/boxes/priors.js';
import { gradients, InferenceRunner, SGD, TrainingSession, type TensorData } from '../../../src/graph/index.js';
import { modelConfig } from '../../../src/nn/models/index.js';
import { SSD } from '../../../src/nn/model.js';
import { matchBatch } from '../../../src/nn/targets.js';
import { manifest, referenceObjects, refI32 } from '../../fixtures/reference.js';
import { recipeImage, recipeWeights } from '../recipe.js';
import { l2, relDiff } from '../helpers.js';

const P = 8732;
const ref = manifest.train_step as {
  loss_before: number;
  loss_after: number;
  grad_l2: Record<string, number>;
  grad_first8: Record<string, number[]>;
};

test('SSD300 training step equals the reference: loss, gradients of every parameter, loss after SGD', async () => {
  const model = SSD.fromBytes(SSD.create(modelConfig('ssd300'), { weights: recipeWeights() }).toBytes());
  const net = model.network;
  const weights = model.weights;

  const matcher = new Matcher(new BoxCoder(generatePriors(model.config.priors), { variances: model.config.variances }));
  const targets = matchBatch(matcher, [referenceObjects(1), referenceObjects(3)]);
  // The matched classes are the reference's per-prior targets of those images.
  const refClasses = refI32('loss_true_classes').data;
  for (const [row, image] of [[0, 1], [1, 3]] as const) {
    for (let p = 0; p < P; p++) assert.equal(Number(targets.classes.data[row * P + p]), refClasses[image * P + p], `image ${image}, prior ${p}`);
  }

  // Forward + loss + gradients of every parameter, in one graph.
  const { graph, terms } = net.lossGraph(weights, { batch: 2 });
  const params = graph.parameters;
  const grads = gradients(graph, terms.loss, params);
  for (const p of params) graph.output(grads.get(p.name)!, `grad:${p.name}`);
  const image = recipeImage();
  const feeds: Record<string, TensorData> = {
    images: { data: image.data, dims: image.dims, dtype: 'float32' },
    true_classes: targets.classes,
    true_offsets: targets.offsets,
  };
  const runner = await InferenceRunner.create(graph, new Map(weights), { threads: 2 });
  const out = await runner.run(feeds);
  await runner.release();

  const loss = Number(out.loss!.data[0]);
  console.log(`train step: loss ${loss} vs reference ${ref.loss_before} (relative ${relDiff(loss, ref.loss_before).toExponential(2)})`);
  assert.ok(relDiff(loss, ref.loss_before) < 1e-4, `loss ${loss}, reference ${ref.loss_before}`);

  let worstL2 = 0, worstFirst8 = 0;
  for (const p of params) {
    const g = out[`grad:${p.name}`]!.data as Float32Array;
    const refNorm = ref.grad_l2[p.name]!;
    const eL2 = relDiff(l2(g), refNorm);
    let eFirst = 0;
    ref.grad_first8[p.name]!.forEach((v, i) => (eFirst = Math.max(eFirst, Math.abs(g[i]! - v) / refNorm)));
    assert.ok(eL2 < 1e-3, `${p.name}: gradient norm ${l2(g)}, reference ${refNorm}`);
    assert.ok(eFirst < 1e-3, `${p.name}: first 8 gradient values [${Array.from(g.subarray(0, 8))}], reference [${ref.grad_first8[p.name]}]`);
    worstL2 = Math.max(worstL2, eL2);
    worstFirst8 = Math.max(worstFirst8, eFirst);
  }
  assert.equal(params.length, Object.keys(ref.grad_l2).length);
  console.log(`train step: worst relative gradient error over ${params.length} tensors: norm ${worstL2.toExponential(2)}, first 8 ${worstFirst8.toExponential(2)}`);

  // One SGD step, PyTorch semantics (momentum buffer starts as the gradient): w -= lr_group * (g + wd * w).
  const next = new Map<string, Float32Array>();
  for (const p of params) {
    const w = weights.get(p.name)!;
    const g = out[`grad:${p.name}`]!.data as Float32Array;
    const lr = p.group === 'bias' ? 2e-3 : 1e-3;
    next.set(p.name, w.map((v, i) => Math.fround(v - lr * Math.fround(g[i]! + 5e-4 * v))));
  }
  // The training session (forward, loss, backward and SGD update in one ORT run) makes the same step; the loss
  // at its updated weights is the reference loss_after.
  const fresh = net.lossGraph(weights, { batch: 2 });
  const session = await TrainingSession.create(fresh.graph, fresh.terms.loss, { optimizer: new SGD({ momentum: 0.9, weightDecay: 5e-4 }), lrMultipliers: { weight: 1, bias: 2 }, threads: 2 });
  const first = await session.step(feeds, 1e-3);
  assert.ok(relDiff(first.loss!, loss) < 1e-5, `training session loss ${first.loss}, gradient graph ${loss}`);
  const stepped = session.getParameters();
  for (const p of params) {
    const w = weights.get(p.name)!, want = next.get(p.name)!, got = stepped.get(p.name)!;
    let d = 0, u = 0;
    for (let i = 0; i < w.length; i++) {
      d += (got[i]! - want[i]!) ** 2;
      u += (want[i]! - w[i]!) ** 2;
    }
    assert.ok(Math.sqrt(d) <= 1e-3 * Math.sqrt(u) + 1e-7, `${p.name}: the session's update differs from SGD by ${Math.sqrt(d)} (update norm ${Math.sqrt(u)})`);
  }
  await session.release();
  // The loss at the session's updated weights (a forward run: cheaper than a second step).
  const after = await InferenceRunner.create(net.lossGraph(stepped, { batch: 2 }).graph, stepped, { threads: 2 });
  const lossAfter = Number((await after.run(feeds)).loss!.data[0]);
  await after.release();
  console.log(`train step: loss after ${lossAfter} vs reference ${ref.loss_after} (relative ${relDiff(lossAfter, ref.loss_after).toExponential(2)})`);
  assert.ok(relDiff(lossAfter, ref.loss_after) < 1e-3, `loss after the step ${lossAfter}, reference ${ref.loss_after}`);
});
