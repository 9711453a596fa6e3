// SSD300, the paper's and the PyTorch tutorial's network: the VGG-16 base (src/nn/models/vgg.ts) with conv4_3
// L2-normalised, four auxiliary stages, SSD's 3x3 prediction convs on six maps (38, 19, 10, 5, 3, 1) and 8732
// priors. Parameter names are the tutorial's state_dict keys, so its weights map one to one.
import { SSD300_PRIORS, type PriorConfig } from '../../boxes/priors.js';
import { headMaps, SSDHead } from '../heads.js';
import type { Init } from '../init.js';
import { SSDNetwork } from '../ssd.js';
import { VGGFeatureExtractor } from './vgg.js';

/** Options of {@link ssd300}. */
export interface SSD300Options {
  /** Prior config; default SSD300_PRIORS (8732 priors). Its maps must be the network's at the input size. */
  priors?: PriorConfig;
  /** Input side in pixels. Default 300. */
  inputSize?: number;
  /** Channel multiplier of every layer. Default 1, the paper's network. */
  width?: number;
  /** Initialiser of the VGG base convs when training from scratch; default He-uniform. */
  baseInit?: Init;
  /** Each of the paper's channel counts to this network's, instead of `width` (see VGGFeatureExtractorOptions). */
  channels?: (standard: number) => number;
}

/**
 * SSD300 for `nClasses` classes counting the background (21 for Pascal VOC). Initialisation as the tutorial:
 * Xavier-uniform weights and zero biases for the auxiliary and prediction convs, rescale factors 20; the base
 * (which the tutorial loads from ImageNet VGG-16) He-uniform when training from scratch.
 */
export function ssd300(nClasses: number, options: SSD300Options = {}): SSDNetwork {
  const priors = options.priors ?? SSD300_PRIORS;
  const size = options.inputSize ?? 300;
  const backbone = new VGGFeatureExtractor({ baseInit: options.baseInit, width: options.width, channels: options.channels });
  const head = new SSDHead(headMaps(backbone.maps, priors), nClasses);
  return new SSDNetwork({ architecture: 'ssd300', backbone, head, priors, inputSize: { width: size, height: size } });
}
