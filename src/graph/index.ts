// The graph engine: build networks as ONNX graphs in TypeScript, differentiate them, run them on ONNX Runtime.
//
// Additions to the contract (GRAPH_API.md); names and meanings there are kept:
// - `pad` options are [top, left, bottom, right] (ONNX's order) or one number.
// - Extra ops: convTranspose2d, tanh, reciprocal, sign, maximum, minimum, lessOrEqual, greaterOrEqual, and, or,
//   not, identity, argMax, unsqueeze, squeeze, slice, split, shapeOf, sizeOf, expand, zerosLike, scatterND,
//   zeros, scalar, custom (an unchecked raw ONNX node), scope (node name prefixes), clone, origin, tensor, nodes.
// - averagePool takes { countIncludePad } (default false, ONNX's default; PyTorch's default is true).
// - reshape also accepts a run-time shape tensor (with the declared result shape).
// - scatterElements takes an optional reduction ('add' for scatter-add).
// - toModelProto/toBytes take { parameters: 'initializers' | 'inputs', values } (default: initializers, init values).
// - gradients(g, loss, wrt, opts?) takes { convWeightGrad, convInputGrad, im2colChunkBytes } (defaults 'auto').
// - InferenceRunner.create(g, params?, opts?) - params may be omitted (the parameters' init values are used).
// - The training session is TrainingSession (in runtime.ts; also importable from trainer.ts). Its options are
//   SgdOptions & RuntimeOptions (+ `optimization`, the ORT graph optimisation level, default 'basic'; `gradients`).
//   step() returns every scalar output of the forward graph, plus 'grad_norm' when clipGradNorm is set.
// - RuntimeOptions.threads also sets interOpNumThreads to 1.
export type { AttrValue, ConstantData, Dim, DType, GraphNode, Parameter, Tensor, TensorData, TypedArray } from './types.js';
export { numel, fmtShape, ONNX_TYPE } from './types.js';
export { Graph } from './builder.js';
export type { BatchNormOptions, Conv2dOptions, Pool2dOptions, TensorEntry, TensorKind } from './builder.js';
export { toModelProto, toBytes, liveNodes, OPSET, ONNX } from './onnx.js';
export type { SerializeOptions, onnx } from './onnx.js';
export { InferenceRunner } from './runtime.js';
export type { RuntimeOptions } from './runtime.js';
export { gradients } from './autodiff.js';
export type { GradientOptions } from './autodiff.js';
export { GRADIENTS, IM2COL_CHUNK_BYTES, ruleFor, unbroadcast } from './gradients.js';
export type { GradContext, GradRule, ConvInputGradMethod, ConvWeightGradMethod } from './gradients.js';
export { buildTrainingGraph, momentumName, nextName, LR_INPUT, GRAD_NORM_OUTPUT } from './sgd.js';
export type { SgdOptions } from './sgd.js';
export { TrainingSession } from './runtime.js';
export type { TrainingOptions } from './runtime.js';
