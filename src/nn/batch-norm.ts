// Batch normalisation, PyTorch's BatchNorm2d, with the three ways a network's graph can use it:
// - 'train': normalise with the batch statistics (the training graph). The running statistics are buffers, not
//   part of that graph, so the optimizer never touches them.
// - 'eval': normalise with the running statistics `<name>.running_mean` / `<name>.running_var` (detection).
// - 'calibrate': normalise with the batch statistics and also hand each layer's batch mean and (unbiased)
//   variance out as graph outputs; `calibrateBatchNorm` averages them over training batches to set the running
//   statistics ("precise BN", as Detectron's PreciseBN), since a training session keeps no running state.
import type { Tensor } from '../graph/index.js';
import type { BuildContext, HasParameters, ParameterSpec } from './layers.js';

/** How batch-norm layers normalise in the graph being built (see the file header). */
export type NormMode = 'train' | 'eval' | 'calibrate';

/**
 * The mode all batch-norm layers of one network share while a graph is built, and in 'calibrate' mode the
 * statistics they emitted: [layer name, batch mean (C), batch variance (C)] in build order. A network owns one
 * and sets its mode around each build (SSDNetwork's graph methods), so layers never decide it themselves.
 */
export class NormState {
  mode: NormMode = 'eval';
  readonly emitted: Array<{ name: string; mean: Tensor; variance: Tensor }> = [];
}

/**
 * Batch normalisation over channels, PyTorch's BatchNorm2d: `<name>.weight` (1), `<name>.bias` (0) and the buffers
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
    this.runningMean = { name: `${name}.running_mean`, shape: [channels], init: { kind: 'zeros' }, group: 'weight', buffer: true };
    this.runningVar = { name: `${name}.running_var`, shape: [channels], init: { kind: 'constant', value: 1 }, group: 'weight', buffer: true };
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
