// pycocotools' rules on cases small enough to compute by hand: crowd regions (crowd IoU, any number of detections,
// ordinary objects first), area ranges from the `area` field, maxDets steps, and the printed summary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cocoSummaryLines, evaluateDetections } from '../../src/eval/index.js';
import type { CocoSummary, ImageResult } from '../../src/eval/types.js';

const close = (a: number | null, b: number, what: string) => assert.ok(a !== null && Math.abs(a - b) < 1e-12, `${what}: ${a}, expected ${b}`);

function one(
  gt: { box: number[]; crowd?: boolean; difficult?: boolean; area?: number }[],
  dets: { box: number[]; score: number }[],
): ImageResult {
  return {
    groundTruth: {
      boxes: gt.flatMap((g) => g.box),
      labels: gt.map(() => 1),
      crowd: gt.map((g) => (g.crowd ? 1 : 0)),
      difficult: gt.map((g) => (g.difficult ? 1 : 0)),
      ...(gt.some((g) => g.area !== undefined) ? { area: gt.map((g) => g.area ?? (g.box[2]! - g.box[0]!) * (g.box[3]! - g.box[1]!)) } : {}),
    },
    detections: { boxes: dets.flatMap((d) => d.box), labels: dets.map(() => 1), scores: dets.map((d) => d.score) },
  };
}

test('a crowd region absorbs every detection inside it: overlap is intersection over the detection area', () => {
  // Crowd C = [0,0,100,100], object O far away. d1, d2 lie inside C: crowd IoU 1 (ordinary IoU 0.01 and 0.0324),
  // so both are ignored; d3 = O is a true positive: AP 1 at every threshold.
  const crowd = { box: [0, 0, 100, 100], crowd: true };
  const o = { box: [200, 200, 210, 210] };
  const dets = [
    { box: [10, 10, 20, 20], score: 0.9 },
    { box: [12, 12, 30, 30], score: 0.8 },
    { box: [200, 200, 210, 210], score: 0.7 },
  ];
  const r = evaluateDetections([one([crowd, o], dets)], { metric: 'coco', numClasses: 1 });
  close(r.map, 1, 'AP');
  assert.deepEqual(r.numGroundTruth, [1], 'crowd regions are not counted in recall');
  // The same region marked difficult keeps VOC's ordinary IoU: d1 and d2 are false positives ahead of the TP.
  // Precision 0, 0, 1/3 at recall 0, 0, 1: every recall point reads 1/3.
  const difficult = evaluateDetections([one([{ box: crowd.box, difficult: true }, o], dets)], { metric: 'coco', numClasses: 1 });
  close(difficult.map, 1 / 3, 'AP with the region difficult');
  // A detection half outside the crowd region: intersection 100 of its 400 -> crowd IoU 0.25, a false positive.
  // Ranked FP then TP: recall 1 at precision 1/2.
  const edge = evaluateDetections([one([crowd, o], [{ box: [90, 90, 110, 110], score: 0.95 }, dets[2]!])], { metric: 'coco', numClasses: 1 });
  close(edge.map, 0.5, 'AP with a detection mostly outside the crowd');
  // VOC metrics treat a crowd region as difficult.
  const voc = evaluateDetections([one([crowd, o], dets)], { metric: 'voc07', numClasses: 1 });
  const vocDifficult = evaluateDetections([one([{ box: crowd.box, difficult: true }, o], dets)], { metric: 'voc07', numClasses: 1 });
  assert.deepEqual(voc.apPerClass, vocDifficult.apPerClass);
});

test('an ordinary object is preferred to a crowd region while it passes the threshold', () => {
  // O = [0,0,10,10] inside crowd C = [0,0,100,100]; D = [0,0,10,12]: IoU with O 100/120 = 0.833, crowd IoU with C 1.
  // t = 0.50 .. 0.80 (7 thresholds): D takes O, AP 1. t = 0.85 .. 0.95: D falls on C, ignored, O not found: AP 0.
  const r = evaluateDetections([one([{ box: [0, 0, 100, 100], crowd: true }, { box: [0, 0, 10, 10] }], [{ box: [0, 0, 10, 12], score: 0.9 }])], { metric: 'coco', numClasses: 1 });
  close(r.map, 0.7, 'AP');
  close(r.map75, 1, 'AP75');
});

test('area ranges use the area field; detections outside a range are ignored unless they match', () => {
  // G1: box 40x40 (1600, medium) but area 900 (small). G2: 100x100 = 10000 (large). d3: a 10x10 false positive.
  const gt = [{ box: [0, 0, 40, 40], area: 900 }, { box: [100, 100, 200, 200] }];
  const dets = [
    { box: [0, 0, 40, 40], score: 0.9 },
    { box: [100, 100, 200, 200], score: 0.8 },
    { box: [300, 300, 310, 310], score: 0.95 },
  ];
  const s = evaluateDetections([one(gt, dets)], { metric: 'coco', numClasses: 1 }).summary;
  // all: FP, TP, TP -> precision 0, 1/2, 2/3 at recall 0, 1/2, 1; envelope 2/3 everywhere.
  close(s.ap, 2 / 3, 'AP');
  // small: G2 ignored (d2 on it ignored); FP then TP -> 1/2.  medium: no object -> null.  large: G1 ignored (d1 on it
  // ignored), d3 unmatched and small -> ignored; d2 TP -> 1.
  close(s.apSmall, 0.5, 'AP small');
  assert.equal(s.apMedium, null);
  close(s.apLarge, 1, 'AP large');
  // One detection per image and class (d3, the best score) finds nothing; ten find both.
  close(s.ar1, 0, 'AR1');
  close(s.ar10, 1, 'AR10');
  close(s.arSmall, 1, 'AR small');
  assert.equal(s.arMedium, null);
  // Without the area field G1 is medium (box area 1600): no small object, and medium finds G1 at precision 1.
  const boxAreas = evaluateDetections([one([{ box: gt[0]!.box }, gt[1]!], dets)], { metric: 'coco', numClasses: 1 }).summary;
  assert.equal(boxAreas.apSmall, null);
  close(boxAreas.apMedium, 1, 'AP medium by box area');
});

test('the summary prints as pycocotools prints it: -1 for nothing, Python rounding of exact halves', () => {
  const s: CocoSummary = {
    ap: 0.0625, ap50: 0.1875, ap75: 0.5, apSmall: null, apMedium: 0.123456, apLarge: 1,
    ar1: 0.3125, ar10: 0.4, ar100: 0.45, arSmall: null, arMedium: 0.9999, arLarge: 0,
  };
  assert.deepEqual(cocoSummaryLines(s), [
    ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.062',
    ' Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 0.188',
    ' Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ] = 0.500',
    ' Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = -1.000',
    ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = 0.123',
    ' Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 1.000',
    ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.312',
    ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ] = 0.400',
    ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.450',
    ' Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = -1.000',
    ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = 1.000',
    ' Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 0.000',
  ]);
});

test('bad crowd and area fields are refused naming the image and item', () => {
  const im = one([{ box: [0, 0, 10, 10], area: 100 }], []);
  assert.throws(() => evaluateDetections([{ ...im, groundTruth: { ...im.groundTruth, area: [-1] } }], { metric: 'coco', numClasses: 1 }), /images\[0\]\.groundTruth\.area: area 0 is -1, expected a finite number >= 0/);
  assert.throws(() => evaluateDetections([{ ...im, groundTruth: { ...im.groundTruth, crowd: [0, 1] } }], { metric: 'coco', numClasses: 1 }), /images\[0\]\.groundTruth\.crowd: length 2, expected labels\.length = 1/);
});
