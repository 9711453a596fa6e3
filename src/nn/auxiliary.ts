// The auxiliary ("extra") convolutions of SSD300 on top of conv7: four pairs of a 1x1 reduction and a 3x3
// convolution, giving the conv8_2 (10x10), conv9_2 (5x5), conv10_2 (3x3) and conv11_2 (1x1) maps.
// Xavier-uniform weights and zero biases, as the tutorial; names `aux_convs.conv8_1.weight`, ...
// (The file is not named aux.ts: AUX is a reserved file name on Windows, whatever the extension.)
import type { Tensor } from '../graph/index.js';
import { Conv2d, convRelu, type BuildContext, type HasParameters, type ParameterSpec } from './layers.js';

/** conv8_1 .. conv11_2: each stage is (1x1, in -> mid) then (3x3, mid -> out, given stride and pad), ReLU after both. */
export class AuxiliaryConvs implements HasParameters {
  readonly stages: Array<[Conv2d, Conv2d]>;
  /** Channels of the four maps `build` returns. */
  readonly outChannels: number[];

  /** @param inChannels channels of the input map (conv7: 1024). */
  constructor(prefix = 'aux_convs', inChannels = 1024) {
    const xavier = { kind: 'xavier-uniform' } as const;
    // [stage, mid, out, stride, pad]: 19 -> 10 -> 5 -> 3 -> 1
    const spec: Array<[number, number, number, number, number]> = [
      [8, 256, 512, 2, 1],
      [9, 128, 256, 2, 1],
      [10, 128, 256, 1, 0],
      [11, 128, 256, 1, 0],
    ];
    this.stages = [];
    this.outChannels = [];
    let cin = inChannels;
    for (const [k, mid, out, stride, pad] of spec) {
      this.stages.push([
        new Conv2d(`${prefix}.conv${k}_1`, cin, mid, { kernel: 1, weightInit: xavier }),
        new Conv2d(`${prefix}.conv${k}_2`, mid, out, { kernel: 3, stride, pad, weightInit: xavier }),
      ]);
      this.outChannels.push(out);
      cin = out;
    }
  }

  parameters(): ParameterSpec[] {
    return this.stages.flatMap(([a, b]) => [...a.parameters(), ...b.parameters()]);
  }

  /** conv7 (N, 1024, 19, 19) -> [conv8_2, conv9_2, conv10_2, conv11_2]. */
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
