// Public names of src/eval: mean average precision (VOC2007 11-point, VOC2010+ all-point, COCO).
export { evaluateDetections } from './evaluate.js';
export type { EvaluateOptions } from './evaluate.js';
export { cocoSummaryLines, formatEvaluation } from './format.js';
export { allPointAp, cocoInterpolatedAp, COCO_RECALL_THRESHOLDS, elevenPointAp } from './interpolate.js';
export { COCO_AREA_RANGES, COCO_IOU_THRESHOLDS } from './coco-map.js';
export { parseCocoResults, toCocoResults } from './results-file.js';
export type { CocoResult, ParsedDetections, ResultsNaming } from './results-file.js';
export type {
  CocoEvaluation,
  CocoSummary,
  DetectionSet,
  Evaluation,
  EvaluationBase,
  GroundTruthSet,
  ImageResult,
  Metric,
  PrCurve,
  VocEvaluation,
} from './types.js';
