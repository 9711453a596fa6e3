// ssd-tiny: an SSD small enough to train on a laptop CPU in minutes. Ten conv + batch norm + ReLU layers: four
// stages to stride 16 (stride 2 each, VGG-like but narrow), two extra stages (1x1 reduce, 3x3), and SSD's 3x3
// prediction convs on four maps.
// At the default 192 px input: maps 24, 12, 6 and 4 with 4 priors per position, 3088 priors.
import type { Tensor } from '../../graph/index.js';
import type { PriorConfig } from '../../boxes/priors.js';
import { NormState } from '../batch-norm.js';
import { ConvBnAct } from '../conv-bn-act.js';
import { headMaps, SSDHead, type FeatureMapInfo } from '../heads.js';
import type { BuildContext, ParameterSpec } from '../layers.js';
import { SSDNetwork, type Backbone } from '../ssd.js';

/** Options of {@link ssdTiny}. */
export interface SsdTinyOptions {
  /** Input side in pixels, a multiple of 32 from 96. Default 192. */
  inputSize?: number;
  /** Channel multiplier of every layer (base widths 16, 32, 64, 128). Default 1. */
  width?: number;
  /** Prior config; default {@link ssdTinyPriors} for the input size. */
  priors?: PriorConfig;
}

/** Side of each feature map for an input of `size` px: size/8, size/16, size/32, then 3x3 (or 1x1 when size/32 < 3). */
export function ssdTinyMapSizes(size: number): number[] {
  const s32 = size / 32;
  return [size / 8, size / 16, s32, s32 >= 3 ? s32 - 2 : 1];
}

/**
 * The priors of ssd-tiny: scales 0.1, 0.2, 0.375, 0.55 (extra square prior up to 0.75), aspect ratios 1, 2, 1/2
 * on every map (4 priors per position). The shapes data set's objects span 0.1 to 0.45 of the image side.
 */
export function ssdTinyPriors(inputSize = 192): PriorConfig {
  return {
    featureMapSizes: ssdTinyMapSizes(inputSize),
    scales: [0.1, 0.2, 0.375, 0.55],
    aspectRatios: [[1, 2, 0.5], [1, 2, 0.5], [1, 2, 0.5], [1, 2, 0.5]],
    extraPrior: true,
    clip: true,
    lastExtraScale: 0.75,
  };
}

/** The ssd-tiny feature extractor: conv-BN-ReLU stages to 1/16 (maps 0 and 1), then two extra stages (maps 2 and 3). */
export class TinyBackbone implements Backbone {
  readonly stages: ConvBnAct[][];
  readonly maps: readonly FeatureMapInfo[];
  /** After which stage each feature map is taken. */
  private readonly tapAfter: number[];

  constructor(state: NormState, inputSize: number, width = 1) {
    const c = (n: number): number => Math.max(8, Math.round(n * width));
    const cbr = (name: string, cin: number, cout: number, kernel: number, stride = 1, pad?: number): ConvBnAct =>
      new ConvBnAct(`backbone.${name}`, cin, cout, state, { kernel, stride, pad });
    this.stages = [
      [cbr('stem', 3, c(16), 3, 2)], // 1/2
      [cbr('conv2', c(16), c(32), 3, 2)], // 1/4
      [cbr('conv3_1', c(32), c(64), 3, 2), cbr('conv3_2', c(64), c(64), 3)], // 1/8: map 0
      [cbr('conv4_1', c(64), c(128), 3, 2), cbr('conv4_2', c(128), c(128), 3)], // 1/16: map 1
      [cbr('conv5_1', c(128), c(64), 1), cbr('conv5_2', c(64), c(128), 3, 2)], // 1/32: map 2
    ];
    const last = inputSize / 32 >= 3;
    // 3x3 without padding (5 -> 3), as SSD300's conv10_2; a 1x1 map comes from a full-size kernel.
    this.stages.push([cbr('conv6_1', c(128), c(64), 1), last ? cbr('conv6_2', c(64), c(128), 3, 1, 0) : cbr('conv6_2', c(64), c(128), inputSize / 32, 1, 0)]);
    this.tapAfter = [2, 3, 4, 5];
    this.maps = [
      { name: 'conv3_2', channels: c(64) },
      { name: 'conv4_2', channels: c(128) },
      { name: 'conv5_2', channels: c(128) },
      { name: 'conv6_2', channels: c(128) },
    ];
  }

  parameters(): ParameterSpec[] {
    return this.stages.flat().flatMap((l) => l.parameters());
  }

  build(ctx: BuildContext, images: Tensor): Tensor[] {
    const out: Tensor[] = [];
    let x = images;
    this.stages.forEach((stage, i) => {
      for (const layer of stage) x = layer.build(ctx, x);
      if (this.tapAfter.includes(i)) out.push(x);
    });
    return out;
  }
}

/**
 * ssd-tiny for `nClasses` classes (background included): {@link TinyBackbone} at `inputSize` (default 192),
 * SSD's 3x3 prediction head, {@link ssdTinyPriors}. 0.61 M parameters and 0.1 GMAC at 192 px for 5 classes.
 */
export function ssdTiny(nClasses: number, options: SsdTinyOptions = {}): SSDNetwork {
  const size = options.inputSize ?? 192;
  if (!Number.isInteger(size) || size < 96 || size % 32 !== 0) throw new Error(`ssd-tiny: inputSize must be a multiple of 32 from 96, got ${size}`);
  const priors = options.priors ?? ssdTinyPriors(size);
  const norm = new NormState();
  const backbone = new TinyBackbone(norm, size, options.width ?? 1);
  const head = new SSDHead(headMaps(backbone.maps, priors), nClasses, 'head');
  return new SSDNetwork({ architecture: 'ssd-tiny', backbone, head, priors, inputSize: { width: size, height: size }, norm });
}
