// Parity of the box math with the PyTorch SSD300 tutorial's reference vectors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manifest, refF32, refI32 } from '../fixtures/reference.js';
import { BoxCoder, DetectionPostprocessor, Matcher, SSD300_PRIORS, generatePriors, iouMatrix, priorCount } from '../../src/boxes/index.js';

function maxAbsDiff(a: Float32Array, b: Float32Array): { max: number; at: number } {
  assert.equal(a.length, b.length, 'lengths differ');
  let max = 0, at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= max)) { max = d; at = i; }
  }
  return { max, at };
}

function assertClose(actual: Float32Array, expected: Float32Array, tol: number, what: string): void {
  const { max, at } = maxAbsDiff(actual, expected);
  assert.ok(max <= tol, `${what}: max |diff| ${max} at ${at} (got ${actual[at]}, want ${expected[at]}) > ${tol}`);
}

const priors = generatePriors(SSD300_PRIORS);

test('SSD300 priors: 8732 rows equal to the reference, same order', () => {
  const ref = refF32('priors_cxcy');
  assert.equal(priorCount(SSD300_PRIORS), 8732);
  assert.deepEqual(ref.shape, [8732, 4]);
  assertClose(priors, ref.data, 1e-6, 'priors_cxcy');
});

test('IoU matrix equals the reference', () => {
  const a = refF32('iou_a_xy'), b = refF32('iou_b_xy'), ab = refF32('iou_ab');
  const out = new Float32Array(a.shape[0] * b.shape[0]);
  const r = iouMatrix(a.data, b.data, out);
  assert.equal(r, out, 'writes into the given output');
  assertClose(r, ab.data, 1e-6, 'iou_ab');
});

test('encode and decode against chosen priors equal the reference', () => {
  const coder = new BoxCoder(priors);
  const idx = refI32('encode_prior_index').data;
  const enc = coder.encode(refF32('encode_boxes_xy').data, idx);
  assertClose(enc, refF32('encode_gcxgcy').data, 1e-6, 'encode_gcxgcy');
  const dec = coder.decode(refF32('encode_gcxgcy').data, idx);
  assertClose(dec, refF32('decode_xy').data, 1e-6, 'decode_xy');
});

test('matching targets equal the reference: classes exactly, offsets to 1e-5', () => {
  const boxes = refF32('loss_boxes_xy').data, labels = refI32('loss_labels').data;
  const perImage = refI32('loss_objects_per_image').data;
  const trueClasses = refI32('loss_true_classes').data, trueLocs = refF32('loss_true_locs').data;
  const nPositives = manifest.loss_n_positives as number[];
  const matcher = new Matcher(new BoxCoder(priors));
  const P = 8732;
  let start = 0;
  for (let i = 0; i < perImage.length; i++) {
    const n = perImage[i];
    const into = { classes: new Int32Array(P), offsets: new Float32Array(4 * P) };
    const r = matcher.match(boxes.subarray(4 * start, 4 * (start + n)), labels.subarray(start, start + n), into);
    start += n;
    assert.equal(r.classes, into.classes);
    const want = trueClasses.subarray(i * P, (i + 1) * P);
    let wantPos = 0;
    for (let p = 0; p < P; p++) {
      if (want[p] !== 0) wantPos++;
      if (r.classes[p] !== want[p]) assert.fail(`image ${i} prior ${p}: class ${r.classes[p]}, want ${want[p]}`);
    }
    assert.equal(r.positives, wantPos, `image ${i} positives`);
    assert.equal(r.positives, nPositives[i], `image ${i} positives vs manifest`);
    assertClose(r.offsets, trueLocs.subarray(4 * i * P, 4 * (i + 1) * P), 1e-5, `image ${i} true locs`);
  }
});

test('detections of images 0 and 1 equal the reference as sets', () => {
  const params = manifest.detect_params as { min_score: number; max_overlap: number; top_k: number };
  const P = 8732;
  const C = refF32('loss_pred_scores').shape[2];
  const allLocs = refF32('loss_pred_locs').data, allScores = refF32('loss_pred_scores').data;
  const post = new DetectionPostprocessor(new BoxCoder(priors));
  for (const i of [0, 1]) {
    // The reference's input: loss_pred_locs[:2] * 0.2 and loss_pred_scores[:2] * 0.55 (float32 products).
    const locs = allLocs.slice(i * 4 * P, (i + 1) * 4 * P).map((v) => v * Math.fround(0.2));
    const logits = allScores.slice(i * P * C, (i + 1) * P * C).map((v) => v * Math.fround(0.55));
    const got = post.run(locs, logits, { minScore: params.min_score, maxOverlap: params.max_overlap, topK: params.top_k });
    const rb = refF32(`detect_boxes_${i}`).data, rl = refI32(`detect_labels_${i}`).data, rs = refF32(`detect_scores_${i}`).data;
    assert.equal(got.count, rl.length, `image ${i}: count`);
    assert.equal(got.boxes.length, 4 * got.count);
    // The lowest reference score: a detection may be in one set and not the other only when it ties
    // with that cut to ~1e-6 (the 200-cut between near-equal scores).
    let cut = Infinity;
    for (const s of rs) cut = Math.min(cut, s);
    const used = new Uint8Array(got.count);
    let missing = 0;
    for (let r = 0; r < rl.length; r++) {
      let found = -1;
      for (let k = 0; k < got.count && found < 0; k++) {
        if (used[k] || got.labels[k] !== rl[r] || Math.abs(got.scores[k] - rs[r]) > 1e-5) continue;
        let d = 0;
        for (let c = 0; c < 4; c++) d = Math.max(d, Math.abs(got.boxes[4 * k + c] - rb[4 * r + c]));
        if (d <= 1e-5) found = k;
      }
      if (found >= 0) used[found] = 1;
      else {
        missing++;
        assert.ok(rs[r] - cut <= 1e-6, `image ${i}: reference detection ${r} (label ${rl[r]}, score ${rs[r]}) missing and not a near-tie at the cut ${cut}`);
      }
    }
    for (let k = 0; k < got.count; k++) {
      if (!used[k]) assert.ok(Math.abs(got.scores[k] - cut) <= 1e-6, `image ${i}: extra detection ${k} (label ${got.labels[k]}, score ${got.scores[k]}) not a near-tie at the cut`);
    }
    assert.ok(missing <= 2, `image ${i}: ${missing} reference detections unmatched`);
    for (let k = 1; k < got.count; k++) assert.ok(got.scores[k] <= got.scores[k - 1], `image ${i}: scores not in decreasing order at ${k}`);
  }
});
