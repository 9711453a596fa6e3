// Average precision from a precision-recall curve, the three ways the benchmarks define it.
// `recall` is non-decreasing (points in rank order); both arrays have one entry per detection.

/**
 * PASCAL VOC2007 11-point AP (the reference's metric): the mean, over t = 0, 0.1, ..., 1, of the
 * highest precision at any recall >= t (0 where recall never reaches t).
 */
export function elevenPointAp(recall: ArrayLike<number>, precision: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i <= 10; i++) {
    // i / 10, not i * 0.1: 3 * 0.1 is 0.30000000000000004, which a recall of exactly 0.3 would miss.
    const t = i / 10;
    let best = 0;
    for (let k = 0; k < recall.length; k++) if (recall[k] >= t && precision[k] > best) best = precision[k];
    sum += best;
  }
  return sum / 11;
}

/**
 * VOC2010+ all-point AP: the area under the precision envelope (precision at recall r replaced by
 * the highest precision at any recall >= r), as the VOC devkit's VOCap: the curve is padded with
 * (0, 0) in front and (1, 0) behind, and area is added where recall steps.
 */
export function allPointAp(recall: ArrayLike<number>, precision: ArrayLike<number>): number {
  let ap = 0;
  let envelope = 0; // max precision to the right of the current point
  let nextRecall = 1; // the padding point (1, 0) behind the curve
  for (let k = recall.length - 1; k >= -1; k--) {
    const r = k >= 0 ? recall[k] : 0;
    // Area of the step from r to nextRecall, at the envelope of everything at or right of nextRecall.
    if (nextRecall !== r) ap += (nextRecall - r) * envelope;
    if (k >= 0 && precision[k] > envelope) envelope = precision[k];
    nextRecall = r;
  }
  return ap;
}

/** `num` evenly spaced values from start to stop, computed as numpy.linspace does (pycocotools' thresholds). */
export function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  const out: number[] = [];
  for (let i = 0; i < num; i++) out.push(i * step + start);
  out[num - 1] = stop;
  return out;
}

/** pycocotools' recall thresholds: 0, 0.01, ..., 1 (0.5700000000000001 included, as numpy makes it). */
export const COCO_RECALL_THRESHOLDS: readonly number[] = Object.freeze(linspace(0, 1, 101));

/**
 * COCO 101-point AP, as pycocotools' accumulate: precision is made monotone (envelope), then read at
 * the first point whose recall >= each threshold r (0 when recall never reaches r); AP is the mean.
 */
export function cocoInterpolatedAp(
  recall: ArrayLike<number>,
  precision: ArrayLike<number>,
  recallThresholds: readonly number[] = COCO_RECALL_THRESHOLDS,
): number {
  const n = recall.length;
  const envelope = new Float64Array(n);
  let best = 0;
  for (let k = n - 1; k >= 0; k--) {
    if (precision[k] > best) best = precision[k];
    envelope[k] = best;
  }
  let sum = 0;
  let k = 0; // recall thresholds ascend and recall is non-decreasing: one sweep (numpy's searchsorted 'left')
  for (const r of recallThresholds) {
    while (k < n && recall[k] < r) k++;
    if (k < n) sum += envelope[k];
  }
  return sum / recallThresholds.length;
}
