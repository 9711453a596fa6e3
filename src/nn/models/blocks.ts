// Layers the model family shares beyond SSD300's: convolutions without bias followed by batch norm and an
// activation (ReLU or ReLU6), depthwise convolutions (groups = channels), and the batch-norm mode switch.
//
// Batch norm has three modes, one per graph a network is built into:
// - 'train': normalise with the batch statistics (the training graph). The running statistics are not part of
//   that graph, so SGD never touches them.
// - 'eval': normalise with the running statistics `<name>.running_mean` / `<name>.running_var` (detection).
// - 'calibrate': normalise with the batch statistics and also hand each layer's batch mean and (unbiased)
//   variance out as graph outputs; `calibrateBatchNorm` averages them over training batches to set the running
//   statistics ("precise BN", as Detectron's PreciseBN), since a training session keeps no running state.
import type { Tensor } from '../../graph/index.js';
import type { Init } from '../init.js';
import type { BuildContext, HasParameters, ParameterSpec } from '../layers.js';

/** How batch-norm layers normalise in the graph being built (see the file header). */
export type NormMode = 'train' | 'eval' | 'calibrate';

/**
 * The mode all batch-norm layers of one network share, and in 'calibrate' mode the statistics they
 * emitted while building: [layer name, batch mean (C), batch variance (C)] in build order.
 */
export class NormState {
  mode: NormMode = 'eval';
  readonly emitted: Array<{ name: string; mean: Tensor; variance: Tensor }> = [];
}

/** Suffixes of the batch-norm statistics: stored in model files, never trained. */
export const RUNNING_MEAN = '.running_mean';
export const RUNNING_VAR = '.running_var';

/** True for a running statistic of batch norm (a buffer, not a trainable parameter). */
export function isBuffer(name: string): boolean {
  return name.endsWith(RUNNING_MEAN) || name.endsWith(RUNNING_VAR);
}

/**
 * Batch normalisation over channels, PyTorch's BatchNorm2d: `<name>.weight` (1), `<name>.bias` (0),
 * `<name>.running_mean` (0), `<name>.running_var` (1); epsilon 1e-5 (torchvision's SSDLite uses 1e-3: settable).
 */
export class BatchNorm2d implements HasParameters {
  readonly weight: ParameterSpec;
  readonly bias: ParameterSpec;
  readonly runningMean: ParameterSpec;
  readonly runningVar: ParameterSpec;

  constructor(
    readonly name: string,
    readonly channels: number,
    readonly state: NormState,
    readonly epsilon = 1e-5,
  ) {
    this.weight = { name: `${name}.weight`, shape: [channels], init: { kind: 'constant', value: 1 }, group: 'weight' };
    this.bias = { name: `${name}.bias`, shape: [channels], init: { kind: 'zeros' }, group: 'bias' };
    // Buffers: listed so that model files hold them; only 'eval' graphs read them.
    this.runningMean = { name: `${name}${RUNNING_MEAN}`, shape: [channels], init: { kind: 'zeros' }, group: 'weight' };
    this.runningVar = { name: `${name}${RUNNING_VAR}`, shape: [channels], init: { kind: 'constant', value: 1 }, group: 'weight' };
  }

  parameters(): ParameterSpec[] {
    return [this.weight, this.bias, this.runningMean, this.runningVar];
  }

  /** (N, C, H, W) -> (N, C, H, W); the nodes are named under this layer's name (see ConvBnAct.build). */
  build(ctx: BuildContext, x: Tensor): Tensor {
    return ctx.g.scope(this.name, () => this.buildOps(ctx, x));
  }

  private buildOps(ctx: BuildContext, x: Tensor): Tensor {
    const { g } = ctx;
    const scale = ctx.param(this.weight);
    const shift = ctx.param(this.bias);
    const mode = this.state.mode;
    if (mode === 'eval') {
      return g.batchNorm(x, scale, shift, ctx.param(this.runningMean), ctx.param(this.runningVar), { training: false, epsilon: this.epsilon }).y;
    }
    // Batch statistics. With momentum 1 the "running" outputs are this batch's mean and unbiased variance.
    const zeros = g.constant(new Float32Array(this.channels), { shape: [this.channels] });
    const r = g.batchNorm(x, scale, shift, zeros, zeros, { training: true, momentum: 1, epsilon: this.epsilon });
    if (mode === 'calibrate') this.state.emitted.push({ name: this.name, mean: r.runningMean!, variance: r.runningVar! });
    return r.y;
  }
}

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
 * Convolution without bias (BN follows), batch norm, activation: torchvision's Conv2dNormActivation.
 * Names: `<name>.0.weight` (out, in/groups, k, k) and `<name>.1.*` for the batch norm, as torchvision numbers them.
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

/** A plain convolution with bias and optional groups (a prediction conv after a depthwise one). */
export class BiasedConv implements HasParameters {
  readonly weight: ParameterSpec;
  readonly bias: ParameterSpec;
  readonly pad: number;

  constructor(
    readonly name: string,
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    options: { pad?: number; weightInit?: Init } = {},
  ) {
    this.pad = options.pad ?? (kernel - 1) / 2;
    this.weight = { name: `${name}.weight`, shape: [outChannels, inChannels, kernel, kernel], init: options.weightInit ?? { kind: 'xavier-uniform' }, group: 'weight' };
    this.bias = { name: `${name}.bias`, shape: [outChannels], init: { kind: 'zeros' }, group: 'bias' };
  }

  parameters(): ParameterSpec[] {
    return [this.weight, this.bias];
  }

  build(ctx: BuildContext, x: Tensor): Tensor {
    return ctx.g.scope(this.name, () => ctx.g.conv2d(x, ctx.param(this.weight), ctx.param(this.bias), { pad: this.pad }));
  }
}
