// Post-training int8 quantization (`ssd quantize`): calibration, range methods, batch-norm folding, the QDQ
// writer and the per-layer report.
export { quantizeModel, quantizableLayers, DEFAULT_MAX_LAYER_ERROR, DEFAULT_METHOD, DEFAULT_PERCENTILE, QUANTIZATION_KEY } from './quantize.js';
export type { QuantizeOptions, QuantizeResult, QuantizedLayer } from './quantize.js';
export { quantizeModelFile, defaultInt8File } from './quantize-file.js';
export type { QuantizeFileOptions, QuantizeFileResult } from './quantize-file.js';
export { calibrationImages, pickCalibrationFiles } from './images.js';
export type { CalibrationImages, CalibrationProgress } from './calibrate.js';
export { RANGE_METHODS, TensorObserver, percentileThreshold, entropyThreshold } from './observers.js';
export type { RangeMethod } from './observers.js';
export { activationQuant, quantizeUint8, dequantizeUint8, quantizeWeights, dequantizeWeights, quantizeBias, roundHalfEven } from './quantize-math.js';
export type { ActivationQuant, ChannelQuantized } from './quantize-math.js';
export { foldBatchNorm } from './fold-batch-norm.js';
export type { LayerReport, QuantizeReport } from './report.js';
