// Properties every metric must have, checked on the reference images and on seeded random scenes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateDetections, type ImageResult, type Metric } from '../../src/eval/index.js';
import { perfect, referenceImages } from './helpers.js';

const METRICS: Metric[] = ['voc07', 'voc', 'coco'];
const C = 4;

/** mulberry32: a small seeded generator, so failures reproduce. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Random scenes: objects sit in separate cells of a 4x4 grid (so no two overlap), some difficult;
 * detections are jittered copies of objects (some with the wrong class) and boxes anywhere.
 * Scores are distinct, so rankings have no ties.
 */
function scene(seed: number, numImages = 6): ImageResult[] {
  const r = rng(seed);
  const images: ImageResult[] = [];
  for (let im = 0; im < numImages; im++) {
    const cells = Array.from({ length: 16 }, (_, i) => i).sort(() => r() - 0.5);
    const m = Math.floor(r() * 6);
    const gtBoxes: number[] = [];
    const gtLabels: number[] = [];
    const difficult: number[] = [];
    for (let k = 0; k < m; k++) {
      const cx = (cells[k] % 4) * 0.25;
      const cy = Math.floor(cells[k] / 4) * 0.25;
      const x1 = cx + 0.02 + r() * 0.05;
      const y1 = cy + 0.02 + r() * 0.05;
      gtBoxes.push(x1, y1, x1 + 0.1 + r() * 0.08, y1 + 0.1 + r() * 0.08);
      gtLabels.push(1 + Math.floor(r() * C));
      difficult.push(r() < 0.15 ? 1 : 0);
    }
    const boxes: number[] = [];
    const labels: number[] = [];
    for (let k = 0; k < m; k++) {
      for (let copies = Math.floor(r() * 3); copies > 0; copies--) {
        const j = () => (r() - 0.5) * 0.06;
        boxes.push(gtBoxes[4 * k] + j(), gtBoxes[4 * k + 1] + j(), gtBoxes[4 * k + 2] + j(), gtBoxes[4 * k + 3] + j());
        labels.push(r() < 0.8 ? gtLabels[k] : 1 + Math.floor(r() * C));
      }
    }
    for (let k = Math.floor(r() * 3); k > 0; k--) {
      const x = r() * 0.8, y = r() * 0.8;
      boxes.push(x, y, x + 0.05 + r() * 0.15, y + 0.05 + r() * 0.15);
      labels.push(1 + Math.floor(r() * C));
    }
    images.push({
      groundTruth: { boxes: Float64Array.from(gtBoxes), labels: Int32Array.from(gtLabels), difficult: Uint8Array.from(difficult) },
      detections: {
        boxes: Float64Array.from(boxes),
        labels: Int32Array.from(labels),
        scores: Float64Array.from(labels, () => 0.05 + 0.9 * r()),
      },
    });
  }
  return images;
}

const SEEDS = Array.from({ length: 25 }, (_, i) => 1000 + i);

/** Adds one detection to image `im`. */
function withDetection(images: ImageResult[], im: number, box: number[], label: number, score: number): ImageResult[] {
  return images.map((x, i) =>
    i !== im
      ? x
      : {
          groundTruth: x.groundTruth,
          detections: {
            boxes: Float64Array.from([...Array.from(x.detections.boxes), ...box]),
            labels: Int32Array.from([...Array.from(x.detections.labels), label]),
            scores: Float64Array.from([...Array.from(x.detections.scores), score]),
          },
        },
  );
}

test('perfect detections give mAP 1 under every metric (reference ground truth and random scenes)', () => {
  const cases: [ImageResult[], number][] = [[referenceImages(), 20], ...SEEDS.map((s): [ImageResult[], number] => [scene(s), C])];
  for (const [images, numClasses] of cases) {
    for (const metric of METRICS) {
      const r = evaluateDetections(perfect(images), { metric, numClasses });
      if (r.map === null) continue; // no ground truth at all in this scene
      assert.ok(Math.abs(r.map - 1) < 1e-12, `${metric}: mAP ${r.map}`);
      for (const ap of r.apPerClass) assert.ok(ap === null || Math.abs(ap - 1) < 1e-12);
    }
  }
});

test('a false positive scored lowest never raises AP; scored highest it lowers every positive AP', () => {
  for (const seed of SEEDS) {
    const images = scene(seed);
    for (const metric of METRICS) {
      const before = evaluateDetections(images, { metric, numClasses: C });
      for (let c = 1; c <= C; c++) {
        // A box outside the image: it overlaps no object.
        const fpBox = [2, 2, 2.1, 2.1];
        const low = evaluateDetections(withDetection(images, 0, fpBox, c, 0.001), { metric, numClasses: C });
        const high = evaluateDetections(withDetection(images, 0, fpBox, c, 0.999), { metric, numClasses: C });
        const b = before.apPerClass[c - 1];
        if (b === null) {
          assert.equal(low.apPerClass[c - 1], null);
          continue;
        }
        assert.ok((low.apPerClass[c - 1] as number) <= b + 1e-12, `seed ${seed} ${metric} class ${c}: low FP ${low.apPerClass[c - 1]} > ${b}`);
        const h = high.apPerClass[c - 1] as number;
        assert.ok(b > 0 ? h < b : h === 0, `seed ${seed} ${metric} class ${c}: high FP ${h} vs ${b}`);
      }
    }
  }
});

test('detections exactly on difficult objects change nothing', () => {
  let checked = 0;
  for (const seed of SEEDS) {
    let images = scene(seed);
    const before = METRICS.map((metric) => evaluateDetections(images, { metric, numClasses: C }));
    images.forEach((im, i) => {
      const gt = im.groundTruth;
      for (let k = 0; k < gt.labels.length; k++) {
        if (!gt.difficult![k]) continue;
        const box = Array.from(gt.boxes).slice(4 * k, 4 * k + 4);
        images = withDetection(images, i, box, gt.labels[k], 0.5 + 0.4 * ((k * 7 + i) % 10) / 10);
        checked++;
      }
    });
    METRICS.forEach((metric, m) => {
      const after = evaluateDetections(images, { metric, numClasses: C });
      assert.deepEqual(after.apPerClass, before[m].apPerClass, `seed ${seed} ${metric}`);
    });
  }
  assert.ok(checked > 5, `only ${checked} difficult objects in the scenes`);
});

test('a class without ground truth is null and left out of the mean', () => {
  const images = scene(7);
  for (const metric of METRICS) {
    // Class C + 1 exists (numClasses C + 1) but has no objects; give it a confident detection.
    const base = evaluateDetections(images, { metric, numClasses: C + 1 });
    const withDet = evaluateDetections(withDetection(images, 0, [0.1, 0.1, 0.2, 0.2], C + 1, 0.99), { metric, numClasses: C + 1 });
    assert.equal(withDet.apPerClass[C], null);
    assert.equal(withDet.curves[C], null);
    assert.equal(withDet.numDetections[C], 1);
    assert.equal(withDet.map, base.map);
    const nonNull = withDet.apPerClass.filter((v): v is number => v !== null);
    assert.ok(Math.abs((withDet.map as number) - nonNull.reduce((a, b) => a + b, 0) / nonNull.length) < 1e-12);
  }
  // No ground truth anywhere: every class null, mAP null.
  const empty = evaluateDetections([{ groundTruth: { boxes: [], labels: [] }, detections: { boxes: [0, 0, 1, 1], labels: [1], scores: [1] } }], { metric: 'voc07', numClasses: 2 });
  assert.deepEqual(empty.apPerClass, [null, null]);
  assert.equal(empty.map, null);
});

test('image order and detection order within an image do not change any AP', () => {
  for (const seed of SEEDS.slice(0, 10)) {
    const images = scene(seed);
    const shuffled = images
      .map((im) => {
        const n = im.detections.labels.length;
        const p = Array.from({ length: n }, (_, i) => n - 1 - i); // reversed
        return {
          groundTruth: im.groundTruth,
          detections: {
            boxes: Float64Array.from(p.flatMap((i) => Array.from(im.detections.boxes).slice(4 * i, 4 * i + 4))),
            labels: Int32Array.from(p, (i) => im.detections.labels[i]),
            scores: Float64Array.from(p, (i) => im.detections.scores[i]),
          },
        };
      })
      .reverse();
    for (const metric of METRICS) {
      const a = evaluateDetections(images, { metric, numClasses: C }).apPerClass;
      const b = evaluateDetections(shuffled, { metric, numClasses: C }).apPerClass;
      assert.deepEqual(b, a, `seed ${seed} ${metric}`);
    }
  }
});

test('APs lie in [0, 1]; curves have recall non-decreasing and end at the found share of objects', () => {
  for (const seed of SEEDS) {
    for (const metric of METRICS) {
      const r = evaluateDetections(scene(seed), { metric, numClasses: C });
      for (let c = 0; c < C; c++) {
        const ap = r.apPerClass[c];
        if (ap === null) continue;
        assert.ok(ap >= 0 && ap <= 1);
        const { recall, precision } = r.curves[c]!;
        for (let k = 1; k < recall.length; k++) assert.ok(recall[k] >= recall[k - 1]);
        for (let k = 0; k < recall.length; k++) {
          // precision = TP / (k + 1) and recall = TP / positives, so TP agrees both ways.
          assert.ok(Math.abs(precision[k] * (k + 1) - recall[k] * r.numGroundTruth[c]) < 1e-9);
        }
        // All-point AP can not exceed the last recall reached (the envelope is at most 1).
        if (metric === 'voc' && recall.length > 0) assert.ok(ap <= recall[recall.length - 1] + 1e-12);
      }
    }
  }
});
