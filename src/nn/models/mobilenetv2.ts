// MobileNetV2 (Sandler et al. 2018) as torchvision builds it: a 3x3 stride-2 stem, seventeen inverted residual
// blocks, a 1x1 conv to 1280 channels; batch norm and ReLU6 throughout. Channel counts scale with a width
// multiplier, rounded to multiples of 8 (torchvision's _make_divisible). Names follow torchvision's state_dict:
// `features.<i>.conv.<j>...`, so ImageNet weights map one to one.
import type { Tensor } from '../../graph/index.js';
import { BatchNorm2d, type NormState } from '../batch-norm.js';
import { ConvBnAct } from '../conv-bn-act.js';
import type { BuildContext, HasParameters, ParameterSpec } from '../layers.js';

/** torchvision's _make_divisible: the nearest multiple of `divisor` not below 90% of `v`. */
export function makeDivisible(v: number, divisor = 8, minValue = divisor): number {
  const n = Math.max(minValue, Math.floor((v + divisor / 2) / divisor) * divisor);
  return n < 0.9 * v ? n + divisor : n;
}

/** (expansion t, output channels c, repeats n, first stride s) per stage, as in the paper's Table 2. */
export const MOBILENETV2_SETTINGS: ReadonlyArray<readonly [number, number, number, number]> = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/**
 * An inverted residual block: expand 1x1 + BN + ReLU6 (left out when t = 1), depthwise 3x3 + BN + ReLU6 (stride
 * s), project 1x1 + BN (linear); the input is added back when the stride is 1 and the channels match.
 */
export class InvertedResidual implements HasParameters {
  readonly expand: ConvBnAct | undefined;
  readonly depthwise: ConvBnAct;
  readonly projectWeight: ParameterSpec;
  readonly projectBn: BatchNorm2d;
  readonly residual: boolean;
  readonly hidden: number;

  constructor(
    readonly name: string,
    readonly inChannels: number,
    readonly outChannels: number,
    readonly stride: number,
    expansion: number,
    state: NormState,
    epsilon = 1e-5,
  ) {
    this.hidden = Math.round(inChannels * expansion);
    this.residual = stride === 1 && inChannels === outChannels;
    let j = 0;
    if (expansion !== 1) this.expand = new ConvBnAct(`${name}.conv.${j++}`, inChannels, this.hidden, state, { kernel: 1, activation: 'relu6', epsilon });
    this.depthwise = new ConvBnAct(`${name}.conv.${j++}`, this.hidden, this.hidden, state, { kernel: 3, stride, groups: this.hidden, activation: 'relu6', epsilon });
    this.projectWeight = { name: `${name}.conv.${j++}.weight`, shape: [outChannels, this.hidden, 1, 1], init: { kind: 'xavier-uniform' }, group: 'weight' };
    this.projectBn = new BatchNorm2d(`${name}.conv.${j}`, outChannels, state, epsilon);
  }

  parameters(): ParameterSpec[] {
    return [...(this.expand?.parameters() ?? []), ...this.depthwise.parameters(), this.projectWeight, ...this.projectBn.parameters()];
  }

  /** The expansion's output (N, hidden, H, W): where SSDLite takes its stride-16 map. */
  buildExpansion(ctx: BuildContext, x: Tensor): Tensor {
    return this.expand ? this.expand.build(ctx, x) : x;
  }

  /** From the expansion's output to the block's output (depthwise, projection, residual with `input`). */
  buildRest(ctx: BuildContext, expanded: Tensor, input: Tensor): Tensor {
    const { g } = ctx;
    const depthwise = this.depthwise.build(ctx, expanded);
    const projected = g.scope(this.projectWeight.name.slice(0, -'.weight'.length), () => g.conv2d(depthwise, ctx.param(this.projectWeight)));
    const y = this.projectBn.build(ctx, projected);
    return this.residual ? g.scope(this.name, () => g.add(input, y)) : y;
  }

  build(ctx: BuildContext, x: Tensor): Tensor {
    return this.buildRest(ctx, this.buildExpansion(ctx, x), x);
  }
}

/** The MobileNetV2 feature layers (no classifier): `features.0` (stem) .. `features.18` (1x1 to 1280). */
export class MobileNetV2Features implements HasParameters {
  readonly stem: ConvBnAct;
  readonly blocks: InvertedResidual[] = [];
  readonly last: ConvBnAct;
  /** Channels of the last layer (1280 at width <= 1). */
  readonly outChannels: number;

  constructor(state: NormState, width = 1, prefix = 'backbone.features', epsilon = 1e-5) {
    if (!(width > 0)) throw new Error(`MobileNetV2: width multiplier must be > 0, got ${width}`);
    const first = makeDivisible(32 * width);
    this.outChannels = makeDivisible(1280 * Math.max(1, width));
    this.stem = new ConvBnAct(`${prefix}.0`, 3, first, state, { kernel: 3, stride: 2, activation: 'relu6', epsilon });
    let cin = first, i = 1;
    for (const [t, c, n, s] of MOBILENETV2_SETTINGS) {
      const cout = makeDivisible(c * width);
      for (let k = 0; k < n; k++) {
        this.blocks.push(new InvertedResidual(`${prefix}.${i++}`, cin, cout, k === 0 ? s : 1, t, state, epsilon));
        cin = cout;
      }
    }
    this.last = new ConvBnAct(`${prefix}.${i}`, cin, this.outChannels, state, { kernel: 1, activation: 'relu6', epsilon });
  }

  parameters(): ParameterSpec[] {
    return [...this.stem.parameters(), ...this.blocks.flatMap((b) => b.parameters()), ...this.last.parameters()];
  }

  /** Index in `blocks` of the first block of the stride-32 stage (torchvision's C4 block; 13 = features.14). */
  get c4Index(): number {
    let stride = 2;
    for (let i = 0; i < this.blocks.length; i++) {
      stride *= this.blocks[i]!.stride;
      if (stride === 32) return i;
    }
    throw new Error('MobileNetV2: no stride-32 block');
  }

  /**
   * images (N, 3, H, W) -> [the C4 block's expansion output (stride 16), the last layer's output (stride 32)],
   * the two maps SSDLite predicts on (torchvision's SSDLiteFeatureExtractorMobileNet split).
   */
  build(ctx: BuildContext, images: Tensor): [Tensor, Tensor] {
    let x = this.stem.build(ctx, images);
    const c4 = this.c4Index;
    for (let i = 0; i < c4; i++) x = this.blocks[i]!.build(ctx, x);
    const expanded = this.blocks[c4]!.buildExpansion(ctx, x);
    x = this.blocks[c4]!.buildRest(ctx, expanded, x);
    for (let i = c4 + 1; i < this.blocks.length; i++) x = this.blocks[i]!.build(ctx, x);
    return [expanded, this.last.build(ctx, x)];
  }
}
