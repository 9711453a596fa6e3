// Public names of src/eval: mean average precision (VOC2007 11-point, VOC2010+ all-point, COCO).
export { evaluateDetections } from './evaluate.js';
export type { EvaluateOptions } from './evaluate.js';
export { formatEvaluation } from './format.js';
export { allPointAp, cocoInterpolatedAp, COCO_RECALL_THRESHOLDS, elevenPointAp } from './interpolate.js';
export { COCO_IOU_THRESHOLDS } from './coco-map.js';
export type {
  CocoEvaluation,
  DetectionSet,
  Evaluation,
  EvaluationBase,
  GroundTruthSet,
  ImageResult,
  Metric,
  PrCurve,
  VocEvaluation,
} from './types.js';
