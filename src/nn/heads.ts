// The prediction convolutions of SSD: on each feature map one 3x3 conv for box offsets (A*4 channels) and one
// for class scores (A*K channels), A = priors per position. Each output is permuted NCHW -> NHWC and reshaped to
// (N, H*W*A, 4) or (N, H*W*A, K), then all maps are concatenated, so prior p of the result is: map, then row,
// then column, then the prior's index at that position - the order of the reference priors.
import type { Tensor } from '../graph/index.js';
import { Conv2d, type BuildContext, type HasParameters, type ParameterSpec } from './layers.js';

/** One feature map the head predicts on. */
export interface HeadMap {
  /** Name used in the parameter names: `<prefix>.loc_<name>`, `<prefix>.cl_<name>` (e.g. 'conv4_3'). */
  name: string;
  channels: number;
  /** Priors per position on this map (4 or 6 in SSD300). */
  priorsPerPosition: number;
}

/** Name scope of the nodes that lay the predictions out as (N, P, 4) and (N, P, K) (see ConvBnAct.build). */
export const HEAD_OUTPUTS = 'head.outputs';

/** The SSD prediction head: box regression and classification convs per map (Xavier-uniform weights, zero biases). */
export class SSDHead implements HasParameters {
  readonly loc: Conv2d[];
  readonly cls: Conv2d[];

  constructor(
    readonly maps: readonly HeadMap[],
    readonly nClasses: number,
    prefix = 'pred_convs',
  ) {
    if (!Number.isInteger(nClasses) || nClasses < 2) throw new Error(`SSDHead: nClasses must be an integer >= 2 (background + at least one class), got ${nClasses}`);
    const xavier = { kind: 'xavier-uniform' } as const;
    this.loc = maps.map((m) => new Conv2d(`${prefix}.loc_${m.name}`, m.channels, m.priorsPerPosition * 4, { kernel: 3, pad: 1, weightInit: xavier }));
    this.cls = maps.map((m) => new Conv2d(`${prefix}.cl_${m.name}`, m.channels, m.priorsPerPosition * nClasses, { kernel: 3, pad: 1, weightInit: xavier }));
  }

  /** Localisation convs first, then classification convs: the reference state_dict order. */
  parameters(): ParameterSpec[] {
    return [...this.loc, ...this.cls].flatMap((c) => c.parameters());
  }

  /**
   * features: one (N, C_i, H_i, W_i) map per `maps` entry, in order.
   * Returns locs (N, P, 4) as encoded offsets (gcxgcy) and scores (N, P, K) as raw logits, P = sum H_i*W_i*A_i.
   */
  build(ctx: BuildContext, features: readonly Tensor[]): { locs: Tensor; scores: Tensor } {
    if (features.length !== this.maps.length) throw new Error(`SSDHead: expected ${this.maps.length} feature maps, got ${features.length}`);
    const { g } = ctx;
    // (N, A*k, H, W) -> (N, H, W, A*k) -> (N, H*W*A, k)
    const flatten = (y: Tensor, k: number): Tensor => g.scope(HEAD_OUTPUTS, () => g.reshape(g.transpose(y, [0, 2, 3, 1]), [0, -1, k]));
    const locs = features.map((f, i) => flatten(this.loc[i]!.build(ctx, f), 4));
    const scores = features.map((f, i) => flatten(this.cls[i]!.build(ctx, f), this.nClasses));
    return g.scope(HEAD_OUTPUTS, () => ({ locs: g.concat(locs, 1), scores: g.concat(scores, 1) }));
  }
}
