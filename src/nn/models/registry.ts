// The model family by name: each entry builds the network for a number of classes and describes it, so that
// `ssd models`, the demo and (once registered in zoo.ts/config.ts) `SSD.load` can make any of them.
import { IMAGENET_NORMALIZATION, type ModelConfig } from '../config.js';
import type { SSDNetwork } from '../ssd.js';
import { ssd300 } from '../zoo.js';
import { ssd512 } from './ssd512.js';
import { ssdliteMobileNetV2 } from './ssdlite-mobilenetv2.js';
import { ssdTiny } from './ssd-tiny.js';

/** Architecture settings a zoo model takes besides the number of classes (stored in its model config). */
export interface ZooModelOptions {
  /** Input side in pixels (the models take square inputs). Default: the entry's. */
  inputSize?: number;
  /** Channel multiplier of every layer (the paper's networks at 1). Default 1. */
  width?: number;
}

/** One model of the family. */
export interface ZooEntry {
  /** The name `--model` takes, e.g. 'ssd-tiny'. */
  readonly name: string;
  /** One line: backbone, input, what it is for. */
  readonly summary: string;
  /** Default input side in pixels. */
  readonly inputSize: number;
  /** The network for `nClasses` classes (background included). */
  build(nClasses: number, options?: ZooModelOptions): SSDNetwork;
}

/** A model config for any zoo model: {@link ModelConfig} with the architecture's name and settings. */
export interface ZooModelConfig extends Omit<ModelConfig, 'architecture'> {
  architecture: string;
  /** The settings the network was built with (width multiplier, ...). */
  options?: ZooModelOptions;
}

const entries: ZooEntry[] = [
  {
    name: 'ssd300',
    summary: 'VGG-16 base, 300 px, six maps (the paper and the PyTorch tutorial)',
    inputSize: 300,
    build: (n) => ssd300(n),
  },
  {
    name: 'ssd512',
    summary: 'VGG-16 base, 512 px, seven maps, 24564 priors (the paper)',
    inputSize: 512,
    build: (n, o = {}) => ssd512(n, { width: o.width }),
  },
  {
    name: 'ssdlite320-mobilenetv2',
    summary: 'MobileNetV2 (inverted residuals, BN, ReLU6), 320 px, depthwise-separable heads',
    inputSize: 320,
    build: (n, o = {}) => ssdliteMobileNetV2(n, { inputSize: o.inputSize, width: o.width }),
  },
  {
    name: 'ssd-tiny',
    summary: 'ten conv-BN-ReLU layers, 192 px, four maps: trains on a laptop CPU in minutes',
    inputSize: 192,
    build: (n, o = {}) => ssdTiny(n, { inputSize: o.inputSize, width: o.width }),
  },
];

/** Every model of the family by name, in the order `ssd models` lists them. */
export const ZOO_MODELS: ReadonlyMap<string, ZooEntry> = new Map(entries.map((e) => [e.name, e]));

/** The entry named `name`; the error lists the known names. */
export function zooEntry(name: string): ZooEntry {
  const e = ZOO_MODELS.get(name);
  if (!e) throw new Error(`unknown model '${name}'; known: ${[...ZOO_MODELS.keys()].join(', ')}`);
  return e;
}

/** The network a zoo model config describes. */
export function buildZooNetwork(config: ZooModelConfig): SSDNetwork {
  const options = { ...config.options, inputSize: config.inputSize.width };
  return zooEntry(config.architecture).build(config.classNames.length, options);
}

/**
 * The config of zoo model `name` for `classNames` (objects only, or with 'background' first): input size,
 * the network's own priors, variances 0.1/0.2, ImageNet normalisation.
 */
export function zooModelConfig(name: string, classNames: readonly string[], options: ZooModelOptions = {}): ZooModelConfig {
  const entry = zooEntry(name);
  const names = classNames[0] === 'background' ? [...classNames] : ['background', ...classNames];
  const size = options.inputSize ?? entry.inputSize;
  const network = entry.build(names.length, { ...options, inputSize: size });
  return {
    architecture: name,
    classNames: names,
    inputSize: { width: size, height: size },
    priors: structuredClone(network.priors),
    variances: { center: 0.1, size: 0.2 },
    normalization: structuredClone(IMAGENET_NORMALIZATION),
    options: { ...options, inputSize: size },
  };
}
