// The model family beyond SSD300: factories, the registry by name, batch-norm layers and calibration.
export { ZOO_MODELS, zooEntry, zooModelConfig, buildZooNetwork, type ZooEntry, type ZooModelConfig, type ZooModelOptions } from './registry.js';
export { ssd512, SSD512_PRIORS, type SSD512Options } from './ssd512.js';
export { ssdliteMobileNetV2, ssdlitePriors, SSDLiteHead, type SSDLiteOptions } from './ssdlite-mobilenetv2.js';
export { MobileNetV2Features, InvertedResidual, makeDivisible } from './mobilenetv2.js';
export { ssdTiny, ssdTinyPriors, type SsdTinyOptions } from './ssd-tiny.js';
export { ZooNetwork } from './network.js';
export { BatchNorm2d, ConvBnAct, NormState, isBuffer, type NormMode } from './blocks.js';
export { calibrateBatchNorm, type ImageBatch } from './calibrate.js';
