// ssd-ts: the Single Shot MultiBox Detector for TypeScript. The root holds what most programs need - a model to
// load, train, evaluate and export, its config, and the errors to catch; everything else is in the subpaths:
// `ssd-ts/nn`, `ssd-ts/train`, `ssd-ts/data`, `ssd-ts/eval`, `ssd-ts/boxes`, `ssd-ts/graph`, `ssd-ts/io`,
// `ssd-ts/serve`, `ssd-ts/draw`, `ssd-ts/demo`, `ssd-ts/predict`.
export { SSD } from './nn/model.js';
export type { Detection, DetectOptions, ImageInput, LoadOptions, OnnxModelSource, PreparedImage } from './nn/model.js';
export { MODELS, modelConfig } from './nn/models/index.js';
export type { ModelOptions } from './nn/models/index.js';
export type { ModelConfig } from './nn/config.js';
export { exportOnnx, exportOnnxFile } from './nn/export.js';
export type { ExportOptions } from './nn/export.js';
export { quantizeModel, quantizeModelFile } from './nn/quantize/index.js';
export type { QuantizeOptions, QuantizeFileOptions, QuantizeResult } from './nn/quantize/index.js';
export { train } from './train/trainer.js';
export type { TrainResult } from './train/trainer.js';
export type { TrainOptions } from './train/options.js';
export { evaluateModel } from './train/evaluate.js';
export type { EvaluateModelOptions } from './train/evaluate.js';
export type { Evaluation, Metric } from './eval/types.js';
export { loadDataset } from './data/dataset.js';
export type { Dataset, Sample } from './data/types.js';
export { NonFiniteLossError } from './train/errors.js';
export { DatasetError } from './data/types.js';
