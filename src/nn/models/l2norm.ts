// ParseNet's L2 normalisation with a learned scale, which SSD applies to conv4_3: that map's activations are
// much larger than the deeper maps', and the scale (learned per channel, starting at 20) lets it catch up.
import type { Tensor } from '../../graph/index.js';
import type { BuildContext, HasParameters, ParameterSpec } from '../layers.js';

/**
 * L2 normalisation over channels with a learned per-channel scale (ParseNet; SSD's conv4_3):
 * y = x / ||x||_2 (over C) * scale, scale of shape (1, C, 1, 1), initially `initialScale`.
 * A tiny epsilon (1e-20) inside the square root keeps an all-zero position (possible after ReLU) at 0 with a
 * finite gradient, where the reference would give NaN; for any other input it changes nothing in float32.
 */
export class L2Norm implements HasParameters {
  readonly scale: ParameterSpec;

  constructor(
    readonly name: string,
    readonly channels: number,
    initialScale = 20,
  ) {
    this.scale = { name, shape: [1, channels, 1, 1], init: { kind: 'constant', value: initialScale }, group: 'weight' };
  }

  parameters(): ParameterSpec[] {
    return [this.scale];
  }

  /** (N, C, H, W) -> (N, C, H, W). */
  build(ctx: BuildContext, x: Tensor): Tensor {
    const { g } = ctx;
    const norm = g.sqrt(g.add(g.reduceSum(g.mul(x, x), [1], true), 1e-20));
    return g.mul(g.div(x, norm), ctx.param(this.scale));
  }
}
