// The auxiliary ("extra") convolutions on top of conv7: pairs of a 1x1 reduction and a kxk convolution. SSD300 has
// four, giving the conv8_2 (10x10), conv9_2 (5x5), conv10_2 (3x3) and conv11_2 (1x1) maps; SSD512 five.
// Xavier-uniform weights and zero biases, as the tutorial; names `aux_convs.conv8_1.weight`, ...
// (The file is not named aux.ts: AUX is a reserved file name on Windows, whatever the extension.)
import type { Tensor } from '../../graph/index.js';
import { Conv2d, convRelu, type BuildContext, type HasParameters, type ParameterSpec } from '../layers.js';

/** One extra stage: [1x1 channels, kxk channels, k, stride, pad]. */
export type AuxiliaryStage = [mid: number, out: number, kernel: number, stride: number, pad: number];

/** SSD300's four stages, 19 -> 10 -> 5 -> 3 -> 1. */
export const SSD300_AUXILIARY: readonly AuxiliaryStage[] = [
  [256, 512, 3, 2, 1],
  [128, 256, 3, 2, 1],
  [128, 256, 3, 1, 0],
  [128, 256, 3, 1, 0],
];

/** conv8_1, conv8_2, conv9_1, ...: each stage is (1x1, in -> mid) then (kxk, mid -> out, given stride and pad),
 *  ReLU after both. */
export class AuxiliaryConvs implements HasParameters {
  readonly stages: Array<[Conv2d, Conv2d]> = [];
  /** Channels of the maps `build` returns, one per stage. */
  readonly outChannels: number[] = [];

  /**
   * @param inChannels channels of the input map (conv7: 1024).
   * @param spec the stages (default SSD300's).
   * @param c each channel count of `spec` to this network's, for slimmed variants; default the spec's own.
   */
  constructor(prefix = 'aux_convs', inChannels = 1024, spec: readonly AuxiliaryStage[] = SSD300_AUXILIARY, c: (standard: number) => number = (n) => n) {
    const xavier = { kind: 'xavier-uniform' } as const;
    let cin = inChannels;
    spec.forEach(([mid, out, kernel, stride, pad], i) => {
      const m = c(mid), o = c(out);
      this.stages.push([
        new Conv2d(`${prefix}.conv${8 + i}_1`, cin, m, { kernel: 1, weightInit: xavier }),
        new Conv2d(`${prefix}.conv${8 + i}_2`, m, o, { kernel, stride, pad, weightInit: xavier }),
      ]);
      this.outChannels.push(o);
      cin = o;
    });
  }

  parameters(): ParameterSpec[] {
    return this.stages.flatMap(([a, b]) => [...a.parameters(), ...b.parameters()]);
  }

  /** conv7 -> one map per stage (SSD300: conv8_2, conv9_2, conv10_2, conv11_2). */
  build(ctx: BuildContext, conv7: Tensor): Tensor[] {
    const maps: Tensor[] = [];
    let x = conv7;
    for (const [reduce, conv] of this.stages) {
      x = convRelu(ctx, conv, convRelu(ctx, reduce, x));
      maps.push(x);
    }
    return maps;
  }
}
