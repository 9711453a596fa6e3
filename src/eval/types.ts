// The shapes that go into and come out of evaluation. Boxes are `[xmin, ymin, xmax, ymax]` rows,
// fractional (0..1) or pixels alike: IoU is a ratio of areas, so the scale does not matter, and
// there is no "+1 pixel" convention (a box's width is xmax - xmin), as in the reference.

/** The detections of one image: n boxes with their class and score. */
export interface DetectionSet {
  /**
   * Boxes `[xmin, ymin, xmax, ymax]`, length 4*n. An inverted box (xmax < xmin or ymax < ymin)
   * overlaps nothing and so counts as a false positive, as in the reference; for 'coco' its area
   * (width x height) is negative, outside every area range, and so it is ignored, as in pycocotools.
   */
  boxes: ArrayLike<number>;
  /** Class of each box, 1..numClasses (0 is background and never a detection), length n. */
  labels: ArrayLike<number>;
  /** Confidence of each box (any finite number; only the order matters), length n. */
  scores: ArrayLike<number>;
}

/** The ground truth of one image: m objects. */
export interface GroundTruthSet {
  /** Boxes `[xmin, ymin, xmax, ymax]`, length 4*m, in the same coordinates as the detections. */
  boxes: ArrayLike<number>;
  /** Class of each object, 1..numClasses, length m. */
  labels: ArrayLike<number>;
  /**
   * Per object: truthy if it is "difficult" (VOC). Such an object is not counted in recall, and any
   * number of detections that land on it (ordinary IoU) are neither true nor false positives, under
   * every metric. Length m; omitted means none is difficult.
   */
  difficult?: ArrayLike<number | boolean>;
  /**
   * Per object: truthy if it is a crowd region (COCO `iscrowd`). 'coco' scores it as pycocotools
   * does: a detection's overlap with it is the intersection over the detection's own area, it
   * absorbs any number of detections, which are ignored, and ordinary objects are matched first.
   * The VOC metrics treat it as difficult. Length m; omitted means none is a crowd region.
   */
  crowd?: ArrayLike<number | boolean>;
  /**
   * Per object: its area in the boxes' units squared, which puts it in COCO's small / medium / large
   * ranges (COCO's own `area` field is the segmentation's area, smaller than the box's). Length m;
   * omitted means the box area. Only 'coco' reads it, and only pixel boxes make its ranges meaningful.
   */
  area?: ArrayLike<number>;
}

/** One image's detections next to its ground truth. An image with no objects or no detections is legal. */
export interface ImageResult {
  detections: DetectionSet;
  groundTruth: GroundTruthSet;
}

/** The metrics {@link evaluateDetections} computes. */
export type Metric = 'voc07' | 'voc' | 'coco';

/**
 * A precision-recall curve of one class: one point per ranked detection (detections on difficult
 * objects left out), highest score first. `recall[k]` and `precision[k]` hold after the first k+1
 * detections, whose lowest score is `scores[k]`. Empty when the class has no detections.
 */
export interface PrCurve {
  recall: Float64Array;
  precision: Float64Array;
  scores: Float64Array;
}

/** What every metric reports. Arrays are indexed by class - 1 (index 0 is class 1). */
export interface EvaluationBase {
  metric: Metric;
  /** Mean of the non-null `apPerClass`; null when no class has ground truth. */
  map: number | null;
  /** AP of each class 1..numClasses; null means the class has no ground truth (difficult and crowd not counted). */
  apPerClass: (number | null)[];
  /** Names of classes 1..numClasses (`classNames` as given, else 'class 1', 'class 2', ...). */
  classNames: string[];
  /** Ground-truth objects per class that are neither difficult nor crowd regions (the recall denominators). */
  numGroundTruth: number[];
  /** Detections per class that took part (for 'coco', after the maxDets cut). */
  numDetections: number[];
  /** Precision-recall curve per class for plotting (for 'coco', at IoU 0.50); null where the AP is null. */
  curves: (PrCurve | null)[];
}

/** VOC results: one IoU threshold, 11-point ('voc07') or all-point ('voc') interpolation. */
export interface VocEvaluation extends EvaluationBase {
  metric: 'voc07' | 'voc';
  /** A detection matches when IoU > iouThreshold (strictly). */
  iouThreshold: number;
}

/**
 * pycocotools' 12 summary numbers (COCOeval.stats, in that order). AP is averaged over the IoU
 * thresholds 0.50:0.95 unless named for one; AR is the recall reached, averaged over the same
 * thresholds. Areas in pixels²: small < 32², medium 32²..96², large > 96² (bounds in both).
 * null where pycocotools prints -1: no class has ground truth in that range.
 */
export interface CocoSummary {
  /** AP, all areas, maxDets[2] (100) detections per image and class. */
  ap: number | null;
  ap50: number | null;
  ap75: number | null;
  apSmall: number | null;
  apMedium: number | null;
  apLarge: number | null;
  /** AR at maxDets[0], [1], [2] (1, 10, 100) detections per image and class, all areas. */
  ar1: number | null;
  ar10: number | null;
  ar100: number | null;
  /** AR at maxDets[2] by area. */
  arSmall: number | null;
  arMedium: number | null;
  arLarge: number | null;
}

/** COCO results: AP averaged over IoU thresholds, plus AP at 0.50 and 0.75. */
export interface CocoEvaluation extends EvaluationBase {
  metric: 'coco';
  /** The IoU thresholds averaged over (0.50, 0.55, ..., 0.95); a match needs IoU >= threshold. */
  iouThresholds: number[];
  /** Detections kept per image and class, highest score first (as pycocotools' maxDets[2]). */
  maxDets: number;
  /** pycocotools' maxDets: the detections per image and class that AR1, AR10 and AR100 allow: [1, 10, maxDets]. */
  maxDetsSteps: [number, number, number];
  /** The 12 numbers pycocotools' summarize() prints; map, map50, map75 are its ap, ap50, ap75. */
  summary: CocoSummary;
  /** The same 12 numbers for each class alone (index c - 1). */
  summaryPerClass: CocoSummary[];
  /** mAP at IoU 0.50 and 0.75; null when no class has ground truth. */
  map50: number | null;
  map75: number | null;
  /** Per class AP at IoU 0.50 and 0.75 (null as in apPerClass). */
  ap50PerClass: (number | null)[];
  ap75PerClass: (number | null)[];
  /** Per IoU threshold, per class AP: apPerIouThreshold[t][c - 1]. */
  apPerIouThreshold: (number | null)[][];
}

export type Evaluation = VocEvaluation | CocoEvaluation;
