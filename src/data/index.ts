// The public names of src/data: dataset readers, decoding, augmentation, the seeded generator and
// the generated shapes dataset.
export { type Sample, type Dataset, type DatasetFormat, type Problem, type ReadOptions, DatasetError, formatProblem } from './types.js';
export { loadDataset, detectFormat, type LoadDatasetOptions } from './dataset.js';
export { loadVoc, VOC_CLASSES, type VocOptions } from './voc.js';
export { loadCoco, type CocoOptions } from './coco.js';
export { loadYolo, yoloLabelPath, type YoloOptions } from './yolo.js';
export { decodeImage, readImageSize, type DecodedImage } from './decode.js';
export { Random, deriveSeed, hashSeed } from './random.js';
