// The building blocks of networks: parameter declarations that exist without a graph (so a model can list,
// initialise, save and load its weights), and layers that add their ops to a Graph when built.
import type { Graph, Tensor } from '../graph/index.js';
import { Random } from '../data/random.js';
import { initialValue, type Init } from './init.js';

/** Optimizer group of a parameter: biases train at twice the base learning rate in the SSD recipe. */
export type ParameterGroup = 'weight' | 'bias';

/**
 * A tensor as a model declares it: its full name (the state_dict key), shape, initialiser and optimizer group.
 * `buffer` marks state that model files hold but training never steps (batch-norm running statistics, as
 * PyTorch's registered buffers).
 */
export interface ParameterSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: Init;
  readonly group: ParameterGroup;
  readonly buffer?: boolean;
}

/** Parameter values by name (the state_dict), float32, row-major in the declared shape. */
export type Weights = ReadonlyMap<string, Float32Array>;

/**
 * What layers build into: the graph, and the values of the parameters.
 * `param` adds a parameter to the graph once (later calls with the same name return the same tensor).
 */
export class BuildContext {
  private readonly created = new Map<string, Tensor>();

  constructor(
    readonly g: Graph,
    readonly weights: Weights,
    /** Convolutions that read the same input run as one, their weights stacked (SSDHead's box and class convs):
     *  in a training graph one input gradient and one im2col then serve both. Off for inference and export
     *  graphs, whose layers keep one Conv per parameter (what quantization and the exported file name). */
    readonly fuseSiblingConvs = false,
  ) {}

  /** The graph tensor of `spec`, with its value from `weights`; errors name the parameter. */
  param(spec: ParameterSpec): Tensor {
    const have = this.created.get(spec.name);
    if (have) return have;
    const value = this.weights.get(spec.name);
    if (!value) throw new Error(`parameter '${spec.name}': no value given (weights hold ${this.weights.size} tensors)`);
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (value.length !== n) throw new Error(`parameter '${spec.name}': expected ${n} values for shape [${spec.shape}], got ${value.length}`);
    const t = this.g.parameter(spec.name, [...spec.shape], value, { group: spec.group });
    this.created.set(spec.name, t);
    return t;
  }
}

/** Anything that owns parameters. */
export interface HasParameters {
  /** Every parameter, in state_dict order. */
  parameters(): ParameterSpec[];
}

/** Initial values for every parameter of `specs`, in order, drawn from one generator seeded with `seed`. */
export function initWeights(specs: readonly ParameterSpec[], seed = 0): Map<string, Float32Array> {
  const rng = new Random(seed);
  const out = new Map<string, Float32Array>();
  for (const s of specs) {
    if (out.has(s.name)) throw new Error(`parameter '${s.name}' is declared twice`);
    out.set(s.name, initialValue(s.shape, s.init, rng));
  }
  return out;
}

/** Options of a 2-D convolution; defaults: stride 1, pad 0, dilation 1, He-uniform weight, zero bias. */
export interface Conv2dOptions {
  kernel: number;
  stride?: number;
  pad?: number;
  dilation?: number;
  weightInit?: Init;
  biasInit?: Init;
}

/** A 2-D convolution with bias, weights (out, in, k, k) as PyTorch lays them out; names `<name>.weight`, `<name>.bias`. */
export class Conv2d implements HasParameters {
  readonly weight: ParameterSpec;
  readonly bias: ParameterSpec;
  readonly stride: number;
  readonly pad: number;
  readonly dilation: number;

  constructor(
    readonly name: string,
    readonly inChannels: number,
    readonly outChannels: number,
    opts: Conv2dOptions,
  ) {
    this.stride = opts.stride ?? 1;
    this.pad = opts.pad ?? 0;
    this.dilation = opts.dilation ?? 1;
    this.weight = { name: `${name}.weight`, shape: [outChannels, inChannels, opts.kernel, opts.kernel], init: opts.weightInit ?? { kind: 'he-uniform' }, group: 'weight' };
    this.bias = { name: `${name}.bias`, shape: [outChannels], init: opts.biasInit ?? { kind: 'zeros' }, group: 'bias' };
  }

  parameters(): ParameterSpec[] {
    return [this.weight, this.bias];
  }

  /** (N, in, H, W) -> (N, out, H', W'). */
  build(ctx: BuildContext, x: Tensor): Tensor {
    return ctx.g.scope(this.name, () => ctx.g.conv2d(x, ctx.param(this.weight), ctx.param(this.bias), { stride: this.stride, pad: this.pad, dilation: this.dilation }));
  }
}

/** Conv2d followed by ReLU. */
export function convRelu(ctx: BuildContext, conv: Conv2d, x: Tensor): Tensor {
  return ctx.g.relu(conv.build(ctx, x));
}

/** Options of a max pooling; `ceilMode` rounds the output size up (SSD's pool3: 75 -> 38). */
export interface MaxPoolOptions {
  kernel: number;
  stride: number;
  pad?: number;
  ceilMode?: boolean;
}

/** Max pooling, (N, C, H, W) -> (N, C, H', W'). */
export function maxPool(ctx: BuildContext, x: Tensor, o: MaxPoolOptions): Tensor {
  return ctx.g.maxPool(x, { kernel: o.kernel, stride: o.stride, pad: o.pad ?? 0, ceilMode: o.ceilMode ?? false });
}

/**
 * Zero weights for building a graph only to read its shapes: views of one zero-filled buffer the size of the
 * largest tensor, so even SSD512 costs one buffer (and untouched zero pages).
 */
export function placeholderWeights(specs: readonly ParameterSpec[]): Weights {
  const size = (s: ParameterSpec): number => s.shape.reduce((a, b) => a * b, 1);
  const zeros = new Float32Array(Math.max(0, ...specs.map(size)));
  return new Map(specs.map((s) => [s.name, zeros.subarray(0, size(s))]));
}
