// Convolution without bias, batch norm and an activation: torchvision's Conv2dNormActivation, the unit the light
// models (ssd-tiny, MobileNetV2, SSDLite's heads) are made of. Dense, or depthwise with groups = channels.
import type { Tensor } from '../graph/index.js';
import { BatchNorm2d, type NormState } from './batch-norm.js';
import type { Init } from './init.js';
import type { BuildContext, HasParameters, ParameterSpec } from './layers.js';

/** The activation after a conv + BN. */
export type Activation = 'relu' | 'relu6' | 'none';

/** Options of {@link ConvBnAct}. */
export interface ConvBnActOptions {
  kernel: number;
  stride?: number;
  /** Default (kernel - 1) / 2, "same" for odd kernels at stride 1. */
  pad?: number;
  /** 1 = dense; = in channels = depthwise. Default 1. */
  groups?: number;
  /** Default 'relu'. */
  activation?: Activation;
  /** Weight initialiser. Default He-uniform (the activations are ReLU-like). */
  weightInit?: Init;
  /** Batch-norm epsilon. Default 1e-5. */
  epsilon?: number;
}

/**
 * Convolution without bias (BN follows), batch norm, activation. Names: `<name>.0.weight` (out, in/groups, k, k)
 * and `<name>.1.*` for the batch norm, as torchvision numbers them.
 */
export class ConvBnAct implements HasParameters {
  readonly weight: ParameterSpec;
  readonly bn: BatchNorm2d;
  readonly stride: number;
  readonly pad: number;
  readonly groups: number;
  readonly activation: Activation;

  constructor(
    readonly name: string,
    readonly inChannels: number,
    readonly outChannels: number,
    state: NormState,
    readonly options: ConvBnActOptions,
  ) {
    this.groups = options.groups ?? 1;
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new Error(`${name}: channels ${inChannels} -> ${outChannels} are not divisible by groups ${this.groups}`);
    }
    this.stride = options.stride ?? 1;
    this.pad = options.pad ?? (options.kernel - 1) / 2;
    this.activation = options.activation ?? 'relu';
    const k = options.kernel;
    this.weight = { name: `${name}.0.weight`, shape: [outChannels, inChannels / this.groups, k, k], init: options.weightInit ?? { kind: 'he-uniform' }, group: 'weight' };
    this.bn = new BatchNorm2d(`${name}.1`, outChannels, state, options.epsilon);
  }

  parameters(): ParameterSpec[] {
    return [this.weight, ...this.bn.parameters()];
  }

  /**
   * (N, in, H, W) -> (N, out, H', W'). Nodes are named after the module they belong to, as torchvision numbers a
   * Conv2dNormActivation (`<name>.0/Conv_12`, `<name>.1/ReduceMean_13`, `<name>.2/Clip_20`), so an ONNX Runtime
   * profile can be summed per layer.
   */
  build(ctx: BuildContext, x: Tensor): Tensor {
    const { g } = ctx;
    const conv = g.scope(`${this.name}.0`, () => g.conv2d(x, ctx.param(this.weight), undefined, { stride: this.stride, pad: this.pad, groups: this.groups }));
    const y = this.bn.build(ctx, conv);
    if (this.activation === 'none') return y;
    return g.scope(`${this.name}.2`, () => (this.activation === 'relu' ? g.relu(y) : g.relu6(y)));
  }
}
