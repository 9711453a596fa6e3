// VOC AP against the SSD300 tutorial's calculate_mAP (reference vectors), and hand-computed cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateDetections } from '../../src/eval/index.js';
import { manifest } from '../fixtures/reference.js';
import { image, referenceImages } from './helpers.js';

const refAp = manifest.map_ap_per_class as number[];
const refMean = manifest.map_mean as number;

test('VOC07 11-point AP per class matches the reference', () => {
  const images = referenceImages();
  const r = evaluateDetections(images, { metric: 'voc07', numClasses: 20 });
  assert.equal(r.apPerClass.length, 20);
  for (let c = 0; c < 20; c++) {
    const ap = r.apPerClass[c];
    if (ap === null) {
      // The reference averages classes without non-difficult ground truth in as 0; we report null.
      assert.equal(r.numGroundTruth[c], 0, `class ${c + 1} is null but has ground truth`);
      assert.equal(refAp[c], 0, `class ${c + 1}: reference AP ${refAp[c]} for a class without ground truth`);
    } else {
      assert.ok(Math.abs(ap - refAp[c]) <= 1e-6, `class ${c + 1}: AP ${ap}, reference ${refAp[c]}`);
    }
  }
});

test('VOC07 mAP matches the reference once null classes count as 0 over all 20, as the reference averages', () => {
  const r = evaluateDetections(referenceImages(), { metric: 'voc07', numClasses: 20 });
  const nonNull = r.apPerClass.filter((v): v is number => v !== null);
  const sum = nonNull.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum / 20 - refMean) <= 1e-6, `sum/20 = ${sum / 20}, reference ${refMean}`);
  // Our mean leaves the classes without ground truth out.
  assert.ok(nonNull.length < 20);
  assert.ok(Math.abs((r.map as number) - sum / nonNull.length) <= 1e-12);
});

test('classes with only difficult or no ground truth are null, with their counts', () => {
  const r = evaluateDetections(referenceImages(), { metric: 'voc07', numClasses: 20 });
  const labels = referenceImages().flatMap((im) => Array.from(im.groundTruth.labels).filter((_, i) => !im.groundTruth.difficult?.[i]));
  for (let c = 1; c <= 20; c++) {
    const n = labels.filter((l) => l === c).length;
    assert.equal(r.numGroundTruth[c - 1], n);
    assert.equal(r.apPerClass[c - 1] === null, n === 0, `class ${c}`);
    assert.equal(r.curves[c - 1] === null, n === 0);
  }
});

// Two objects of class 1, in two images; detections ranked by score: TP (img 0), FP, TP (img 1), FP.
// Curve: recall 1/2, 1/2, 1, 1; precision 1, 1/2, 2/3, 1/2.
// 11-point: t = 0..0.5 -> max precision at recall >= t = 1 (6 points); t = 0.6..1 -> 2/3 (5 points):
//   (6 * 1 + 5 * 2/3) / 11 = (6 + 10/3) / 11 = 28/33.
// All-point: envelope 1 on recall (0, 0.5], 2/3 on (0.5, 1]: 0.5 * 1 + 0.5 * 2/3 = 5/6.
const a = [0, 0, 10, 10];
const far = [50, 50, 60, 60];
const twoImages = [
  image([{ box: a, label: 1 }], [
    { box: a, label: 1, score: 0.9 },
    { box: far, label: 1, score: 0.8 },
  ]),
  image([{ box: a, label: 1 }], [
    { box: [0, 0, 10, 9.3], label: 1, score: 0.7 }, // IoU 0.93
    { box: [0, 0, 10, 9.3], label: 1, score: 0.6 }, // same object again: FP
  ]),
];

test('hand-computed 11-point and all-point AP', () => {
  const v07 = evaluateDetections(twoImages, { metric: 'voc07', numClasses: 1 });
  assert.ok(Math.abs((v07.map as number) - 28 / 33) < 1e-12, `voc07 ${v07.map}`);
  const voc = evaluateDetections(twoImages, { metric: 'voc', numClasses: 1 });
  assert.ok(Math.abs((voc.map as number) - 5 / 6) < 1e-12, `voc ${voc.map}`);
  const curve = voc.curves[0]!;
  assert.deepEqual(Array.from(curve.recall), [0.5, 0.5, 1, 1]);
  assert.deepEqual(Array.from(curve.precision), [1, 0.5, 2 / 3, 0.5]);
  assert.deepEqual(Array.from(curve.scores), Array.from(Float32Array.of(0.9, 0.8, 0.7, 0.6)));
});

test('the IoU threshold is strict: IoU exactly 0.5 does not match, just above does', () => {
  // Detection [0,0,10,5] inside object [0,0,10,10]: IoU = 50 / 100 = 0.5 exactly.
  const exact = [image([{ box: [0, 0, 10, 10], label: 1 }], [{ box: [0, 0, 10, 5], label: 1, score: 1 }])];
  assert.equal(evaluateDetections(exact, { metric: 'voc07', numClasses: 1 }).map, 0);
  assert.equal(evaluateDetections(exact, { metric: 'voc07', numClasses: 1, iouThreshold: 0.49 }).map, 1);
  // COCO uses >= (pycocotools), so at 0.50 the same pair matches.
  assert.equal(evaluateDetections(exact, { metric: 'coco', numClasses: 1 }).ap50PerClass[0], 1);
});

test('the same boxes in pixels and in fractions give the same APs (IoU is scale-free)', () => {
  const scaled = twoImages.map((im) => ({
    detections: { ...im.detections, boxes: Float64Array.from(im.detections.boxes, (v) => v / 300) },
    groundTruth: { ...im.groundTruth, boxes: Float64Array.from(im.groundTruth.boxes, (v) => v / 300) },
  }));
  for (const metric of ['voc07', 'voc', 'coco'] as const) {
    const px = evaluateDetections(twoImages, { metric, numClasses: 1 });
    const fr = evaluateDetections(scaled, { metric, numClasses: 1 });
    assert.ok(Math.abs((px.map as number) - (fr.map as number)) < 1e-12, metric);
  }
});

test('a detection on a difficult object is ignored, even when a lower-IoU ordinary object is near (VOC rule)', () => {
  // Object 0 difficult at a; object 1 ordinary, overlapping the detection with IoU 0.6 < IoU with a (1).
  const im = image(
    [
      { box: [0, 0, 10, 10], label: 1, difficult: true },
      { box: [0, 0, 10, 6], label: 1 },
    ],
    [{ box: [0, 0, 10, 10], label: 1, score: 0.9 }],
  );
  const r = evaluateDetections([im], { metric: 'voc07', numClasses: 1 });
  // The only detection is ignored: no point on the curve, recall 0 -> AP 0, one positive to find.
  assert.equal(r.numGroundTruth[0], 1);
  assert.equal(r.curves[0]!.recall.length, 0);
  assert.equal(r.apPerClass[0], 0);
});
