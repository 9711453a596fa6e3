// Box math of SSD: priors (and how well they fit a dataset), formats, IoU, offset coding, matching, NMS and detection
// post-processing.
export { SSD300_PRIORS, generatePriors, priorCount, priorsPerLocation } from './priors.js';
export type { PriorConfig } from './priors.js';
export { xyToCxcy, cxcyToXy } from './convert.js';
export { iouMatrix, boxIou, iouOfCorners } from './iou.js';
export { BoxCoder } from './coder.js';
export type { BoxCoderOptions, Variances } from './coder.js';
export { Matcher } from './match.js';
export type { MatcherOptions, MatchResult, MatchOutput } from './match.js';
export { nms, nmsSorted, sortByScoreDesc } from './nms.js';
export { DetectionPostprocessor, detectObjects } from './detect.js';
export type { PostprocessOptions, DetectionArrays } from './detect.js';
export { validateBoxesXy, validateBoxesCxcy, validateLabels } from './validate.js';
export type { BoxCheckOptions } from './validate.js';
export { PriorGrid } from './prior-grid.js';
export { measurePriorFit, fitSummary, fitObjects, bestPriors, quantile, GOOD_PRIOR_FIT } from './prior-fit.js';
export type { FitImage, PriorFit, PriorFitOptions, PriorFitSummary, MapFit, UnreachedObject } from './prior-fit.js';
export { suggestPriors, niceRatio } from './prior-suggest.js';
export type { PriorSuggestion, SuggestOptions, Quantiles } from './prior-suggest.js';
