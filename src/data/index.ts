// The public names of src/data (`ssd-ts/data`): dataset readers, decoding, augmentation, the parallel loader,
// normalisation, the seeded generator and the generated shapes dataset.
export { type Sample, type Dataset, type DatasetFormat, type Problem, type ReadOptions, DatasetError, formatProblem } from './types.js';
export { loadDataset, detectFormat, type LoadDatasetOptions } from './dataset.js';
export { loadVoc, VOC_CLASS_NAMES, type VocOptions } from './voc.js';
export { loadCoco, type CocoOptions } from './coco.js';
export { loadYolo, yoloLabelPath, type YoloOptions } from './yolo.js';
export { decodeImage, readImageSize, ImageDecodeError, DEFAULT_MAX_IMAGE_PIXELS, type DecodedImage, type DecodeOptions } from './decode.js';
export { Random, deriveSeed, hashSeed } from './random.js';
export { IMAGENET_NORMALIZATION, type Normalization } from './normalization.js';
export {
  trainTransform, evalTransform, photometricDistort, adjustBrightness, adjustContrast, adjustSaturation, adjustHue,
  randomExpand, randomCrop, flipBoxes, resampleInto, toPlanar, fullWindow, TUTORIAL_MIN_OVERLAPS,
  type PlanarImage, type Targets, type Window, type ResizeOptions, type AugmentOptions,
} from './augment.js';
export {
  generateShapesDataset, renderScene, shapesImageId, SHAPE_CLASSES, DEFAULT_SHAPE_CLASSES,
  type ShapeClass, type SceneOptions, type Scene, type ShapesDatasetOptions, type ShapesDatasetSummary,
} from './synthetic.js';
export { DataLoader, sampleSeed, epochOrder, type DataLoaderOptions, type Batch, type LoaderSample, type SkippedSample } from './loader.js';
export { DEFAULT_MAX_ANNOTATION_FILE_BYTES, DEFAULT_MAX_INDEX_FILE_BYTES } from './text-file.js';
