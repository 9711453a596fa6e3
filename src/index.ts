// The public API of ssd-ts. Each area exports its own names; this file gathers them.

// Models: load, detect, save; build networks; the MultiBox loss.
export { SSD, CONFIG_KEY } from './nn/model.js';
export type { Detection, DetectOptions, ImageInput, ModelOptions, PreparedImage } from './nn/model.js';
export { ssd300Config, validateConfig, IMAGENET_NORMALIZATION, VOC_CLASSES } from './nn/config.js';
export type { Architecture, ModelConfig, Normalization } from './nn/config.js';
export { ssd300, networkFromConfig } from './nn/zoo.js';
export type { SSD300Options } from './nn/zoo.js';
export { SSDNetwork } from './nn/ssd.js';
export type { Backbone, FeatureMapInfo, ForwardGraph, LossGraph, SSDParts } from './nn/ssd.js';
export { SSDHead } from './nn/heads.js';
export type { HeadMap } from './nn/heads.js';
export { multiboxLoss } from './nn/loss.js';
export type { LocLossKind, MultiBoxLossOptions, MultiBoxLossTerms, MultiBoxTargets } from './nn/loss.js';
export { matchBatch } from './nn/targets.js';
export type { BatchTargets, ImageObjects } from './nn/targets.js';
export { BuildContext, Conv2d, initWeights } from './nn/layers.js';
export type { ParameterSpec, ParameterGroup, Weights } from './nn/layers.js';
export type { Init } from './nn/init.js';
