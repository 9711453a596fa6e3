// COCO AP (pycocotools semantics) on cases whose values are derived here by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COCO_IOU_THRESHOLDS, evaluateDetections } from '../../src/eval/index.js';
import { image } from './helpers.js';

const close = (a: number | null, b: number, what: string) => assert.ok(a !== null && Math.abs(a - b) < 1e-12, `${what}: ${a}, expected ${b}`);

test('IoU thresholds are 0.50, 0.55, ..., 0.95', () => {
  assert.equal(COCO_IOU_THRESHOLDS.length, 10);
  for (let t = 0; t < 10; t++) assert.ok(Math.abs(COCO_IOU_THRESHOLDS[t] - (0.5 + 0.05 * t)) < 1e-12);
});

// Two images, one object each. Ranked: TP (IoU 1), FP (far), TP (IoU 0.93), duplicate of the last.
// For t <= 0.90: recall .5 .5 1 1, precision 1 .5 2/3 .5; envelope 1 2/3 2/3 .5.
//   Recall points 0..0.50 (51 of them) read 1, 0.51..1 (50) read 2/3: (51 + 100/3) / 101 = 253/303.
// For t = 0.95 the IoU-0.93 detection is a FP: recall stays .5: 51 points read 1, the rest 0: 51/101.
// AP = (9 * 253/303 + 51/101) / 10 = (2277 + 153) / 3030 = 81/101.
const a = [0, 0, 10, 10];
const twoImages = [
  image([{ box: a, label: 1 }], [
    { box: a, label: 1, score: 0.9 },
    { box: [50, 50, 60, 60], label: 1, score: 0.8 },
  ]),
  image([{ box: a, label: 1 }], [
    { box: [0, 0, 10, 9.3], label: 1, score: 0.7 },
    { box: [0, 0, 10, 9.3], label: 1, score: 0.6 },
  ]),
];

test('hand-computed 101-point AP, AP50, AP75', () => {
  const r = evaluateDetections(twoImages, { metric: 'coco', numClasses: 1 });
  close(r.map, 81 / 101, 'AP');
  close(r.map50, 253 / 303, 'AP50');
  close(r.map75, 253 / 303, 'AP75');
  close(r.apPerIouThreshold[9][0], 51 / 101, 'AP95');
  assert.equal(r.maxDets, 100);
});

test('maxDets keeps the highest-scored detections per image and class', () => {
  // With maxDets 1 only the two TPs (0.9, 0.7) remain: recall .5 then 1 at precision 1 for t <= 0.90.
  // At 0.95 the 0.7 one is a FP: 51/101. AP = (9 + 51/101) / 10.
  const r = evaluateDetections(twoImages, { metric: 'coco', numClasses: 1, maxDets: 1 });
  close(r.map50, 1, 'AP50');
  close(r.map, (9 + 51 / 101) / 10, 'AP');
  assert.deepEqual(r.numDetections, [2]);
});

test('greedy matching: a detection whose best object is taken matches the next one above the threshold', () => {
  // Objects A = [0,0,10,10], B = [2,0,12,10]. det1 = A (0.9) takes A. det2 = [0.5,0,10.5,10] (0.8):
  // IoU with A = 95/105 = 0.905, with B = 85/115 = 0.739. COCO: A taken -> det2 takes B where t <= 0.739
  // (t = 0.50..0.70: AP 1), else FP (recall 1/2 at precision 1 -> 51/101): AP = (5 + 5 * 51/101) / 10 = 76/101.
  // VOC07 (the reference) compares det2 with A only (highest IoU) and, A being found, calls it a FP:
  // recall .5 precision 1, then .5 / .5: points t = 0..0.5 read 1 -> 6/11.
  const im = [
    image(
      [
        { box: [0, 0, 10, 10], label: 1 },
        { box: [2, 0, 12, 10], label: 1 },
      ],
      [
        { box: [0, 0, 10, 10], label: 1, score: 0.9 },
        { box: [0.5, 0, 10.5, 10], label: 1, score: 0.8 },
      ],
    ),
  ];
  const coco = evaluateDetections(im, { metric: 'coco', numClasses: 1 });
  close(coco.map, 76 / 101, 'coco AP');
  close(coco.map50, 1, 'coco AP50');
  close(coco.map75, 51 / 101, 'coco AP75');
  close(evaluateDetections(im, { metric: 'voc07', numClasses: 1 }).map, 6 / 11, 'voc07 AP');
});

test('difficult objects are ignore regions; an ordinary object above the threshold is preferred', () => {
  // Difficult D = [0,0,10,10], ordinary O = [0,0,10,6.2]; one detection = D: IoU 1 with D, 0.62 with O.
  // t = 0.50, 0.55, 0.60: it matches O (pycocotools prefers ordinary objects): AP 1.
  // t >= 0.65: it falls on D, ignored: nothing found, AP 0.  AP = 3/10.
  const im = image(
    [
      { box: [0, 0, 10, 10], label: 1, difficult: true },
      { box: [0, 0, 10, 6.2], label: 1 },
    ],
    [{ box: [0, 0, 10, 10], label: 1, score: 0.9 }],
  );
  const r = evaluateDetections([im], { metric: 'coco', numClasses: 1 });
  close(r.map, 0.3, 'AP');
  assert.equal(r.numGroundTruth[0], 1);
  // Several detections on one ignore region are all ignored (it is never "used up").
  const many = image(
    [
      { box: [0, 0, 10, 10], label: 1, difficult: true },
      { box: [50, 50, 60, 60], label: 1 },
    ],
    [
      { box: [0, 0, 10, 10], label: 1, score: 0.9 },
      { box: [0, 0, 10, 10], label: 1, score: 0.8 },
      { box: [50, 50, 60, 60], label: 1, score: 0.1 },
    ],
  );
  close(evaluateDetections([many], { metric: 'coco', numClasses: 1 }).map, 1, 'AP with ignored detections');
});

test('the PR curve reported for COCO is the one at IoU 0.50', () => {
  const r = evaluateDetections(twoImages, { metric: 'coco', numClasses: 1 });
  assert.deepEqual(Array.from(r.curves[0]!.recall), [0.5, 0.5, 1, 1]);
  assert.deepEqual(Array.from(r.curves[0]!.precision), [1, 0.5, 2 / 3, 0.5]);
});
