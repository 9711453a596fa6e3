// PASCAL VOC average precision, exactly as the SSD300 tutorial's calculate_mAP (the reference):
// each detection, highest score first, is compared with the same-image same-class object it
// overlaps most (already-found ones included). IoU > threshold: a difficult object makes it
// ignored; an object not yet found makes it a true positive (and marks the object found); an object
// already found makes it a false positive. Otherwise it is a false positive. Recall counts only
// non-difficult objects. COCO crowd regions count as difficult here.
import { allPointAp, elevenPointAp } from './interpolate.js';
import { boxIou } from '../boxes/iou.js';
import { argsortDescending, ClassOutcomes, countPositives, FALSE_POSITIVE, groupByLabel, IGNORED, isIgnoredObject, TRUE_POSITIVE } from './ranking.js';
import type { ImageResult, PrCurve } from './types.js';

export interface VocApOptions {
  /** Object classes; labels are 1..numClasses. */
  numClasses: number;
  /** 'voc07': 11-point interpolation (the reference); 'voc': VOC2010+ all-point area. Default 'voc07'. */
  interpolation?: 'voc07' | 'voc';
  /** A detection matches an object when IoU > iouThreshold (strictly). Default 0.5. */
  iouThreshold?: number;
}

/** Per class (index c - 1): AP (null without non-difficult ground truth), curve, counts. */
export interface ClassApTable {
  apPerClass: (number | null)[];
  curves: (PrCurve | null)[];
  numGroundTruth: number[];
  numDetections: number[];
}

/** Marks each detection TP / FP / ignored, VOC rules, image by image. Input must be validated. */
function matchVoc(images: readonly ImageResult[], numClasses: number, iouThreshold: number): ClassOutcomes {
  const perClass = new Int32Array(numClasses);
  for (const { detections } of images) for (let i = 0; i < detections.labels.length; i++) perClass[detections.labels[i] - 1]++;
  const table = new ClassOutcomes(perClass, 1);
  let found = new Uint8Array(0);

  for (const { detections: det, groundTruth: gt } of images) {
    const scores = det.scores;
    const dets = groupByLabel(det.labels, numClasses, argsortDescending(scores, 0, scores.length));
    const objs = groupByLabel(gt.labels, numClasses); // index order: the first of equal IoUs wins, as torch.max
    if (found.length < gt.labels.length) found = new Uint8Array(gt.labels.length);
    found.fill(0);

    for (let c = 1; c <= numClasses; c++) {
      for (let k = dets.start[c]; k < dets.start[c + 1]; k++) {
        const d = dets.order[k];
        let best = -1;
        let match = -1;
        for (let j = objs.start[c]; j < objs.start[c + 1]; j++) {
          const g = objs.order[j];
          const iou = boxIou(det.boxes, d, gt.boxes, g);
          if (iou > best) {
            best = iou;
            match = g;
          }
        }
        let outcome = FALSE_POSITIVE;
        if (match >= 0 && best > iouThreshold) {
          if (isIgnoredObject(gt, match)) outcome = IGNORED;
          else if (!found[match]) {
            outcome = TRUE_POSITIVE;
            found[match] = 1;
          }
        }
        table.outcome[table.add(c, scores[d])] = outcome;
      }
    }
  }
  return table;
}

/** VOC AP of every class. Assumes `images` passed {@link validateImages}. */
export function vocAveragePrecision(images: readonly ImageResult[], options: VocApOptions): ClassApTable {
  const { numClasses, interpolation = 'voc07', iouThreshold = 0.5 } = options;
  const table = matchVoc(images, numClasses, iouThreshold);
  const numGroundTruth = countPositives(images, numClasses);
  const apPerClass: (number | null)[] = [];
  const curves: (PrCurve | null)[] = [];
  const numDetections: number[] = [];
  const interpolate = interpolation === 'voc07' ? elevenPointAp : allPointAp;
  for (let c = 1; c <= numClasses; c++) {
    numDetections.push(table.count(c));
    if (numGroundTruth[c - 1] === 0) {
      apPerClass.push(null);
      curves.push(null);
      continue;
    }
    const curve = table.curve(table.ranked(c), 0, numGroundTruth[c - 1]);
    apPerClass.push(interpolate(curve.recall, curve.precision));
    curves.push(curve);
  }
  return { apPerClass, curves, numGroundTruth, numDetections };
}
