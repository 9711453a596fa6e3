// SSDLite320 with a MobileNetV2 backbone (the MobileNetV2 paper's SSDLite, laid out as torchvision's
// ssdlite320_mobilenet_v3_large): maps at stride 16 (the C4 block's expansion, 576 channels) and 32 (1280
// channels), four extra blocks (1x1 reduce, depthwise 3x3 stride 2, 1x1 expand; BN + ReLU6 after each) down to
// 1x1, and depthwise-separable prediction heads (depthwise 3x3 + BN + ReLU6, then a 1x1 conv with bias).
// At 320 px: maps 20, 10, 5, 3, 2, 1 with 6 priors per position = 3234 priors (torchvision's count).
import type { Tensor } from '../../graph/index.js';
import type { PriorConfig } from '../../boxes/priors.js';
import { NormState } from '../batch-norm.js';
import { ConvBnAct } from '../conv-bn-act.js';
import { checkClassCount, concatPredictions, headMaps, type FeatureMapInfo, type Head, type HeadMap } from '../heads.js';
import { Conv2d, type BuildContext, type HasParameters, type ParameterSpec } from '../layers.js';
import { SSDNetwork, type Backbone } from '../ssd.js';
import { MobileNetV2Features } from './mobilenetv2.js';

/** torchvision's SSDLite batch-norm epsilon, of the layers SSDLite adds (extra blocks, heads). */
const EPS = 1e-3;
/**
 * The MobileNetV2 features keep torchvision mobilenet_v2's own epsilon, 1e-5, the one its ImageNet weights were
 * trained with, so that a pretrained base computes what it computed on ImageNet (with 1e-3 its channels of small
 * running variance come out scaled down). torchvision's SSDLite uses 1e-3 throughout because its MobileNetV3
 * backbone was trained with 1e-3.
 */
const FEATURES_EPS = 1e-5;

/** Map sides for an input of `size` px: size/16, size/32, then stride-2 3x3 convs with padding 1. */
export function ssdliteMapSizes(size: number): number[] {
  const sides = [Math.ceil(size / 16), Math.ceil(size / 32)];
  for (let k = 0; k < 4; k++) sides.push(Math.floor((sides[sides.length - 1]! + 2 - 3) / 2) + 1);
  return sides;
}

/**
 * torchvision's SSDLite priors (DefaultBoxGenerator([[2, 3]] * 6, min_ratio 0.2, max_ratio 0.95)): scales
 * 0.2 .. 0.95 evenly, the extra prior sqrt(s_k s_k+1) (last: sqrt(0.95)), ratios 1, 2, 1/2, 3, 1/3, clipped.
 */
export function ssdlitePriors(inputSize = 320): PriorConfig {
  const m = 6;
  const scales = Array.from({ length: m }, (_, k) => 0.2 + ((0.95 - 0.2) * k) / (m - 1));
  return {
    featureMapSizes: ssdliteMapSizes(inputSize),
    scales,
    aspectRatios: Array.from({ length: m }, () => [1, 2, 0.5, 3, 1 / 3]),
    extraPrior: true,
    clip: true,
    lastExtraScale: Math.sqrt(0.95 * 1.0),
  };
}

/** One SSDLite extra block: 1x1 (out/2) -> depthwise 3x3 stride 2 -> 1x1 (out), each with BN and ReLU6. */
class ExtraBlock implements HasParameters {
  readonly layers: ConvBnAct[];

  constructor(name: string, cin: number, cout: number, state: NormState) {
    const mid = Math.floor(cout / 2);
    this.layers = [
      new ConvBnAct(`${name}.0`, cin, mid, state, { kernel: 1, activation: 'relu6', epsilon: EPS }),
      new ConvBnAct(`${name}.1`, mid, mid, state, { kernel: 3, stride: 2, groups: mid, activation: 'relu6', epsilon: EPS }),
      new ConvBnAct(`${name}.2`, mid, cout, state, { kernel: 1, activation: 'relu6', epsilon: EPS }),
    ];
  }

  parameters(): ParameterSpec[] {
    return this.layers.flatMap((l) => l.parameters());
  }

  build(ctx: BuildContext, x: Tensor): Tensor {
    for (const l of this.layers) x = l.build(ctx, x);
    return x;
  }
}

/** MobileNetV2 features split at the C4 block plus the four extra blocks: six maps. */
export class SSDLiteMobileNetV2Backbone implements Backbone {
  readonly features: MobileNetV2Features;
  readonly extras: ExtraBlock[];
  readonly maps: readonly FeatureMapInfo[];

  constructor(state: NormState, width = 1) {
    this.features = new MobileNetV2Features(state, width, 'backbone.features', FEATURES_EPS);
    const depth = (d: number): number => Math.max(16, Math.floor(d * width)); // torchvision: max(min_depth, int(d * width_mult))
    const outs = [depth(512), depth(256), depth(256), depth(128)];
    let cin = this.features.outChannels;
    this.extras = outs.map((cout, i) => {
      const b = new ExtraBlock(`backbone.extra.${i}`, cin, cout, state);
      cin = cout;
      return b;
    });
    const c4 = this.features.blocks[this.features.c4Index]!;
    this.maps = [
      { name: 'c4_expansion', channels: c4.hidden },
      { name: 'features', channels: this.features.outChannels },
      ...outs.map((channels, i) => ({ name: `extra${i}`, channels })),
    ];
  }

  parameters(): ParameterSpec[] {
    return [...this.features.parameters(), ...this.extras.flatMap((e) => e.parameters())];
  }

  build(ctx: BuildContext, images: Tensor): Tensor[] {
    const [c4, last] = this.features.build(ctx, images);
    const maps = [c4, last];
    let x = last;
    for (const e of this.extras) {
      x = e.build(ctx, x);
      maps.push(x);
    }
    return maps;
  }
}

/**
 * SSDLite's head: per map and per task a depthwise 3x3 conv + BN + ReLU6 and a 1x1 conv with bias to A*4 box
 * offsets or A*K class logits; outputs permuted and concatenated as SSDHead's: locs (N, P, 4), scores (N, P, K).
 */
export class SSDLiteHead implements Head {
  private readonly loc: Array<[ConvBnAct, Conv2d]>;
  private readonly cls: Array<[ConvBnAct, Conv2d]>;

  constructor(
    readonly maps: readonly HeadMap[],
    readonly nClasses: number,
    state: NormState,
  ) {
    checkClassCount('SSDLiteHead', nClasses);
    const block = (task: string, i: number, m: HeadMap, out: number): [ConvBnAct, Conv2d] => [
      new ConvBnAct(`head.${task}.${i}.0`, m.channels, m.channels, state, { kernel: 3, groups: m.channels, activation: 'relu6', epsilon: EPS }),
      new Conv2d(`head.${task}.${i}.1`, m.channels, out, { kernel: 1, weightInit: { kind: 'xavier-uniform' } }),
    ];
    this.loc = maps.map((m, i) => block('regression', i, m, m.priorsPerPosition * 4));
    this.cls = maps.map((m, i) => block('classification', i, m, m.priorsPerPosition * nClasses));
  }

  parameters(): ParameterSpec[] {
    return [...this.cls, ...this.loc].flatMap(([dw, pw]) => [...dw.parameters(), ...pw.parameters()]);
  }

  build(ctx: BuildContext, features: readonly Tensor[]): { locs: Tensor; scores: Tensor } {
    if (features.length !== this.maps.length) throw new Error(`SSDLiteHead: expected ${this.maps.length} feature maps, got ${features.length}`);
    const run = ([dw, pw]: [ConvBnAct, Conv2d], x: Tensor): Tensor => pw.build(ctx, dw.build(ctx, x));
    return {
      locs: concatPredictions(ctx.g, features.map((f, i) => run(this.loc[i]!, f)), 4),
      scores: concatPredictions(ctx.g, features.map((f, i) => run(this.cls[i]!, f)), this.nClasses),
    };
  }
}

/** Options of {@link ssdliteMobileNetV2}. */
export interface SSDLiteOptions {
  /** Input side in pixels, a multiple of 32. Default 320. */
  inputSize?: number;
  /** Width multiplier of the backbone and the extra blocks. Default 1. */
  width?: number;
  /** Prior config; default {@link ssdlitePriors} for the input size. */
  priors?: PriorConfig;
}

/** SSDLite320-MobileNetV2 for `nClasses` classes (background included). */
export function ssdliteMobileNetV2(nClasses: number, options: SSDLiteOptions = {}): SSDNetwork {
  const size = options.inputSize ?? 320;
  if (!Number.isInteger(size) || size < 64 || size % 32 !== 0) throw new Error(`ssdlite320-mobilenetv2: inputSize must be a multiple of 32 from 64, got ${size}`);
  const norm = new NormState();
  const backbone = new SSDLiteMobileNetV2Backbone(norm, options.width ?? 1);
  const priors = options.priors ?? ssdlitePriors(size);
  const head = new SSDLiteHead(headMaps(backbone.maps, priors), nClasses, norm);
  return new SSDNetwork({ architecture: 'ssdlite320-mobilenetv2', backbone, head, priors, inputSize: { width: size, height: size }, norm });
}
