// What a model file says about its model besides the weights: enough to rebuild the network, make its priors,
// prepare an image and name what it finds. Stored as JSON in the safetensors metadata under `ssd.config`.
import { SSD300_PRIORS, priorsPerLocation, type PriorConfig } from '../boxes/priors.js';
import type { Variances } from '../boxes/coder.js';

/**
 * The name of a network of the model family: 'ssd300' (zoo.ts) or one of src/nn/models/registry.ts
 * ('ssd512', 'ssdlite320-mobilenetv2', 'ssd-tiny', ...). `networkFromConfig` builds it; an unknown name is an
 * error there that lists the known ones.
 */
export type Architecture = string;

/** Per-channel normalisation of RGB values scaled to [0, 1]: (x - mean) / std. */
export interface Normalization {
  mean: [number, number, number];
  std: [number, number, number];
}

/** Everything needed to rebuild a model around its weights. */
export interface ModelConfig {
  architecture: Architecture;
  /** Class names by index; index 0 is the background ('background'). nClasses = classNames.length. */
  classNames: string[];
  /** Network input size in pixels; images are resized to it (no letterboxing, as SSD300 is trained). */
  inputSize: { width: number; height: number };
  priors: PriorConfig;
  /** Offset encoding variances (default 0.1 / 0.2, the tutorial's 10 and 5). */
  variances: Variances;
  normalization: Normalization;
  /** Architecture settings the network was built with (family members other than SSD300). */
  options?: { inputSize?: number; width?: number };
}

/** ImageNet statistics, which the VGG-16 base (and the tutorial) expects. */
export const IMAGENET_NORMALIZATION: Normalization = Object.freeze({
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
}) as Normalization;

/** The 20 Pascal VOC classes in the standard order (the reference's 1..20), with background at 0. */
export const VOC_CLASSES: readonly string[] = Object.freeze([
  'background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
  'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor',
]);

/**
 * The SSD300 config for `classNames` (objects only, or with 'background' first; it is added when missing).
 * Default: the 20 VOC classes.
 */
export function ssd300Config(classNames: readonly string[] = VOC_CLASSES.slice(1)): ModelConfig {
  const names = classNames[0] === 'background' ? [...classNames] : ['background', ...classNames];
  const config: ModelConfig = {
    architecture: 'ssd300',
    classNames: names,
    inputSize: { width: 300, height: 300 },
    priors: structuredClone(SSD300_PRIORS),
    variances: { center: 0.1, size: 0.2 },
    normalization: structuredClone(IMAGENET_NORMALIZATION),
  };
  validateConfig(config);
  return config;
}

/**
 * Checks a config (for instance one read from a file); errors name `source` and the field that is wrong.
 * Returns the config typed, so `validateConfig(JSON.parse(text), file)` reads one.
 */
export function validateConfig(value: unknown, source = 'model config'): ModelConfig {
  const fail = (field: string, what: string): never => {
    throw new Error(`${source}: ${field} ${what}`);
  };
  if (typeof value !== 'object' || value === null) fail('', 'is not an object');
  const c = value as Partial<ModelConfig>;
  if (typeof c.architecture !== 'string' || c.architecture === '') fail('architecture', `must be a model name such as 'ssd300', got ${JSON.stringify(c.architecture)}`);
  if (!Array.isArray(c.classNames) || c.classNames.length < 2 || !c.classNames.every((n) => typeof n === 'string')) {
    fail('classNames', 'must be an array of at least 2 strings (background first)');
  }
  const size = c.inputSize;
  if (!size || !Number.isInteger(size.width) || !Number.isInteger(size.height) || size.width < 1 || size.height < 1) {
    fail('inputSize', `must be {width, height} in whole pixels, got ${JSON.stringify(size)}`);
  }
  const p = c.priors;
  if (!p || !Array.isArray(p.featureMapSizes) || !Array.isArray(p.scales) || !Array.isArray(p.aspectRatios)) {
    fail('priors', 'must hold featureMapSizes, scales and aspectRatios arrays');
  }
  const v = c.variances;
  if (!v || !(v.center > 0) || !(v.size > 0)) fail('variances', `must be {center, size} > 0, got ${JSON.stringify(v)}`);
  const nm = c.normalization;
  const triple = (a: unknown): boolean => Array.isArray(a) && a.length === 3 && a.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (!nm || !triple(nm.mean) || !triple(nm.std) || !nm.std.every((s) => s > 0)) {
    fail('normalization', 'must be {mean: [r, g, b], std: [r, g, b]} with std > 0');
  }
  if (c.architecture === 'ssd300') {
    const expect = SSD300_PRIORS.featureMapSizes;
    if (p!.featureMapSizes.length !== expect.length || p!.featureMapSizes.some((s, k) => s !== expect[k])) {
      fail('priors.featureMapSizes', `is [${p!.featureMapSizes}], but SSD300's feature maps are [${expect}]`);
    }
    const per = priorsPerLocation(p!);
    const expectPer = priorsPerLocation(SSD300_PRIORS);
    if (per.some((n, k) => n !== expectPer[k])) fail('priors.aspectRatios', `give [${per}] priors per position, SSD300's heads predict [${expectPer}]`);
    if (size!.width !== 300 || size!.height !== 300) fail('inputSize', `is ${size!.width}x${size!.height}; SSD300 takes 300x300`);
  }
  return c as ModelConfig;
}
