// The prediction heads of SSD: on each feature map, one output for box offsets (A*4 channels) and one for class
// scores (A*K channels), A = priors per position. Each output is permuted NCHW -> NHWC and reshaped to
// (N, H*W*A, 4) or (N, H*W*A, K), then all maps are concatenated, so prior p of the result is: map, then row,
// then column, then the prior's index at that position - the order of the priors (torchvision's scoring head).
import { priorsPerLocation, type PriorConfig } from '../boxes/priors.js';
import type { Graph, Tensor } from '../graph/index.js';
import { Conv2d, type BuildContext, type HasParameters, type ParameterSpec } from './layers.js';

/** A feature map a backbone hands to the head. */
export interface FeatureMapInfo {
  /** Name used in the head's parameter names, e.g. 'conv4_3'. */
  name: string;
  channels: number;
}

/** One feature map a head predicts on. */
export interface HeadMap extends FeatureMapInfo {
  /** Priors per position on this map (4 or 6 in SSD300). */
  priorsPerPosition: number;
}

/** Name scope of the nodes that lay the predictions out as (N, P, 4) and (N, P, K) (see ConvBnAct.build). */
export const HEAD_OUTPUTS = 'head.outputs';

/** The head maps for a backbone's feature maps and a prior config (priors per position from the config). */
export function headMaps(maps: readonly FeatureMapInfo[], priors: PriorConfig): HeadMap[] {
  const per = priorsPerLocation(priors);
  return maps.map((m, i) => ({ name: m.name, channels: m.channels, priorsPerPosition: per[i] ?? 0 }));
}

/** What an SSD's head is: per-map predictions, concatenated in prior order. */
export interface Head extends HasParameters {
  readonly maps: readonly HeadMap[];
  /** Number of classes K, background included. */
  readonly nClasses: number;
  /**
   * features: one (N, C_i, H_i, W_i) map per `maps` entry, in order. Returns locs (N, P, 4) as encoded offsets
   * (gcxgcy) and scores (N, P, K) as raw logits, P = sum H_i*W_i*A_i.
   */
  build(ctx: BuildContext, features: readonly Tensor[]): { locs: Tensor; scores: Tensor };
}

/** Checks a head's class count (background + at least one class). */
export function checkClassCount(what: string, nClasses: number): void {
  if (!Number.isInteger(nClasses) || nClasses < 2) throw new Error(`${what}: nClasses must be an integer >= 2 (background + at least one class), got ${nClasses}`);
}

/** Per-map outputs (N, A*k, H, W) -> one (N, sum H*W*A, k) tensor in prior order. */
export function concatPredictions(g: Graph, outputs: readonly Tensor[], k: number): Tensor {
  return g.scope(HEAD_OUTPUTS, () => g.concat(outputs.map((y) => g.reshape(g.transpose(y, [0, 2, 3, 1]), [0, -1, k])), 1));
}

/** SSD's head: a 3x3 box-regression conv and a 3x3 classification conv per map (Xavier-uniform weights, zero biases). */
export class SSDHead implements Head {
  readonly loc: Conv2d[];
  readonly cls: Conv2d[];

  /** Parameter names: `<prefix>.loc_<map>.*`, `<prefix>.cl_<map>.*` (the tutorial's `pred_convs`). */
  constructor(
    readonly maps: readonly HeadMap[],
    readonly nClasses: number,
    readonly prefix = 'pred_convs',
  ) {
    checkClassCount('SSDHead', nClasses);
    const xavier = { kind: 'xavier-uniform' } as const;
    this.loc = maps.map((m) => new Conv2d(`${prefix}.loc_${m.name}`, m.channels, m.priorsPerPosition * 4, { kernel: 3, pad: 1, weightInit: xavier }));
    this.cls = maps.map((m) => new Conv2d(`${prefix}.cl_${m.name}`, m.channels, m.priorsPerPosition * nClasses, { kernel: 3, pad: 1, weightInit: xavier }));
  }

  /** Localisation convs first, then classification convs: the reference state_dict order. */
  parameters(): ParameterSpec[] {
    return [...this.loc, ...this.cls].flatMap((c) => c.parameters());
  }

  /** With `ctx.fuseSiblingConvs`, each map's two convs run as one (weights stacked on the output axis, the result
   *  split); the parameters stay the two convs' own. */
  build(ctx: BuildContext, features: readonly Tensor[]): { locs: Tensor; scores: Tensor } {
    if (features.length !== this.maps.length) throw new Error(`SSDHead: expected ${this.maps.length} feature maps, got ${features.length}`);
    const g = ctx.g;
    const outputs = features.map((f, i): [Tensor, Tensor] => {
      const [loc, cls] = [this.loc[i]!, this.cls[i]!];
      if (!ctx.fuseSiblingConvs) return [loc.build(ctx, f), cls.build(ctx, f)];
      return g.scope(`${this.prefix}.${this.maps[i]!.name}`, () => {
        const w = g.concat([ctx.param(loc.weight), ctx.param(cls.weight)], 0);
        const b = g.concat([ctx.param(loc.bias), ctx.param(cls.bias)], 0);
        const y = g.conv2d(f, w, b, { stride: loc.stride, pad: loc.pad, dilation: loc.dilation });
        return g.split(y, [loc.outChannels, cls.outChannels], 1) as [Tensor, Tensor];
      });
    });
    return {
      locs: concatPredictions(g, outputs.map((o) => o[0]), 4),
      scores: concatPredictions(g, outputs.map((o) => o[1]), this.nClasses),
    };
  }
}
