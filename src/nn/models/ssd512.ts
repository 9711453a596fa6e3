// SSD512: the paper's 512 x 512 model. The same VGG-16 base as SSD300 (conv4_3 64x64 L2-normalised, conv7 32x32),
// five extra stages instead of four (the seventh map, conv12_2, from a 4x4 convolution), and the prediction convs
// on seven maps: 64, 32, 16, 8, 4, 2, 1, with 4, 6, 6, 6, 6, 4, 4 priors per position = 24564 priors.
// Configuration as the Caffe original and ssd.pytorch's SSD512: min sizes 35.84 ... 460.8 px, max sizes 76.8 ...
// 537.65 px, aspect ratios {2} or {2, 3}, clipped.
import type { PriorConfig } from '../../boxes/priors.js';
import { headMaps, SSDHead } from '../heads.js';
import type { Init } from '../init.js';
import { SSDNetwork } from '../ssd.js';
import type { AuxiliaryStage } from './auxiliary.js';
import { VGGFeatureExtractor } from './vgg.js';

const MIN_SIZES = [35.84, 76.8, 153.6, 230.4, 307.2, 384.0, 460.8];
const LAST_MAX_SIZE = 537.65;

/**
 * SSD512's priors: scale_k = min_size_k / 512, the extra square prior sqrt(min_k * max_k) / 512 with
 * max_k = min_{k+1} (and 537.65 for the last map); per position [1, extra, 2, 1/2(, 3, 1/3)] (ssd.pytorch's order).
 */
export const SSD512_PRIORS: PriorConfig = Object.freeze({
  featureMapSizes: [64, 32, 16, 8, 4, 2, 1],
  scales: MIN_SIZES.map((s) => s / 512),
  aspectRatios: [[1, 2, 0.5], [1, 2, 0.5, 3, 1 / 3], [1, 2, 0.5, 3, 1 / 3], [1, 2, 0.5, 3, 1 / 3], [1, 2, 0.5, 3, 1 / 3], [1, 2, 0.5], [1, 2, 0.5]],
  extraPrior: true,
  clip: true,
  lastExtraScale: Math.sqrt(460.8 * LAST_MAX_SIZE) / 512,
}) as PriorConfig;

/** SSD512's extra stages, 32 -> 16 -> 8 -> 4 -> 2 -> 1 (the last a 4x4 convolution). */
export const SSD512_AUXILIARY: readonly AuxiliaryStage[] = [
  [256, 512, 3, 2, 1],
  [128, 256, 3, 2, 1],
  [128, 256, 3, 2, 1],
  [128, 256, 3, 2, 1],
  [128, 256, 4, 1, 1],
];

/** Options of {@link ssd512}. */
export interface SSD512Options {
  /** Prior config; default SSD512_PRIORS. */
  priors?: PriorConfig;
  /** Input side in pixels. Default 512. */
  inputSize?: number;
  /** Initialiser of the VGG base convs when training from scratch. Default He-uniform. */
  baseInit?: Init;
  /**
   * Channel multiplier of every layer. Default 1, the paper's network; a small one (e.g. 1/16) keeps the
   * architecture, input and priors for quick tests of training at 512 px on a CPU.
   */
  width?: number;
}

/** SSD512 (VGG-16, 512 x 512, 24564 priors) for `nClasses` classes, background included. */
export function ssd512(nClasses: number, options: SSD512Options = {}): SSDNetwork {
  const priors = options.priors ?? SSD512_PRIORS;
  const size = options.inputSize ?? 512;
  const backbone = new VGGFeatureExtractor({ extras: SSD512_AUXILIARY, baseInit: options.baseInit, width: options.width });
  const head = new SSDHead(headMaps(backbone.maps, priors), nClasses);
  return new SSDNetwork({ architecture: 'ssd512', backbone, head, priors, inputSize: { width: size, height: size } });
}
