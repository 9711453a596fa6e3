// PyTorch weights into ssd-ts models: the tutorial's checkpoints, state_dicts, torchvision's ssd300_vgg16 and the
// ImageNet backbones training starts from (VGG-16, MobileNetV2).
export { importTorchWeights, readTorchTensors, detectSource, convert, ssd300ParameterShapes, IMPORT_SOURCES, type ImportSource, type ImportResult, type ImportOptions, type ParameterShape, type Extracted } from './torch-weights.js';
export { loadPretrainedBase, pretrainedBaseModels, ssd300BaseParameterShapes, PRETRAINED_BASES, type PretrainedBaseInfo } from './pretrained-base.js';
export { convertMobileNetV2, mobilenetV2BaseShapes, type BaseConversion } from './mobilenet-v2.js';
export { decimate } from './decimate.js';
export { TORCHVISION_COCO_CLASSES, TORCHVISION_SSD300_PRIORS, TORCHVISION_SSD_NORMALIZATION } from './torchvision.js';
export { writeImported, BASE_FILE_KIND } from './write.js';
