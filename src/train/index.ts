// The public names of src/train (`ssd-ts/train`): the training loop and its parts (options, run setup, hooks,
// schedules, the step session, checkpoints, metrics log, report) and evaluating a model on a dataset.
export { train } from './trainer.js';
export type { TrainResult } from './trainer.js';
export { resolveOptions } from './options.js';
export type { TrainOptions, RunOptions, OptimizerName, ScheduleName } from './options.js';
export { openRun, runFiles, lastGood } from './run.js';
export type { TrainingRun, RunFiles } from './run.js';
export { runLoop, runFraction } from './loop.js';
export type { LoopOutcome } from './loop.js';
export { summaryHook, metricsHook, progressHook, evaluationHook, checkpointHook, reportHook, writeFailure } from './hooks.js';
export type { TrainHook, StepEvent, LatestEvaluation } from './hooks.js';
export { NonFiniteLossError } from './errors.js';
export { stepDecaySchedule, cosineSchedule, referenceMilestones } from './schedule.js';
export type { LrSchedule, StepDecaySchedule, StepDecayOptions, CosineOptions } from './schedule.js';
export { StepSession } from './session.js';
export type { StepSessionOptions, StepBatch, StepLosses } from './session.js';
export { saveCheckpoint, loadCheckpoint, removeStaleTemporaries } from './checkpoint.js';
export type { Checkpoint, TrainState, NamedTensor } from './checkpoint.js';
export { MetricsLog, readMetricsLog } from './metrics-log.js';
export type { MetricsRecord, StepRecord, EvalRecord } from './metrics-log.js';
export { writeReport, renderReport } from './report.js';
export type { ReportInput } from './report.js';
export { evaluateModel, evaluateResults, evaluationJson, classMapping } from './evaluate.js';
export type { EvaluateModelOptions, EvaluationDataset, EvaluationJson, ImageDetections, Predictor } from './evaluate.js';
export { cocoResultsOf, detectionsToCocoResults, readCocoResults, resultsNaming, samplesOfFiles } from './coco-results.js';
export type { DetectedImage } from './coco-results.js';
export { Progress, formatProgress, formatDuration } from './progress.js';
export type { ProgressState, ProgressStream } from './progress.js';
