// The MultiBox loss graph against the reference: the given predictions and matched targets of a batch of 4
// give loss_value within 1e-4 relative; plus properties that must hold (no positives, loc-loss kinds).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, InferenceRunner, type TensorData } from '../../src/graph/index.js';
import { multiboxLoss, type MultiBoxLossOptions } from '../../src/nn/loss.js';
import { manifest, refF32, refI32 } from '../fixtures/reference.js';
import { relDiff } from './helpers.js';

const P = 8732;
const K = 21;

interface Batch {
  locs: Float32Array;
  scores: Float32Array;
  classes: Int32Array;
  offsets: Float32Array;
  n: number;
}

const reference: Batch = {
  locs: refF32('loss_pred_locs').data,
  scores: refF32('loss_pred_scores').data,
  classes: refI32('loss_true_classes').data,
  offsets: refF32('loss_true_locs').data,
  n: 4,
};

/** Runs the loss graph on a batch; returns the loss terms as numbers. */
async function lossOf(b: Batch, options: MultiBoxLossOptions = {}): Promise<Record<string, number>> {
  const g = new Graph('multibox');
  const locs = g.input('locs', 'float32', ['N', P, 4]);
  const scores = g.input('scores', 'float32', ['N', P, K]);
  const classes = g.input('classes', 'int64', ['N', P]);
  const offsets = g.input('offsets', 'float32', ['N', P, 4]);
  const terms = multiboxLoss(g, locs, scores, { classes, offsets }, options);
  for (const [k, t] of Object.entries(terms)) g.output(t, k);
  const runner = await InferenceRunner.create(g);
  const feeds: Record<string, TensorData> = {
    locs: { data: b.locs, dims: [b.n, P, 4], dtype: 'float32' },
    scores: { data: b.scores, dims: [b.n, P, K], dtype: 'float32' },
    classes: { data: BigInt64Array.from(b.classes, (c) => BigInt(c)), dims: [b.n, P], dtype: 'int64' },
    offsets: { data: b.offsets, dims: [b.n, P, 4], dtype: 'float32' },
  };
  const out = await runner.run(feeds);
  await runner.release();
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Number(v.data[0])]));
}

/** Image `i` of the reference batch alone. */
function image(i: number): Batch {
  return {
    locs: reference.locs.slice(i * P * 4, (i + 1) * P * 4),
    scores: reference.scores.slice(i * P * K, (i + 1) * P * K),
    classes: reference.classes.slice(i * P, (i + 1) * P),
    offsets: reference.offsets.slice(i * P * 4, (i + 1) * P * 4),
    n: 1,
  };
}

test('MultiBox loss equals the reference loss_value (1e-4 relative), with its positives', async () => {
  const out = await lossOf(reference);
  const expected = manifest.loss_value as number;
  const nPos = (manifest.loss_n_positives as number[]).reduce((a, b) => a + b, 0);
  console.log(`loss parity: ${out.loss} vs reference ${expected} (relative ${relDiff(out.loss!, expected).toExponential(2)})`);
  assert.equal(out.positives, nPos);
  assert.ok(relDiff(out.loss!, expected) < 1e-4, `loss ${out.loss}, reference ${expected}`);
});

test('the loc-loss kinds differ as their definitions say', async () => {
  const l1 = await lossOf(reference, { locLoss: 'l1-mean' });
  const sm = await lossOf(reference, { locLoss: 'smooth-l1-mean' });
  const ss = await lossOf(reference, { locLoss: 'smooth-l1-sum' });
  // Same confidence part; smooth L1 <= L1 elementwise (|d| >= smooth(|d|)); sum / n_pos = 4 x mean.
  assert.equal(sm.conf, l1.conf);
  assert.ok(sm.loc! < l1.loc!);
  assert.ok(relDiff(ss.loc!, 4 * sm.loc!) < 1e-5, `${ss.loc} vs 4 x ${sm.loc}`);
  // alpha weighs the loc term only.
  const a2 = await lossOf(reference, { alpha: 2 });
  assert.ok(relDiff(a2.loss!, l1.conf! + 2 * l1.loc!) < 1e-6);
});

test('an image without objects adds nothing; a batch without objects gives loss 0, not NaN', async () => {
  // Image 0 of the reference has 1 positive; append a copy of image 2 with every prior set to background.
  const empty = image(2);
  empty.classes.fill(0);
  const one = image(0);
  const both: Batch = {
    locs: Float32Array.from([...one.locs, ...empty.locs]),
    scores: Float32Array.from([...one.scores, ...empty.scores]),
    classes: Int32Array.from([...one.classes, ...empty.classes]),
    offsets: Float32Array.from([...one.offsets, ...empty.offsets]),
    n: 2,
  };
  const alone = await lossOf(one);
  const withEmpty = await lossOf(both);
  assert.equal(withEmpty.positives, 1);
  assert.ok(relDiff(withEmpty.loss!, alone.loss!) < 1e-6, `${withEmpty.loss} vs ${alone.loss}`);
  const none = await lossOf(empty);
  assert.equal(none.loss, 0);
  assert.equal(none.positives, 0);
});

test('hard negatives are the 3 n_pos highest-CE negatives of their own image', async () => {
  // Image 0: 1 positive, so exactly 3 negatives count. Recompute the expected conf loss in float64.
  const b = image(0);
  const ce = new Float64Array(P);
  for (let p = 0; p < P; p++) {
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, b.scores[p * K + k]!);
    let s = 0;
    for (let k = 0; k < K; k++) s += Math.exp(b.scores[p * K + k]! - m);
    ce[p] = Math.log(s) + m - b.scores[p * K + b.classes[p]!]!;
  }
  const pos = [...b.classes.keys()].filter((p) => b.classes[p] !== 0);
  const neg = [...b.classes.keys()].filter((p) => b.classes[p] === 0).map((p) => ce[p]!).sort((x, y) => y - x);
  const expected = (pos.reduce((a, p) => a + ce[p]!, 0) + neg[0]! + neg[1]! + neg[2]!) / pos.length;
  const out = await lossOf(b);
  assert.equal(pos.length, 1);
  assert.ok(relDiff(out.conf!, expected) < 1e-5, `conf ${out.conf} vs ${expected}`);
});
