// COCO-style average precision, following pycocotools (COCOeval.evaluateImg and accumulate) for
// bounding boxes, area range 'all':
// - per image and class, detections sorted by score (highest first) and cut to maxDets;
// - at each IoU threshold t, each detection in turn takes the unmatched object with the highest
//   IoU >= t, preferring ordinary objects to ignore regions (difficult / crowd); ignore regions can
//   take any number of detections, and a detection on one is neither a true nor a false positive;
// - precision made monotone, read at recall 0, 0.01, ..., 1 (101 points) and averaged;
// - AP is the mean over t = 0.50, 0.55, ..., 0.95. Classes without ordinary objects have no AP.
// Difference: pycocotools scores an ignore region by intersection over the detection's area (crowd
// IoU); here difficult objects use the ordinary IoU, as VOC does.
import { cocoInterpolatedAp, linspace } from './interpolate.js';
import { boxIou } from '../boxes/iou.js';
import { argsortDescending, ClassOutcomes, countPositives, FALSE_POSITIVE, groupByLabel, IGNORED, isDifficult, TRUE_POSITIVE } from './ranking.js';
import type { ClassApTable } from './voc-map.js';
import type { ImageResult } from './types.js';

/** pycocotools' IoU thresholds, np.linspace(0.5, 0.95, 10). */
export const COCO_IOU_THRESHOLDS: readonly number[] = Object.freeze(linspace(0.5, 0.95, 10));

export interface CocoApOptions {
  /** Object classes; labels are 1..numClasses. */
  numClasses: number;
  /** Detections kept per image and class, highest score first (pycocotools' maxDets). Default 100. */
  maxDets?: number;
  /** IoU thresholds to average over; a match needs IoU >= threshold. Default 0.50:0.05:0.95. */
  iouThresholds?: readonly number[];
}

export interface CocoApTable extends ClassApTable {
  /** apPerIouThreshold[t][c - 1]: AP of class c at iouThresholds[t]. */
  apPerIouThreshold: (number | null)[][];
}

/** Marks each kept detection TP / FP / ignored at every threshold. Input must be validated. */
function matchCoco(images: readonly ImageResult[], numClasses: number, maxDets: number, thresholds: readonly number[]): ClassOutcomes {
  const T = thresholds.length;
  const perClass = new Int32Array(numClasses);
  const grouped = images.map(({ detections: det }) => {
    const g = groupByLabel(det.labels, numClasses, argsortDescending(det.scores, 0, det.scores.length));
    for (let c = 1; c <= numClasses; c++) perClass[c - 1] += Math.min(maxDets, g.start[c + 1] - g.start[c]);
    return g;
  });
  const table = new ClassOutcomes(perClass, T);
  let iou = new Float64Array(0);
  let taken = new Uint8Array(0); // per object: matched at the current threshold
  let ignore = new Uint8Array(0); // per object: difficult / ignore region

  for (let im = 0; im < images.length; im++) {
    const { detections: det, groundTruth: gt } = images[im];
    const dets = grouped[im];
    // Ordinary objects first, ignore regions last (pycocotools sorts them so), each in index order.
    const numObjects = gt.labels.length;
    const byIgnore = new Int32Array(numObjects);
    let front = 0;
    for (let i = 0; i < numObjects; i++) if (!isDifficult(gt.difficult, i)) byIgnore[front++] = i;
    for (let i = 0; i < numObjects; i++) if (isDifficult(gt.difficult, i)) byIgnore[front++] = i;
    const objs = groupByLabel(gt.labels, numClasses, byIgnore);
    for (let c = 1; c <= numClasses; c++) {
      const d0 = dets.start[c];
      const nd = Math.min(maxDets, dets.start[c + 1] - d0);
      if (nd === 0) continue;
      const g0 = objs.start[c];
      const ng = objs.start[c + 1] - g0;
      // IoU of every kept detection with every object, computed once for all thresholds.
      if (iou.length < nd * ng) iou = new Float64Array(nd * ng);
      for (let k = 0; k < nd; k++) for (let j = 0; j < ng; j++) iou[k * ng + j] = boxIou(det.boxes, dets.order[d0 + k], gt.boxes, objs.order[g0 + j]);
      if (taken.length < ng) {
        taken = new Uint8Array(ng);
        ignore = new Uint8Array(ng);
      }
      for (let j = 0; j < ng; j++) ignore[j] = isDifficult(gt.difficult, objs.order[g0 + j]) ? 1 : 0;
      const entries = new Int32Array(nd);
      for (let k = 0; k < nd; k++) entries[k] = table.add(c, det.scores[dets.order[d0 + k]]);

      for (let t = 0; t < T; t++) {
        taken.fill(0, 0, ng);
        for (let k = 0; k < nd; k++) {
          let best = Math.min(thresholds[t], 1 - 1e-10);
          let m = -1;
          for (let j = 0; j < ng; j++) {
            if (taken[j] && !ignore[j]) continue;
            // Once an ordinary object matched, ignore regions (sorted last) cannot replace it.
            if (m > -1 && !ignore[m] && ignore[j]) break;
            const v = iou[k * ng + j];
            if (v < best) continue;
            best = v;
            m = j;
          }
          let outcome = FALSE_POSITIVE;
          if (m > -1) {
            taken[m] = 1;
            outcome = ignore[m] ? IGNORED : TRUE_POSITIVE;
          }
          table.outcome[entries[k] * T + t] = outcome;
        }
      }
    }
  }
  return table;
}

/** COCO AP of every class, averaged over the IoU thresholds. Assumes `images` passed {@link validateImages}. */
export function cocoAveragePrecision(images: readonly ImageResult[], options: CocoApOptions): CocoApTable {
  const { numClasses, maxDets = 100, iouThresholds = COCO_IOU_THRESHOLDS } = options;
  const T = iouThresholds.length;
  const table = matchCoco(images, numClasses, maxDets, iouThresholds);
  const numGroundTruth = countPositives(images, numClasses);
  const apPerClass: (number | null)[] = [];
  const curves: ClassApTable['curves'] = [];
  const numDetections: number[] = [];
  const apPerIouThreshold: (number | null)[][] = iouThresholds.map(() => []);
  for (let c = 1; c <= numClasses; c++) {
    numDetections.push(table.count(c));
    const positives = numGroundTruth[c - 1];
    if (positives === 0) {
      apPerClass.push(null);
      curves.push(null);
      for (const row of apPerIouThreshold) row.push(null);
      continue;
    }
    const ranked = table.ranked(c);
    let sum = 0;
    for (let t = 0; t < T; t++) {
      const curve = table.curve(ranked, t, positives);
      const ap = cocoInterpolatedAp(curve.recall, curve.precision);
      apPerIouThreshold[t].push(ap);
      sum += ap;
      if (t === 0) curves.push(curve);
    }
    apPerClass.push(sum / T);
  }
  return { apPerClass, curves, numGroundTruth, numDetections, apPerIouThreshold };
}
