// The graph engine: build networks as ONNX graphs in TypeScript (builder), differentiate them (the gradient
// table and the reverse walk), and run them on ONNX Runtime: forward passes, and whole training steps with an
// optimizer's update in the same graph.
export type { AttrValue, ConstantData, Dim, DType, GraphNode, GraphView, Parameter, Tensor, TensorData, TypedArray } from './types.js';
export { numel, fmtShape, ONNX_TYPE } from './types.js';
export { Graph } from './builder.js';
export type { BatchNormOptions, Conv2dOptions, Pool2dOptions, TensorEntry, TensorKind } from './builder.js';
export { toModelProto, toBytes, liveNodes, OPSET, ONNX } from './onnx.js';
export type { SerializeOptions, onnx } from './onnx.js';
export { gradients } from './autodiff.js';
export type { GradientOptions } from './autodiff.js';
export { GRADIENTS, ruleFor, unbroadcast } from './gradients.js';
export type { GradContext, GradRule } from './gradients.js';
export { IM2COL_CHUNK_BYTES, chooseConvGradients, convGeometry } from './conv-gradients.js';
export type { ConvGeometry } from './conv-gradients.js';
export type { ConvGradientOptions, ConvInputGradMethod, ConvWeightGradMethod } from './grad-context.js';
export { SGD, AdamW, stateName, nextName, directionName } from './optim/index.js';
export type { Optimizer, ParameterUpdate, SGDOptions, AdamWOptions } from './optim/index.js';
export { buildTrainingGraph, buildTrainingGraphWithOutputs, LR_INPUT, GRAD_NORM_OUTPUT } from './training-graph.js';
export type { TrainingGraphOptions, UpdateUnit } from './training-graph.js';
export { InferenceRunner, sessionOptions, collectGarbage, readProfile } from './runtime.js';
export type { ProfileEvent, RuntimeOptions } from './runtime.js';
export { TrainingSession } from './training-session.js';
export { nchwcBlock } from './nchwc-block.js';
export { NCHWC_DOMAIN } from './nchwc.js';
export type { TrainingOptions } from './training-session.js';
export { GraphEditor, decodeModel, encodeModel, modelMetadata, floatValues, initializer, int64, tensorDims, TensorType } from './onnx-edit.js';
