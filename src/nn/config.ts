// What a model file says about its model besides the weights: enough to rebuild the network, make its priors,
// prepare an image and name what it finds. Stored as JSON in the safetensors metadata under `ssd.config`.
import type { PriorConfig } from '../boxes/priors.js';
import type { Variances } from '../boxes/coder.js';
import type { Normalization } from '../data/normalization.js';

/** Everything needed to rebuild a model around its weights. */
export interface ModelConfig {
  /** The model's name in the family ('ssd300', 'ssd512', 'ssdlite320-mobilenetv2', 'ssd-tiny'; `ssd models`). */
  architecture: string;
  /** Class names by index; index 0 is the background ('background'). nClasses = classNames.length. */
  classNames: string[];
  /** Network input size in pixels; images are resized to it (no letterboxing, as SSD300 is trained). */
  inputSize: { width: number; height: number };
  priors: PriorConfig;
  /** Offset encoding variances (default 0.1 / 0.2, the tutorial's 10 and 5). */
  variances: Variances;
  normalization: Normalization;
  /** Architecture settings besides the input size (a channel width multiplier). */
  options?: { width?: number };
}

/** The largest input side a model config may ask for: beyond it one image's activations alone exceed memory. */
export const MAX_INPUT_SIDE = 2048;

/**
 * Checks a config's fields (for instance one read from a file); errors name `source` and the field that is wrong.
 * Returns the config typed, so `validateConfig(JSON.parse(text), file)` reads one. Whether the network and the
 * priors fit each other is checked when the network is built (src/nn/models/index.ts buildNetwork).
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
  const side = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= MAX_INPUT_SIDE;
  if (!size || !side(size.width) || !side(size.height)) {
    fail('inputSize', `must be {width, height} in whole pixels from 1 to ${MAX_INPUT_SIDE}, got ${JSON.stringify(size)}`);
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
  const width = c.options?.width;
  if (width !== undefined && !(typeof width === 'number' && width > 0 && width <= 16)) fail('options.width', `must be a number in (0, 16], got ${JSON.stringify(width)}`);
  return c as ModelConfig;
}
