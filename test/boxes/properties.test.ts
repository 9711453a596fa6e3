// Properties the box math must satisfy on random input, and its handling of empty and bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BoxCoder, DetectionPostprocessor, Matcher, SSD300_PRIORS, boxIou, cxcyToXy, generatePriors, iouMatrix, nms,
  priorCount, priorsPerLocation, sortByScoreDesc, xyToCxcy, type PriorConfig,
} from '../../src/boxes/index.js';
import { expNonPositive } from '../../src/boxes/exp.js';
import { Random } from '../../src/data/random.js';

/** Deterministic uniform numbers in [0, 1) from the library's seeded generator. */
function rng(seed: number): () => number {
  const r = new Random(seed);
  return () => r.next();
}

function randomBoxes(rand: () => number, n: number, minSize = 0.01): Float32Array {
  const out = new Float32Array(4 * n);
  for (let i = 0; i < n; i++) {
    const w = minSize + (0.7 - minSize) * rand(), h = minSize + (0.7 - minSize) * rand();
    const x = rand() * (1 - w), y = rand() * (1 - h);
    out.set([x, y, Math.min(1, x + w), Math.min(1, y + h)], 4 * i);
  }
  return out;
}

const priors = generatePriors(SSD300_PRIORS);
const coder = new BoxCoder(priors);
const P = coder.priorCount;

test('decode(encode(b)) == b for boxes against random priors', () => {
  const rand = rng(1);
  const n = 500;
  const boxes = randomBoxes(rand, n);
  const idx = new Int32Array(n).map(() => Math.floor(rand() * P));
  const back = coder.decode(coder.encode(boxes, idx), idx);
  for (let i = 0; i < boxes.length; i++) assert.ok(Math.abs(back[i] - boxes[i]) < 2e-6, `coordinate ${i}: ${back[i]} vs ${boxes[i]}`);
  // Other variances change the offsets but not the round trip.
  const other = new BoxCoder(priors, { variances: { center: 0.2, size: 0.5 } });
  const enc = other.encode(boxes, idx);
  assert.notDeepEqual(enc, coder.encode(boxes, idx));
  const back2 = other.decode(enc, idx);
  for (let i = 0; i < boxes.length; i++) assert.ok(Math.abs(back2[i] - boxes[i]) < 2e-6);
});

test('xy <-> cxcy round trip', () => {
  const boxes = randomBoxes(rng(2), 200);
  const back = cxcyToXy(xyToCxcy(boxes));
  for (let i = 0; i < boxes.length; i++) assert.ok(Math.abs(back[i] - boxes[i]) < 1e-6);
});

test('IoU is symmetric, in [0, 1], 1 on itself, 0 when disjoint', () => {
  const rand = rng(3);
  const a = randomBoxes(rand, 40), b = randomBoxes(rand, 30);
  const ab = iouMatrix(a, b), ba = iouMatrix(b, a);
  for (let i = 0; i < 40; i++) {
    for (let j = 0; j < 30; j++) {
      const v = ab[i * 30 + j];
      assert.equal(v, ba[j * 40 + i], `IoU(${i}, ${j}) not symmetric`);
      assert.ok(v >= 0 && v <= 1, `IoU(${i}, ${j}) = ${v}`);
      assert.equal(v, boxIou(a, i, b, j));
    }
  }
  const aa = iouMatrix(a, a);
  for (let i = 0; i < 40; i++) assert.ok(Math.abs(aa[i * 40 + i] - 1) < 1e-6);
  assert.deepEqual(Array.from(iouMatrix(new Float32Array([0, 0, 0.2, 0.2]), new Float32Array([0.5, 0.5, 0.9, 0.9]))), [0]);
  // Half-overlapping unit squares: intersection 0.5, union 1.5.
  assert.ok(Math.abs(iouMatrix(new Float32Array([0, 0, 1, 1]), new Float32Array([0.5, 0, 1.5, 1]))[0] - 1 / 3) < 1e-6);
});

test('prior config: counts, per-location numbers, steps and clipping', () => {
  assert.deepEqual(priorsPerLocation(SSD300_PRIORS), [4, 6, 6, 6, 4, 4]);
  assert.equal(priors.length, 4 * priorCount(SSD300_PRIORS));
  const small: PriorConfig = { featureMapSizes: [2, 1], scales: [0.5, 0.9], aspectRatios: [[1], [1, 4]], extraPrior: true, clip: false };
  const p = generatePriors(small);
  assert.equal(p.length / 4, 2 * 2 * 2 + 3);
  // Map 0, cell (0, 0): ratio 1 at scale 0.5, then the extra prior at sqrt(0.5 * 0.9).
  assert.deepEqual(Array.from(p.subarray(0, 8)), Array.from(new Float32Array([0.25, 0.25, 0.5, 0.5, 0.25, 0.25, Math.sqrt(0.45), Math.sqrt(0.45)])));
  // Last map: extra prior of scale 1, then ratio 4 (w = 0.9 * 2 unclipped).
  assert.deepEqual(Array.from(p.subarray(36, 44)), Array.from(new Float32Array([0.5, 0.5, 1, 1, 0.5, 0.5, 1.8, 0.45])));
  const clipped = generatePriors({ ...small, clip: true });
  assert.equal(clipped[42], 1);
  const stepped = generatePriors({ ...small, steps: [0.4, 1] });
  assert.equal(stepped[4 * 2], Math.fround(0.6)); // cell (0, 1) of map 0 (priors 2, 3): cx = 1.5 * 0.4
  assert.throws(() => generatePriors({ ...small, scales: [0.5] }), /1 scales for 2 feature maps/);
  assert.throws(() => generatePriors({ ...small, aspectRatios: [[2], [1]] }), /aspectRatios\[0\] has no ratio 1/);
});

test('matching: every object gets at least its best prior; empty ground truth is all background', () => {
  const rand = rng(4);
  const matcher = new Matcher(coder);
  for (let trial = 0; trial < 5; trial++) {
    const n = 1 + Math.floor(rand() * 8);
    const boxes = randomBoxes(rand, n, 0.005);
    const labels = new Int32Array(n).map((_, j) => 1 + j);
    const r = matcher.match(boxes, labels);
    const iou = iouMatrix(boxes, coder.priorsXy);
    let positives = 0;
    for (let p = 0; p < P; p++) if (r.classes[p] !== 0) positives++;
    assert.equal(r.positives, positives);
    for (let j = 0; j < n; j++) {
      let best = 0;
      for (let p = 1; p < P; p++) if (iou[j * P + p] > iou[j * P + best]) best = p;
      // The best prior is this object's unless a later object claims the same prior.
      let claimedLater = false;
      for (let k = j + 1; k < n; k++) {
        let bk = 0;
        for (let p = 1; p < P; p++) if (iou[k * P + p] > iou[k * P + bk]) bk = p;
        if (bk === best) claimedLater = true;
      }
      if (!claimedLater) assert.equal(r.classes[best], labels[j], `object ${j}: best prior ${best} not assigned`);
    }
    // A positive prior's offsets decode back to its object's box.
    for (let p = 0; p < P; p++) {
      if (r.classes[p] === 0) continue;
      const j = r.classes[p] - 1;
      const dec = coder.decode(r.offsets.subarray(4 * p, 4 * p + 4), new Int32Array([p]));
      for (let e = 0; e < 4; e++) assert.ok(Math.abs(dec[e] - boxes[4 * j + e]) < 1e-5);
    }
  }
  const empty = matcher.match(new Float32Array(0), new Int32Array(0));
  assert.equal(empty.positives, 0);
  assert.ok(empty.classes.every((c) => c === 0));
  assert.ok(empty.offsets.every((v) => v === 0));
});

test('NMS output never holds two boxes over the threshold; detection never two same-class boxes', () => {
  const rand = rng(5);
  // Clustered boxes so that many overlap.
  const n = 300;
  const boxes = new Float32Array(4 * n), scores = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const cx = 0.3 + 0.4 * Math.floor(rand() * 2) + 0.05 * rand(), cy = 0.5 + 0.05 * rand();
    const w = 0.1 + 0.1 * rand(), h = 0.1 + 0.1 * rand();
    boxes.set([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 4 * i);
    scores[i] = rand();
  }
  const keep = nms(boxes, scores, 0.5);
  assert.ok(keep.length >= 2 && keep.length < n, `kept ${keep.length} of ${n}`);
  for (let a = 0; a < keep.length; a++) {
    if (a > 0) assert.ok(scores[keep[a]] <= scores[keep[a - 1]]);
    for (let b = a + 1; b < keep.length; b++) assert.ok(boxIou(boxes, keep[a], boxes, keep[b]) <= 0.5);
  }
  // Scores outside [0, 1] (the general sort path) keep the same boxes.
  assert.deepEqual(nms(boxes, scores.map((s) => s * 10 - 5), 0.5), keep);
  // Every dropped box overlaps a kept higher-scored box.
  const kept = new Set(keep);
  for (let i = 0; i < n; i++) {
    if (kept.has(i)) continue;
    assert.ok(keep.some((k) => scores[k] >= scores[i] && boxIou(boxes, k, boxes, i) > 0.5), `box ${i} dropped without cause`);
  }

  const nClasses = 6;
  const locs = new Float32Array(4 * P).map(() => (rand() - 0.5) * 0.5);
  const logits = new Float32Array(P * nClasses).map(() => (rand() - 0.5) * 8);
  const post = new DetectionPostprocessor(coder);
  const maxOverlap = 0.3;
  const det = post.run(locs, logits, { minScore: 0.3, maxOverlap, topK: 400 });
  assert.ok(det.count > 50, `only ${det.count} detections`);
  for (let a = 0; a < det.count; a++) {
    assert.ok(det.labels[a] >= 1 && det.labels[a] < nClasses && det.scores[a] > 0.3);
    for (let b = a + 1; b < det.count; b++) {
      if (det.labels[a] === det.labels[b]) assert.ok(boxIou(det.boxes, a, det.boxes, b) <= maxOverlap, `detections ${a} and ${b}`);
    }
  }
  // topK keeps the best: a smaller topK gives a prefix of the same list.
  const top = post.run(locs, logits, { minScore: 0.3, maxOverlap, topK: 17 });
  assert.equal(top.count, 17);
  assert.deepEqual(top.scores, det.scores.slice(0, 17));
  assert.deepEqual(top.labels, det.labels.slice(0, 17));
  // Suppressed classes are absent, others unchanged.
  const sup = post.run(locs, logits, { minScore: 0.3, maxOverlap, topK: 400, suppress: [2, 4] });
  assert.ok(sup.labels.every((l) => l !== 2 && l !== 4));
  // (topK now has room for more of the other classes, so the old list, filtered, is a prefix.)
  const filtered = Array.from(det.scores).filter((_, k) => det.labels[k] !== 2 && det.labels[k] !== 4);
  assert.ok(filtered.length < det.count);
  assert.deepEqual(Array.from(sup.scores.subarray(0, filtered.length)), filtered);
  // Probabilities in give the same as logits softmaxed here.
  const probs = new Float32Array(P * nClasses);
  for (let p = 0; p < P; p++) {
    let max = -Infinity, sum = 0;
    for (let c = 0; c < nClasses; c++) max = Math.max(max, logits[p * nClasses + c]);
    for (let c = 0; c < nClasses; c++) sum += Math.exp(logits[p * nClasses + c] - max);
    for (let c = 0; c < nClasses; c++) probs[p * nClasses + c] = Math.exp(logits[p * nClasses + c] - max) / sum;
  }
  const fromProbs = post.run(locs, probs, { minScore: 0.3, maxOverlap, topK: 400, scoreType: 'probabilities' });
  assert.deepEqual(fromProbs.labels, det.labels);
  assert.deepEqual(fromProbs.boxes, det.boxes);
});

test('detection with nothing above the threshold is empty (not the tutorial\'s background box)', () => {
  const logits = new Float32Array(P * 3);
  for (let p = 0; p < P; p++) logits[3 * p] = 10; // background wins everywhere
  const det = new DetectionPostprocessor(coder).run(new Float32Array(4 * P), logits, { minScore: 0.2 });
  assert.equal(det.count, 0);
  assert.equal(det.boxes.length, 0);
  assert.equal(det.labels.length, 0);
});

test('bad input gets errors naming the box and what is wrong', () => {
  const matcher = new Matcher(coder);
  const good = [0.1, 0.1, 0.4, 0.4];
  const cases: Array<[number[], RegExp]> = [
    [[0.2, 0.5, 0.1, 0.9], /^Error: ground truth box 1 \[0\.2, 0\.5, 0\.1, 0\.9\]: xmax < xmin$/],
    [[0.2, 0.5, 0.3, 0.4], /^Error: ground truth box 1 \[0\.2, 0\.5, 0\.3, 0\.4\]: ymax < ymin$/],
    [[0.2, NaN, 0.3, 0.4], /box 1 \[0\.2, NaN, 0\.3, 0\.4\]: not a finite number/],
    [[0.2, 0.1, Infinity, 0.4], /box 1 \[0\.2, 0\.1, Infinity, 0\.4\]: not a finite number/],
    [[0.2, 0.1, 1.5, 0.4], /box 1 \[0\.2, 0\.1, 1\.5, 0\.4\]: outside \[0, 1\]/],
    [[0.2, 0.1, 0.2, 0.4], /box 1 \[0\.2, 0\.1, 0\.2, 0\.4\]: zero width/],
  ];
  for (const [bad, message] of cases) {
    assert.throws(() => matcher.match(new Float32Array([...good, ...bad]), new Int32Array([1, 2])), (e: Error) => message.test(String(e)));
  }
  assert.throws(() => matcher.match(new Float32Array(good), new Int32Array([0])), /label 0 \(0\): must be an integer >= 1/);
  assert.throws(() => matcher.match(new Float32Array(good), new Int32Array([1, 2])), /2 labels for 1 boxes/);
  assert.throws(() => iouMatrix(new Float32Array([0, 0, 1]), new Float32Array(4)), /not a multiple of 4/);
  assert.throws(() => iouMatrix(new Float32Array(good), new Float32Array([0.5, 0.5, 0.4, 0.6])), /second set box 0 \[0\.5, 0\.5, 0\.4, 0\.6\]: xmax < xmin/);
  assert.throws(() => xyToCxcy(new Float32Array([0, 0, 1, 1, 0.3, 0.2, 0.4, 0.1])), /box 1 \[0\.3, 0\.2, 0\.4, 0\.1\]: ymax < ymin/);
  // Outside [0, 1] is fine where fractions are not required (IoU of decoded boxes).
  assert.equal(iouMatrix(new Float32Array([-0.5, -0.5, 1.5, 1.5]), new Float32Array([-0.5, -0.5, 1.5, 1.5]))[0], 1);
  assert.throws(() => new BoxCoder(new Float32Array([0.5, 0.5, 0, 0.1])), /prior box 0 \[cx, cy, w, h\] \[0\.5, 0\.5, 0, 0\.1\]: width <= 0/);
  assert.throws(() => coder.encode(new Float32Array(good), new Int32Array([P])), /priorIndex\[0\] = 8732, outside 0\.\.8731/);
  const post = new DetectionPostprocessor(coder);
  const logits = new Float32Array(P * 3);
  logits[3 * 7 + 1] = NaN;
  assert.throws(() => post.run(new Float32Array(4 * P), logits), /scores of prior 7 hold NaN or Infinity/);
  assert.throws(() => post.run(new Float32Array(4 * P), new Float32Array(P * 3 + 1)), /need 8732 priors x nClasses/);
  const locs = new Float32Array(4 * P);
  locs[4 * 5 + 2] = NaN;
  const sure = new Float32Array(P * 3);
  for (let p = 0; p < P; p++) sure[3 * p + 1] = 9;
  assert.throws(() => post.run(locs, sure), /offsets of prior 5 \(0, 0, NaN, 0\) decode to a box with NaN/);
  assert.throws(() => post.run(new Float32Array(4 * P), new Float32Array(P * 3), { suppress: [3] }), /suppress holds class 3, outside 0\.\.2/);
});

/** The tutorial's detect_objects written plainly (no pruning, no shortcuts), for comparison. */
function naiveDetect(locs: Float32Array, logits: Float32Array, nClasses: number, minScore: number, maxOverlap: number, topK: number) {
  const decoded = coder.decode(locs);
  const probs = new Float32Array(P * nClasses);
  for (let p = 0; p < P; p++) {
    let max = -Infinity, sum = 0;
    for (let k = 0; k < nClasses; k++) max = Math.max(max, logits[p * nClasses + k]);
    for (let k = 0; k < nClasses; k++) sum += Math.exp(logits[p * nClasses + k] - max);
    for (let k = 0; k < nClasses; k++) probs[p * nClasses + k] = Math.exp(logits[p * nClasses + k] - max) / sum;
  }
  const all: Array<{ p: number; c: number; s: number }> = [];
  for (let c = 1; c < nClasses; c++) {
    const cand: Array<{ p: number; s: number }> = [];
    for (let p = 0; p < P; p++) if (probs[p * nClasses + c] > Math.fround(minScore)) cand.push({ p, s: probs[p * nClasses + c] });
    cand.sort((a, b) => b.s - a.s);
    const suppressed = new Uint8Array(cand.length);
    for (let i = 0; i < cand.length; i++) {
      if (suppressed[i]) continue;
      all.push({ p: cand[i].p, c, s: cand[i].s });
      for (let j = i + 1; j < cand.length; j++) if (boxIou(decoded, cand[i].p, decoded, cand[j].p) > Math.fround(maxOverlap)) suppressed[j] = 1;
    }
  }
  all.sort((a, b) => b.s - a.s);
  return all.slice(0, topK);
}

test('detection equals a plain port of the tutorial\'s detect_objects (pruning changes nothing)', () => {
  const rand = rng(6);
  const nClasses = 5;
  const post = new DetectionPostprocessor(coder);
  for (const [minScore, topK, spread] of [[0.6, 30, 6], [0.45, 100, 6], [0.75, 300, 10]]) {
    // Offsets small enough that neighbouring priors' boxes overlap, so NMS has work to do.
    const locs = new Float32Array(4 * P).map(() => (rand() - 0.5) * 0.3);
    const logits = new Float32Array(P * nClasses).map(() => (rand() - 0.5) * spread);
    const want = naiveDetect(locs, logits, nClasses, minScore, 0.45, topK);
    const got = post.run(locs, logits, { minScore, maxOverlap: 0.45, topK });
    assert.equal(got.count, want.length, `minScore ${minScore}: count`);
    const decoded = coder.decode(locs);
    for (let k = 0; k < got.count; k++) {
      assert.equal(got.labels[k], want[k].c, `minScore ${minScore}, detection ${k}: label`);
      assert.equal(got.scores[k], want[k].s, `minScore ${minScore}, detection ${k}: score`);
      assert.deepEqual(got.boxes.subarray(4 * k, 4 * k + 4), decoded.subarray(4 * want[k].p, 4 * want[k].p + 4));
    }
  }
});

test('the softmax exp agrees with Math.exp to 1e-12 relative (normal results)', () => {
  const rand = rng(7);
  let worst = 0;
  for (let i = 0; i < 20000; i++) {
    const x = i < 10000 ? -rand() * 20 : -rand() * 700;
    const want = Math.exp(x);
    worst = Math.max(worst, Math.abs(expNonPositive(x) / want - 1));
  }
  assert.ok(worst < 1e-12, `relative error ${worst}`);
  // Down to the subnormal range it stays within 1e-300 absolute.
  for (let x = -700; x >= -745; x -= 0.37) assert.ok(Math.abs(expNonPositive(x) - Math.exp(x)) < 1e-300, `x = ${x}`);
  assert.equal(expNonPositive(0), 1);
  assert.equal(expNonPositive(-800), 0);
  assert.equal(expNonPositive(-Infinity), 0);
});

test('score sort: decreasing and stable on ties, on both the packed-key and the general path', () => {
  const rand = rng(8);
  for (const scale of [1, 3]) { // scale 3 puts scores outside [0, 1]: the general path
    const n = 2000;
    const scores = new Float32Array(n).map(() => Math.round(rand() * 50) / 50 * scale); // many ties
    const idx = new Int32Array(n).map((_, i) => (i * 7919) % n); // a permutation
    const want = Array.from(idx).sort((a, b) => scores[b] - scores[a]); // Array sort is stable
    sortByScoreDesc(scores, idx, n, new Float64Array(n));
    assert.deepEqual(Array.from(idx), want, `scale ${scale}`);
  }
});
