// COCO box evaluation, as pycocotools' COCOeval with iouType 'bbox' (evaluateImg, accumulate, summarize):
// - per image and class, detections sorted by score (highest first, ties in input order) and cut to maxDets;
// - overlap is the IoU, except with a crowd region: intersection over the detection's own area (maskApi's bbIou);
// - for each area range (all, small, medium, large) an object is ignored when it is a crowd region, difficult, or
//   its area lies outside the range; objects are tried ordinary first, ignored last;
// - at each IoU threshold t, each detection in turn takes the object with the highest overlap >= t that is still
//   free (crowd regions and difficult objects never fill up); once it has an ordinary object, ignored ones cannot
//   replace it. A detection on an ignored object, or unmatched with its own area outside the range, is ignored;
// - per class, area range and maxDets (1, 10, 100 per image): the detections of all images ranked by score (ties:
//   image order, then rank in the image), precision made monotone and read at recall 0, 0.01, ..., 1 (101 points);
//   AP is their mean, AR the recall reached; classes without ordinary objects in a range take no part there.
import { cocoInterpolatedAp, linspace } from './interpolate.js';
import { argsortDescending, FALSE_POSITIVE, groupByLabel, IGNORED, isFlagged, TRUE_POSITIVE } from './ranking.js';
import type { ClassApTable } from './voc-map.js';
import type { CocoSummary, ImageResult, PrCurve } from './types.js';

/** pycocotools' IoU thresholds, np.linspace(0.5, 0.95, 10). */
export const COCO_IOU_THRESHOLDS: readonly number[] = Object.freeze(linspace(0.5, 0.95, 10));

/** pycocotools' area ranges in pixels², both bounds included: all, small, medium, large. */
export const COCO_AREA_RANGES: readonly { name: 'all' | 'small' | 'medium' | 'large'; min: number; max: number }[] = Object.freeze([
  { name: 'all', min: 0, max: 1e10 },
  { name: 'small', min: 0, max: 32 ** 2 },
  { name: 'medium', min: 32 ** 2, max: 96 ** 2 },
  { name: 'large', min: 96 ** 2, max: 1e10 },
]);

export interface CocoApOptions {
  /** Object classes; labels are 1..numClasses. */
  numClasses: number;
  /** Detections kept per image and class for AP (pycocotools' maxDets[2]). Default 100. */
  maxDets?: number;
  /** IoU thresholds to average over; a match needs IoU >= threshold. Default 0.50:0.05:0.95. */
  iouThresholds?: readonly number[];
}

export interface CocoApTable extends ClassApTable {
  /** apPerIouThreshold[t][c - 1]: AP of class c at iouThresholds[t] (all areas, maxDets). */
  apPerIouThreshold: (number | null)[][];
  /** [1, 10, maxDets] capped at maxDets: the detections per image and class AR is measured at. */
  maxDetsSteps: [number, number, number];
  /** The 12 summary numbers over all classes, and per class. */
  summary: CocoSummary;
  summaryPerClass: CocoSummary[];
}

/** Per-class results of every (area range, maxDets step, IoU threshold): AP (mean of the 101 points) and recall. */
class Accumulated {
  /** Index ((a * M + m) * T + t) * K + (c - 1); -1 where class c has no ordinary object in area range a. */
  readonly ap: Float64Array;
  readonly recall: Float64Array;

  constructor(readonly numClasses: number, readonly numThresholds: number, readonly numSteps: number) {
    const n = COCO_AREA_RANGES.length * numSteps * numThresholds * numClasses;
    this.ap = new Float64Array(n).fill(-1);
    this.recall = new Float64Array(n).fill(-1);
  }

  index(a: number, m: number, t: number, c: number): number {
    return ((a * this.numSteps + m) * this.numThresholds + t) * this.numClasses + (c - 1);
  }

  /** Mean of the valid (not -1) AP or recall values of area range a, step m, over thresholds `ts` and classes `cs`. */
  mean(values: Float64Array, a: number, m: number, ts: readonly number[], cs: readonly number[]): number | null {
    let sum = 0;
    let n = 0;
    for (const c of cs) {
      for (const t of ts) {
        const v = values[this.index(a, m, t, c)];
        if (v > -1) {
          sum += v;
          n++;
        }
      }
    }
    return n > 0 ? sum / n : null;
  }
}

/**
 * The detections kept for evaluation, grouped by class, with their outcome for every area range and IoU
 * threshold. Entries of a class are added image by image, highest score first.
 */
class Matches {
  /** Entries of class c: start[c] .. start[c + 1] - 1. */
  readonly start: Int32Array;
  readonly score: Float64Array;
  /** Position of the detection among its image's detections of its class, by score (0 = best). */
  readonly rankInImage: Int32Array;
  /** outcome[(e * A + a) * T + t]: TRUE_POSITIVE, FALSE_POSITIVE or IGNORED. */
  readonly outcome: Uint8Array;
  /** Ordinary objects per class (index c - 1) and area range: npig[a * K + c - 1]. */
  readonly ordinary: Int32Array;
  private readonly cursor: Int32Array;

  constructor(perClass: Int32Array, readonly numThresholds: number) {
    const K = perClass.length;
    this.start = new Int32Array(K + 2);
    for (let c = 1; c <= K; c++) this.start[c + 1] = this.start[c] + perClass[c - 1];
    const total = this.start[K + 1];
    this.score = new Float64Array(total);
    this.rankInImage = new Int32Array(total);
    this.outcome = new Uint8Array(total * COCO_AREA_RANGES.length * numThresholds);
    this.ordinary = new Int32Array(COCO_AREA_RANGES.length * K);
    this.cursor = this.start.slice();
  }

  add(c: number, score: number, rank: number): number {
    const e = this.cursor[c]++;
    this.score[e] = score;
    this.rankInImage[e] = rank;
    return e;
  }
}

/** Overlap of detection box p of `d` with object q of `g`, as maskApi's bbIou: crowd regions by the detection's area. */
function overlap(d: ArrayLike<number>, p: number, g: ArrayLike<number>, q: number, crowd: boolean): number {
  const dx1 = d[4 * p], dy1 = d[4 * p + 1], dx2 = d[4 * p + 2], dy2 = d[4 * p + 3];
  const gx1 = g[4 * q], gy1 = g[4 * q + 1], gx2 = g[4 * q + 2], gy2 = g[4 * q + 3];
  const w = Math.min(dx2, gx2) - Math.max(dx1, gx1);
  if (w <= 0) return 0;
  const h = Math.min(dy2, gy2) - Math.max(dy1, gy1);
  if (h <= 0) return 0;
  const inter = w * h;
  const detArea = (dx2 - dx1) * (dy2 - dy1);
  return inter / (crowd ? detArea : detArea + (gx2 - gx1) * (gy2 - gy1) - inter);
}

/** Matches every image's kept detections, class by class, for all area ranges and thresholds. Input must be validated. */
function matchAll(images: readonly ImageResult[], numClasses: number, maxDets: number, thresholds: readonly number[]): Matches {
  const T = thresholds.length;
  const A = COCO_AREA_RANGES.length;
  const perClass = new Int32Array(numClasses);
  const grouped = images.map(({ detections: det }) => {
    const g = groupByLabel(det.labels, numClasses, argsortDescending(det.scores, 0, det.scores.length));
    for (let c = 1; c <= numClasses; c++) perClass[c - 1] += Math.min(maxDets, g.start[c + 1] - g.start[c]);
    return g;
  });
  const out = new Matches(perClass, T);
  let iou = new Float64Array(0);
  let objectArea = new Float64Array(0);
  let multi = new Uint8Array(0); // per object: crowd region or difficult, never filled up
  let ignored = new Uint8Array(0); // per object, in the current area range
  let order = new Int32Array(0); // objects of the class, ordinary first, for the current area range
  let taken = new Uint8Array(0);
  let detArea = new Float64Array(0);
  let entries = new Int32Array(0);

  for (let im = 0; im < images.length; im++) {
    const { detections: det, groundTruth: gt } = images[im];
    const dets = grouped[im];
    const objs = groupByLabel(gt.labels, numClasses);
    for (let c = 1; c <= numClasses; c++) {
      const d0 = dets.start[c];
      const nd = Math.min(maxDets, dets.start[c + 1] - d0);
      const g0 = objs.start[c];
      const ng = objs.start[c + 1] - g0;
      if (nd === 0 && ng === 0) continue;
      if (multi.length < ng) {
        objectArea = new Float64Array(ng);
        multi = new Uint8Array(ng);
        ignored = new Uint8Array(ng);
        order = new Int32Array(ng);
        taken = new Uint8Array(ng);
      }
      for (let j = 0; j < ng; j++) {
        const g = objs.order[g0 + j];
        multi[j] = isFlagged(gt.crowd, g) || isFlagged(gt.difficult, g) ? 1 : 0;
        objectArea[j] = gt.area != null ? gt.area[g] : (gt.boxes[4 * g + 2] - gt.boxes[4 * g]) * (gt.boxes[4 * g + 3] - gt.boxes[4 * g + 1]);
      }
      for (let a = 0; a < A; a++) {
        const { min, max } = COCO_AREA_RANGES[a];
        for (let j = 0; j < ng; j++) if (!multi[j] && objectArea[j] >= min && objectArea[j] <= max) out.ordinary[a * numClasses + c - 1]++;
      }
      if (nd === 0) continue;

      // Overlaps of every kept detection with every object, computed once for all ranges and thresholds.
      if (iou.length < nd * ng) iou = new Float64Array(nd * ng);
      if (detArea.length < nd) {
        detArea = new Float64Array(nd);
        entries = new Int32Array(nd);
      }
      for (let k = 0; k < nd; k++) {
        const p = dets.order[d0 + k];
        detArea[k] = (det.boxes[4 * p + 2] - det.boxes[4 * p]) * (det.boxes[4 * p + 3] - det.boxes[4 * p + 1]);
        for (let j = 0; j < ng; j++) iou[k * ng + j] = overlap(det.boxes, p, gt.boxes, objs.order[g0 + j], isFlagged(gt.crowd, objs.order[g0 + j]));
        entries[k] = out.add(c, det.scores[p], k);
      }

      for (let a = 0; a < A; a++) {
        const { min, max } = COCO_AREA_RANGES[a];
        // Ordinary objects first, then ignored ones, each in input order (pycocotools' stable argsort).
        let front = 0;
        for (let j = 0; j < ng; j++) {
          ignored[j] = multi[j] || objectArea[j] < min || objectArea[j] > max ? 1 : 0;
          if (!ignored[j]) order[front++] = j;
        }
        for (let j = 0; j < ng; j++) if (ignored[j]) order[front++] = j;
        for (let t = 0; t < T; t++) {
          taken.fill(0, 0, ng);
          const threshold = Math.min(thresholds[t], 1 - 1e-10);
          for (let k = 0; k < nd; k++) {
            let best = threshold;
            let m = -1; // position in `order`
            for (let i = 0; i < ng; i++) {
              const j = order[i];
              if (taken[j] && !multi[j]) continue;
              // Once an ordinary object matched, ignored ones (sorted last) cannot replace it.
              if (m > -1 && !ignored[order[m]] && ignored[j]) break;
              const v = iou[k * ng + j];
              if (v < best) continue;
              best = v;
              m = i;
            }
            let outcome: number;
            if (m > -1) {
              const j = order[m];
              taken[j] = 1;
              outcome = ignored[j] ? IGNORED : TRUE_POSITIVE;
            } else outcome = detArea[k] < min || detArea[k] > max ? IGNORED : FALSE_POSITIVE;
            out.outcome[(entries[k] * A + a) * T + t] = outcome;
          }
        }
      }
    }
  }
  return out;
}

/** Precision-recall points of class c's ranked entries at area range a, threshold t, up to `limit` per image. */
function sweep(
  matches: Matches, ranked: Int32Array, a: number, t: number, limit: number, positives: number,
  recall: Float64Array, precision: Float64Array,
): { n: number; truePositives: number } {
  const A = COCO_AREA_RANGES.length;
  const T = matches.numThresholds;
  let tp = 0;
  let fp = 0;
  let n = 0;
  for (let i = 0; i < ranked.length; i++) {
    const e = ranked[i];
    if (matches.rankInImage[e] >= limit) continue;
    const o = matches.outcome[(e * A + a) * T + t];
    if (o === IGNORED) continue;
    if (o === TRUE_POSITIVE) tp++;
    else fp++;
    recall[n] = tp / positives;
    // pycocotools adds np.spacing(1) to the denominator against 0 / 0, which cannot happen here (ignored
    // detections are skipped); without it a lone true positive has precision 1, not 1 - 2.2e-16.
    precision[n] = tp / (tp + fp);
    n++;
  }
  return { n, truePositives: tp };
}

/** The curve reported for plotting: IoU 0.50, all areas, maxDets; precision is TP / detections. */
function plotCurve(matches: Matches, ranked: Int32Array, limit: number, positives: number): PrCurve {
  const A = COCO_AREA_RANGES.length;
  const T = matches.numThresholds;
  const kept = Array.from(ranked).filter((e) => matches.rankInImage[e] < limit && matches.outcome[e * A * T] !== IGNORED);
  const recall = new Float64Array(kept.length);
  const precision = new Float64Array(kept.length);
  const scores = new Float64Array(kept.length);
  let tp = 0;
  kept.forEach((e, k) => {
    if (matches.outcome[e * A * T] === TRUE_POSITIVE) tp++;
    recall[k] = tp / positives;
    precision[k] = tp / (k + 1);
    scores[k] = matches.score[e];
  });
  return { recall, precision, scores };
}

/** pycocotools' summarize() over classes `cs` (1-based). */
function summarize(acc: Accumulated, thresholds: readonly number[], cs: readonly number[]): CocoSummary {
  const all = thresholds.map((_, t) => t);
  const at = (iou: number) => {
    const t = thresholds.findIndex((v) => Math.abs(v - iou) < 1e-9);
    return t >= 0 ? [t] : [];
  };
  const last = acc.numSteps - 1;
  const ap = (a: number, ts: readonly number[]) => acc.mean(acc.ap, a, last, ts, cs);
  const ar = (a: number, m: number) => acc.mean(acc.recall, a, m, all, cs);
  return {
    ap: ap(0, all), ap50: ap(0, at(0.5)), ap75: ap(0, at(0.75)),
    apSmall: ap(1, all), apMedium: ap(2, all), apLarge: ap(3, all),
    ar1: ar(0, 0), ar10: ar(0, 1), ar100: ar(0, 2),
    arSmall: ar(1, last), arMedium: ar(2, last), arLarge: ar(3, last),
  };
}

/** COCO evaluation of every class. Assumes `images` passed {@link validateImages}; equal scores of different images rank in `images` order. */
export function cocoAveragePrecision(images: readonly ImageResult[], options: CocoApOptions): CocoApTable {
  const { numClasses, maxDets = 100, iouThresholds = COCO_IOU_THRESHOLDS } = options;
  const T = iouThresholds.length;
  const A = COCO_AREA_RANGES.length;
  const steps: [number, number, number] = [Math.min(1, maxDets), Math.min(10, maxDets), maxDets];
  const matches = matchAll(images, numClasses, maxDets, iouThresholds);
  const acc = new Accumulated(numClasses, T, steps.length);
  const curves: (PrCurve | null)[] = [];
  const numDetections: number[] = [];
  const numGroundTruth: number[] = [];
  let recall = new Float64Array(0);
  let precision = new Float64Array(0);
  for (let c = 1; c <= numClasses; c++) {
    const count = matches.start[c + 1] - matches.start[c];
    numDetections.push(count);
    numGroundTruth.push(matches.ordinary[c - 1]);
    if (recall.length < count) {
      recall = new Float64Array(count);
      precision = new Float64Array(count);
    }
    const ranked = argsortDescending(matches.score, matches.start[c], count);
    for (let a = 0; a < A; a++) {
      const positives = matches.ordinary[a * numClasses + c - 1];
      if (positives === 0) continue;
      for (let m = 0; m < steps.length; m++) {
        // The summary reads the smaller maxDets (AR1, AR10) for all areas only; pycocotools computes them, unread.
        if (a > 0 && m < steps.length - 1) continue;
        for (let t = 0; t < T; t++) {
          const { n, truePositives } = sweep(matches, ranked, a, t, steps[m], positives, recall, precision);
          const i = acc.index(a, m, t, c);
          acc.ap[i] = cocoInterpolatedAp(recall.subarray(0, n), precision.subarray(0, n));
          acc.recall[i] = truePositives / positives;
        }
      }
    }
    curves.push(matches.ordinary[c - 1] > 0 ? plotCurve(matches, ranked, maxDets, matches.ordinary[c - 1]) : null);
  }

  const classes = Array.from({ length: numClasses }, (_, i) => i + 1);
  const summaryPerClass = classes.map((c) => summarize(acc, iouThresholds, [c]));
  const last = steps.length - 1;
  const apPerIouThreshold = iouThresholds.map((_, t) => classes.map((c) => {
    const v = acc.ap[acc.index(0, last, t, c)];
    return v > -1 ? v : null;
  }));
  return {
    apPerClass: summaryPerClass.map((s) => s.ap),
    curves,
    numGroundTruth,
    numDetections,
    apPerIouThreshold,
    maxDetsSteps: steps,
    summary: summarize(acc, iouThresholds, classes),
    summaryPerClass,
  };
}
