// The VGG-16 base of SSD300, modified as in the paper and the PyTorch tutorial: pool3 rounds up (75 -> 38),
// pool5 is 3x3 stride 1 pad 1 (keeps 19x19), fc6/fc7 become conv6 (3x3, dilation 6, pad 6, 1024 channels)
// and conv7 (1x1, 1024 channels). Parameter names follow the reference: `base.conv1_1.weight`, ...
import type { Tensor } from '../../graph/index.js';
import type { Init } from '../init.js';
import { AuxiliaryConvs, SSD300_AUXILIARY, type AuxiliaryStage } from './auxiliary.js';
import { L2Norm } from './l2norm.js';
import { Conv2d, convRelu, maxPool, type BuildContext, type HasParameters, type ParameterSpec } from '../layers.js';
import type { FeatureMapInfo } from '../heads.js';
import type { Backbone } from '../ssd.js';

/** The two feature maps the base hands on: conv4_3 (N, 512, 38, 38) and conv7 (N, 1024, 19, 19) for a 300x300 input, both after ReLU. */
export interface VggFeatures {
  conv4_3: Tensor;
  conv7: Tensor;
}

/** VGG-16 convolutions conv1_1 .. conv5_3 with the SSD changes, then conv6 and conv7. */
export class VGG16Base implements HasParameters {
  readonly convs: Record<string, Conv2d>;
  /** Channels of the maps `build` returns (512 and 1024 at width 1). */
  readonly outChannels: { conv4_3: number; conv7: number };

  /**
   * @param prefix name prefix of the parameters ('base' in the reference state_dict)
   * @param weightInit initialiser of the conv weights when training from scratch (the tutorial loads
   *   ImageNet VGG-16 weights instead; He-uniform suits the ReLU stack); biases start at zero.
   * @param c each of VGG-16's channel counts (64 .. 1024) to this network's (narrower bases let tests train
   *   SSD512 at its full input); default VGG-16's own
   */
  constructor(prefix = 'base', weightInit: Init = { kind: 'he-uniform' }, c: (standard: number) => number = (n) => n) {
    const spec: Array<[string, number, number, Partial<{ pad: number; dilation: number; kernel: number }>]> = [
      ['conv1_1', 3, c(64), {}], ['conv1_2', c(64), c(64), {}],
      ['conv2_1', c(64), c(128), {}], ['conv2_2', c(128), c(128), {}],
      ['conv3_1', c(128), c(256), {}], ['conv3_2', c(256), c(256), {}], ['conv3_3', c(256), c(256), {}],
      ['conv4_1', c(256), c(512), {}], ['conv4_2', c(512), c(512), {}], ['conv4_3', c(512), c(512), {}],
      ['conv5_1', c(512), c(512), {}], ['conv5_2', c(512), c(512), {}], ['conv5_3', c(512), c(512), {}],
      ['conv6', c(512), c(1024), { pad: 6, dilation: 6 }], // atrous fc6
      ['conv7', c(1024), c(1024), { kernel: 1, pad: 0 }], // fc7
    ];
    this.outChannels = { conv4_3: c(512), conv7: c(1024) };
    this.convs = {};
    for (const [name, cin, cout, o] of spec) {
      this.convs[name] = new Conv2d(`${prefix}.${name}`, cin, cout, { kernel: o.kernel ?? 3, pad: o.pad ?? 1, dilation: o.dilation ?? 1, weightInit });
    }
  }

  parameters(): ParameterSpec[] {
    return Object.values(this.convs).flatMap((c) => c.parameters());
  }

  /** images (N, 3, H, W) -> conv4_3 and conv7 feature maps. */
  build(ctx: BuildContext, images: Tensor): VggFeatures {
    const c = this.convs;
    const cr = (name: string, x: Tensor): Tensor => convRelu(ctx, c[name]!, x);
    let x = cr('conv1_2', cr('conv1_1', images));
    x = maxPool(ctx, x, { kernel: 2, stride: 2 });
    x = cr('conv2_2', cr('conv2_1', x));
    x = maxPool(ctx, x, { kernel: 2, stride: 2 });
    x = cr('conv3_3', cr('conv3_2', cr('conv3_1', x)));
    x = maxPool(ctx, x, { kernel: 2, stride: 2, ceilMode: true }); // 75 -> 38, not 37
    const conv4_3 = cr('conv4_3', cr('conv4_2', cr('conv4_1', x)));
    x = maxPool(ctx, conv4_3, { kernel: 2, stride: 2 });
    x = cr('conv5_3', cr('conv5_2', cr('conv5_1', x)));
    x = maxPool(ctx, x, { kernel: 3, stride: 1, pad: 1 }); // keeps 19x19
    const conv7 = cr('conv7', cr('conv6', x));
    return { conv4_3, conv7 };
  }
}

/** Options of {@link VGGFeatureExtractor}. */
export interface VGGFeatureExtractorOptions {
  /** The auxiliary stages after conv7. Default SSD300's four; SSD512 has five. */
  extras?: readonly AuxiliaryStage[];
  /** Initialiser of the VGG base convs when training from scratch. Default He-uniform. */
  baseInit?: Init;
  /** Channel multiplier of every layer (1 is the paper's network). Default 1. */
  width?: number;
  /**
   * Each of the paper's channel counts (64, 128, 256, 512, 1024) to this network's, instead of `width`: reduced
   * networks of another shape, such as the test fixtures of `ssd import`. Head outputs never scale.
   */
  channels?: (standard: number) => number;
}

/**
 * The VGG feature extractor of SSD300 and SSD512 (torchvision's SSDFeatureExtractorVGG): the VGG-16 base, conv4_3
 * L2-normalised with learned per-channel scales (`rescale_factors`, initially 20), and the auxiliary
 * convolutions. SSD300's six maps for a 300x300 input: conv4_3 38x38x512, conv7 19x19x1024, conv8_2 10x10x512,
 * conv9_2 5x5x256, conv10_2 3x3x256, conv11_2 1x1x256. Parameters in the reference order: rescale_factors,
 * base.*, aux_convs.*.
 */
export class VGGFeatureExtractor implements Backbone {
  readonly base: VGG16Base;
  readonly l2norm: L2Norm;
  readonly extras: AuxiliaryConvs;
  readonly maps: readonly FeatureMapInfo[];

  constructor(options: VGGFeatureExtractorOptions = {}) {
    const width = options.width ?? 1;
    const base = options.channels ?? ((n: number) => (width === 1 ? n : Math.max(4, Math.round(n * width))));
    const auxiliary = options.channels ?? ((n: number) => Math.max(8, Math.round(n * width)));
    this.base = new VGG16Base('base', options.baseInit, base);
    this.l2norm = new L2Norm('rescale_factors', this.base.outChannels.conv4_3, 20);
    this.extras = new AuxiliaryConvs('aux_convs', this.base.outChannels.conv7, options.extras ?? SSD300_AUXILIARY, auxiliary);
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
