// PyTorch weights into ssd-ts models: the tutorial's checkpoints, state_dicts, torchvision's ssd300_vgg16 and the
// ImageNet VGG-16 base.
export { importTorchWeights, detectSource, convert, ssd300ParameterShapes, IMPORT_SOURCES, type ImportSource, type ImportResult, type ImportOptions, type ParameterShape } from './torch-weights.js';
export { loadPretrainedBase, ssd300BaseParameterShapes } from './pretrained-base.js';
export { decimate } from './decimate.js';
export { TORCHVISION_COCO_CLASSES, TORCHVISION_SSD300_PRIORS, TORCHVISION_SSD_NORMALIZATION } from './torchvision.js';
export { writeImported, BASE_FILE_KIND } from './write.js';
