// SSD512: the paper's 512 x 512 model. The same VGG-16 base as SSD300 (conv4_3 64x64 L2-normalised, conv7 32x32),
// five extra stages instead of four (the seventh map, conv12_2, from a 4x4 convolution), and the prediction convs
// on seven maps: 64, 32, 16, 8, 4, 2, 1, with 4, 6, 6, 6, 6, 4, 4 priors per position = 24564 priors.
// Configuration as the Caffe original and ssd.pytorch's SSD512: min sizes 35.84 ... 460.8 px, max sizes 76.8 ...
// 537.65 px, aspect ratios {2} or {2, 3}, clipped.
import type { Tensor } from '../../graph/index.js';
import { priorsPerLocation, type PriorConfig } from '../../boxes/priors.js';
import { AuxiliaryConvs, type AuxiliaryStage } from '../auxiliary.js';
import type { BuildContext, ParameterSpec } from '../layers.js';
import { SSDHead } from '../heads.js';
import type { Init } from '../init.js';
import { L2Norm } from '../l2norm.js';
import type { Backbone, FeatureMapInfo } from '../ssd.js';
import { VGG16Base } from '../vgg.js';
import { ZooNetwork } from './network.js';

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
const EXTRAS_512: readonly AuxiliaryStage[] = [
  [256, 512, 3, 2, 1],
  [128, 256, 3, 2, 1],
  [128, 256, 3, 2, 1],
  [128, 256, 3, 2, 1],
  [128, 256, 4, 1, 1],
];

/** SSD512's feature extractor: VGG-16 base (as SSD300's), L2Norm on conv4_3, five auxiliary stages. */
export class VGG512FeatureExtractor implements Backbone {
  readonly base: VGG16Base;
  readonly l2norm: L2Norm;
  readonly extras: AuxiliaryConvs;
  readonly maps: readonly FeatureMapInfo[];

  constructor(options: SSD512Options = {}) {
    this.base = new VGG16Base('base', options.baseInit, options.width ?? 1);
    this.l2norm = new L2Norm('rescale_factors', this.base.outChannels.conv4_3, 20);
    this.extras = new AuxiliaryConvs('aux_convs', this.base.outChannels.conv7, EXTRAS_512, options.width ?? 1);
    this.maps = [
      { name: 'conv4_3', channels: this.base.outChannels.conv4_3 },
      { name: 'conv7', channels: this.base.outChannels.conv7 },
      ...this.extras.outChannels.map((channels, i) => ({ name: `conv${8 + i}_2`, channels })),
    ];
  }

  parameters(): ParameterSpec[] {
    return [...this.l2norm.parameters(), ...this.base.parameters(), ...this.extras.parameters()];
  }

  build(ctx: BuildContext, images: Tensor): Tensor[] {
    const { conv4_3, conv7 } = this.base.build(ctx, images);
    return [this.l2norm.build(ctx, conv4_3), conv7, ...this.extras.build(ctx, conv7)];
  }
}

/** Options of {@link ssd512}. */
export interface SSD512Options {
  /** Initialiser of the VGG base convs when training from scratch. Default He-uniform. */
  baseInit?: Init;
  /**
   * Channel multiplier of every layer. Default 1, the paper's network; a small one (e.g. 1/16) keeps the
   * architecture, input and priors for quick tests of training at 512 px on a CPU.
   */
  width?: number;
}

/** SSD512 (VGG-16, 512 x 512, 24564 priors) for `nClasses` classes, background included. */
export function ssd512(nClasses: number, options: SSD512Options = {}): ZooNetwork {
  const backbone = new VGG512FeatureExtractor(options);
  const per = priorsPerLocation(SSD512_PRIORS);
  const head = new SSDHead(backbone.maps.map((m, i) => ({ name: m.name, channels: m.channels, priorsPerPosition: per[i]! })), nClasses);
  return new ZooNetwork({ architecture: 'ssd512', backbone, head, priors: SSD512_PRIORS, inputSize: { width: 512, height: 512 } });
}
