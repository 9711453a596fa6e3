// Checks evaluation input once, where it enters, so the matching loops can trust it. Every error
// names the image, the field and the item: "images[3].detections.boxes: box 2 [..]: xmax < xmin".
import type { ImageResult } from './types.js';

function fmt(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(7))) : String(v);
}

/**
 * `allowInverted`: detections whose xmax < xmin or ymax < ymin are legal (they overlap nothing, so
 * they count as false positives, as in the reference, whose own detections hold one); ground truth
 * must not have them.
 */
function checkBoxes(where: string, boxes: ArrayLike<number> | undefined, n: number, lengthOf: string, allowInverted: boolean): void {
  if (boxes == null || typeof boxes.length !== 'number') throw new Error(`${where}: missing (expected 4*${n} numbers)`);
  if (boxes.length !== 4 * n) {
    throw new Error(`${where}: length ${boxes.length}, expected 4 * ${lengthOf}.length = ${4 * n}`);
  }
  for (let i = 0; i < n; i++) {
    const x1 = boxes[4 * i], y1 = boxes[4 * i + 1], x2 = boxes[4 * i + 2], y2 = boxes[4 * i + 3];
    let problem = '';
    if (!(Number.isFinite(x1) && Number.isFinite(y1) && Number.isFinite(x2) && Number.isFinite(y2))) {
      problem = 'not a finite number (NaN or Infinity)';
    } else if (!allowInverted && x2 < x1) problem = 'xmax < xmin';
    else if (!allowInverted && y2 < y1) problem = 'ymax < ymin';
    if (problem) throw new Error(`${where}: box ${i} [${fmt(x1)}, ${fmt(y1)}, ${fmt(x2)}, ${fmt(y2)}]: ${problem}`);
  }
}

function checkLabels(where: string, labels: ArrayLike<number> | undefined, numClasses: number): number {
  if (labels == null || typeof labels.length !== 'number') throw new Error(`${where}: missing (expected an array of class labels)`);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!Number.isInteger(l) || l < 1 || l > numClasses) {
      const hint =
        l === 0
          ? ' (0 is background, not an object class)'
          : l === numClasses + 1
            ? ' (numClasses counts object classes, background not included)'
            : '';
      throw new Error(`${where}: label ${i} is ${l}, expected an integer in 1..${numClasses}${hint}`);
    }
  }
  return labels.length;
}

/** Throws an Error naming the first bad field of `images`; returns nothing when all is well. */
export function validateImages(images: readonly ImageResult[], numClasses: number): void {
  if (!Array.isArray(images)) throw new Error('evaluateDetections: images must be an array of {detections, groundTruth}');
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new Error(`evaluateDetections: numClasses must be a positive integer (object classes, background excluded), got ${numClasses}`);
  }
  for (let im = 0; im < images.length; im++) {
    const image = images[im];
    const at = `images[${im}]`;
    if (image == null || typeof image !== 'object') throw new Error(`${at}: expected {detections, groundTruth}, got ${image}`);
    const { detections: det, groundTruth: gt } = image;
    if (det == null || typeof det !== 'object') throw new Error(`${at}.detections: missing (expected {boxes, labels, scores})`);
    if (gt == null || typeof gt !== 'object') throw new Error(`${at}.groundTruth: missing (expected {boxes, labels, difficult?})`);

    const n = checkLabels(`${at}.detections.labels`, det.labels, numClasses);
    checkBoxes(`${at}.detections.boxes`, det.boxes, n, 'labels', true);
    if (det.scores == null || det.scores.length !== n) {
      throw new Error(`${at}.detections.scores: length ${det.scores?.length}, expected labels.length = ${n}`);
    }
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(det.scores[i])) throw new Error(`${at}.detections.scores: score ${i} is ${det.scores[i]}, expected a finite number`);
    }

    const m = checkLabels(`${at}.groundTruth.labels`, gt.labels, numClasses);
    checkBoxes(`${at}.groundTruth.boxes`, gt.boxes, m, 'labels', false);
    for (const field of ['difficult', 'crowd', 'area'] as const) {
      const v = gt[field];
      if (v != null && v.length !== m) throw new Error(`${at}.groundTruth.${field}: length ${v.length}, expected labels.length = ${m}`);
    }
    if (gt.area != null) {
      for (let i = 0; i < m; i++) {
        const a = gt.area[i];
        if (!(Number.isFinite(a) && a >= 0)) throw new Error(`${at}.groundTruth.area: area ${i} is ${a}, expected a finite number >= 0`);
      }
    }
  }
}
