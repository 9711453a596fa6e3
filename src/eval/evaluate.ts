// The one entry point of evaluation: detections and ground truth in, mAP and per-class AP out.
import { cocoAveragePrecision, COCO_IOU_THRESHOLDS } from './coco-map.js';
import type { CocoEvaluation, Evaluation, ImageResult, Metric, VocEvaluation } from './types.js';
import { validateImages } from './validate.js';
import { vocAveragePrecision } from './voc-map.js';

export interface EvaluateOptions {
  /**
   * 'voc07': PASCAL VOC2007 11-point AP at IoU > 0.5 (the SSD paper's and the reference's metric);
   * 'voc': VOC2010+ all-point AP (area under the precision envelope) at IoU > 0.5;
   * 'coco': pycocotools' COCOeval for boxes: AP averaged over IoU 0.50:0.05:0.95 (101-point), and
   *   the 12 summary numbers (AP, AP50, AP75, AP by area, AR at 1, 10, 100 detections, AR by area).
   */
  metric: Metric;
  /** Object classes, background not included (20 for Pascal VOC); labels are 1..numClasses. */
  numClasses: number;
  /** Names of classes 1..numClasses (length numClasses). Default 'class 1', 'class 2', ... */
  classNames?: readonly string[];
  /** 'voc07' and 'voc' only: a detection matches when IoU > iouThreshold. Default 0.5. */
  iouThreshold?: number;
  /** 'coco' only: detections kept per image and class, highest score first (AR1 and AR10 cut further). Default 100. */
  maxDets?: number;
}

function mean(values: readonly (number | null)[]): number | null {
  let sum = 0;
  let n = 0;
  for (const v of values) {
    if (v !== null) {
      sum += v;
      n++;
    }
  }
  return n > 0 ? sum / n : null;
}

/**
 * Mean average precision of `images` (one {detections, groundTruth} per image, boxes
 * `[xmin, ymin, xmax, ymax]` in any one scale: fractional or pixels; no "+1 pixel" widths).
 * Classes without ground truth (difficult objects and crowd regions not counted) get AP null and are
 * left out of the mean. For 'coco', detections of equal score in different images rank in `images`
 * order (pycocotools: ascending image id). Throws an Error naming the image, field and item of the
 * first bad input.
 */
export function evaluateDetections(images: readonly ImageResult[], options: EvaluateOptions & { metric: 'coco' }): CocoEvaluation;
export function evaluateDetections(images: readonly ImageResult[], options: EvaluateOptions & { metric: 'voc07' | 'voc' }): VocEvaluation;
export function evaluateDetections(images: readonly ImageResult[], options: EvaluateOptions): Evaluation;
export function evaluateDetections(images: readonly ImageResult[], options: EvaluateOptions): Evaluation {
  const { metric, numClasses, classNames, iouThreshold, maxDets } = options;
  if (metric !== 'voc07' && metric !== 'voc' && metric !== 'coco') {
    throw new Error(`evaluateDetections: metric must be 'voc07', 'voc' or 'coco', got ${JSON.stringify(metric)}`);
  }
  validateImages(images, numClasses);
  if (classNames !== undefined && classNames.length !== numClasses) {
    throw new Error(`evaluateDetections: classNames has ${classNames.length} names, expected numClasses = ${numClasses} (background not included)`);
  }
  const names = classNames ? [...classNames] : Array.from({ length: numClasses }, (_, i) => `class ${i + 1}`);

  if (metric === 'coco') {
    if (iouThreshold !== undefined) {
      throw new Error("evaluateDetections: iouThreshold applies to 'voc07' and 'voc'; 'coco' averages over IoU 0.50:0.05:0.95");
    }
    if (maxDets !== undefined && !(Number.isInteger(maxDets) && maxDets >= 1)) {
      throw new Error(`evaluateDetections: maxDets must be a positive integer, got ${maxDets}`);
    }
    const t = cocoAveragePrecision(images, { numClasses, maxDets });
    const at = (iou: number) => t.apPerIouThreshold[COCO_IOU_THRESHOLDS.findIndex((v) => Math.abs(v - iou) < 1e-9)];
    return {
      metric,
      map: t.summary.ap,
      apPerClass: t.apPerClass,
      classNames: names,
      numGroundTruth: t.numGroundTruth,
      numDetections: t.numDetections,
      curves: t.curves,
      iouThresholds: [...COCO_IOU_THRESHOLDS],
      maxDets: maxDets ?? 100,
      maxDetsSteps: t.maxDetsSteps,
      map50: t.summary.ap50,
      map75: t.summary.ap75,
      ap50PerClass: at(0.5),
      ap75PerClass: at(0.75),
      apPerIouThreshold: t.apPerIouThreshold,
      summary: t.summary,
      summaryPerClass: t.summaryPerClass,
    };
  }

  if (maxDets !== undefined) throw new Error("evaluateDetections: maxDets applies to 'coco' only");
  const threshold = iouThreshold ?? 0.5;
  if (!(threshold >= 0 && threshold < 1)) {
    throw new Error(`evaluateDetections: iouThreshold must be in [0, 1), got ${iouThreshold}`);
  }
  const t = vocAveragePrecision(images, { numClasses, interpolation: metric, iouThreshold: threshold });
  return {
    metric,
    iouThreshold: threshold,
    map: mean(t.apPerClass),
    apPerClass: t.apPerClass,
    classNames: names,
    numGroundTruth: t.numGroundTruth,
    numDetections: t.numDetections,
    curves: t.curves,
  };
}
