// The model family by name: one entry per model, one way from a name to a config (`modelConfig`) and one from a
// config to its network (`buildNetwork`). `ssd models`, training, `SSD.load` and the demo all go through here.
import { VOC_CLASS_NAMES } from '../../data/voc.js';
import { IMAGENET_NORMALIZATION } from '../../data/normalization.js';
import type { PriorConfig } from '../../boxes/priors.js';
import type { ModelConfig } from '../config.js';
import type { SSDNetwork } from '../ssd.js';
import { ssd300 } from './ssd300.js';
import { ssd512 } from './ssd512.js';
import { ssdliteMobileNetV2 } from './ssdlite.js';
import { ssdTiny } from './ssd-tiny.js';

/** Architecture settings a model takes besides the number of classes (stored in its model config). */
export interface ModelOptions {
  /** Input side in pixels (the models take square inputs). Default: the model's. */
  inputSize?: number;
  /** Channel multiplier of every layer (the paper's networks at 1). Default 1. */
  width?: number;
}

/**
 * The ImageNet classifiers a model's backbone can start from (`pretrainedBase` in training): torchvision's vgg16
 * for the VGG models, its mobilenet_v2 for SSDLite. src/nn/import reads them.
 */
export type PretrainedBaseKind = 'vgg16' | 'mobilenet-v2';

/** One model of the family. */
export interface ModelEntry {
  /** The name `--model` takes and a config's `architecture`, e.g. 'ssd-tiny'. */
  readonly name: string;
  /** One line: backbone, input, what it is for. */
  readonly summary: string;
  /** Default input side in pixels. */
  readonly inputSize: number;
  /** The ImageNet weights its backbone can start from, if any. */
  readonly pretrainedBase?: PretrainedBaseKind;
  /** The network for `nClasses` classes (background included); `priors` default to the model's own. */
  build(nClasses: number, options?: ModelOptions & { priors?: PriorConfig }): SSDNetwork;
}

const entries: ModelEntry[] = [
  {
    name: 'ssd300',
    summary: 'VGG-16 base, 300 px, six maps (the paper and the PyTorch tutorial)',
    inputSize: 300,
    pretrainedBase: 'vgg16',
    build: (n, o = {}) => ssd300(n, o),
  },
  {
    name: 'ssd512',
    summary: 'VGG-16 base, 512 px, seven maps, 24564 priors (the paper)',
    inputSize: 512,
    pretrainedBase: 'vgg16',
    build: (n, o = {}) => ssd512(n, o),
  },
  {
    name: 'ssdlite320-mobilenetv2',
    summary: 'MobileNetV2 (inverted residuals, BN, ReLU6), 320 px, depthwise-separable heads',
    inputSize: 320,
    pretrainedBase: 'mobilenet-v2',
    build: (n, o = {}) => ssdliteMobileNetV2(n, o),
  },
  {
    name: 'ssd-tiny',
    summary: 'ten conv-BN-ReLU layers, 192 px, four maps: trains on a laptop CPU in minutes',
    inputSize: 192,
    build: (n, o = {}) => ssdTiny(n, o),
  },
];

/** Every model of the family by name, in the order `ssd models` lists them. */
export const MODELS: ReadonlyMap<string, ModelEntry> = new Map(entries.map((e) => [e.name, e]));

/** The entry named `name`; the error lists the known names. */
export function modelEntry(name: string): ModelEntry {
  const e = MODELS.get(name);
  if (!e) throw new Error(`unknown model '${name}'; known: ${[...MODELS.keys()].join(', ')}`);
  return e;
}

/**
 * The config of model `name` for `classNames` (objects only, or with 'background' first; default the 20 VOC
 * classes): its input size, its own priors at that size, variances 0.1/0.2, ImageNet normalisation.
 */
export function modelConfig(name: string, classNames: readonly string[] = VOC_CLASS_NAMES, options: ModelOptions = {}): ModelConfig {
  const entry = modelEntry(name);
  const names = classNames[0] === 'background' ? [...classNames] : ['background', ...classNames];
  const size = options.inputSize ?? entry.inputSize;
  const network = entry.build(names.length, { ...options, inputSize: size });
  return {
    architecture: name,
    classNames: names,
    inputSize: { width: size, height: size },
    priors: structuredClone(network.priors),
    variances: { center: 0.1, size: 0.2 },
    normalization: { mean: [...IMAGENET_NORMALIZATION.mean], std: [...IMAGENET_NORMALIZATION.std] },
    ...(options.width !== undefined ? { options: { width: options.width } } : {}),
  };
}

/** The network a config describes: its architecture at its input size and width, with its priors. */
export function buildNetwork(config: ModelConfig): SSDNetwork {
  const { width, height } = config.inputSize;
  if (width !== height) throw new Error(`${config.architecture}: the models take square inputs, the config asks for ${width}x${height}`);
  return modelEntry(config.architecture).build(config.classNames.length, { inputSize: width, width: config.options?.width, priors: config.priors });
}
