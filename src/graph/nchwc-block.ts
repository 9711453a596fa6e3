// The NCHWc block size of this machine's ONNX Runtime (see nchwc.ts), found by trying: a depthwise convolution of
// `block` channels written for NCHWc kernels runs, and agrees with the same convolution in standard ONNX, when
// `block` is a multiple of the machine's block (ReorderInput pads the channels to a whole block, and the filter no
// longer fits its shape otherwise); a runtime without NCHWc kernels refuses the model. The smallest block that
// works is the machine's. Found once per process.
import * as ort from 'onnxruntime-node';
import { Graph } from './builder.js';
import { NCHWC_BLOCKS } from './nchwc.js';

let found: Promise<number> | undefined;

/** The block size at which depthwise convolutions lower to NCHWc kernels here, or 0 where none works. */
export function nchwcBlock(): Promise<number> {
  found ??= probe();
  return found;
}

async function probe(): Promise<number> {
  for (const block of NCHWC_BLOCKS) if (await agrees(block)) return block;
  return 0;
}

/** Whether a depthwise convolution of `block` channels lowered at that block runs and gives the standard result. */
async function agrees(block: number): Promise<boolean> {
  const [n, c, h, w] = [2, block, 5, 6];
  const g = new Graph('nchwc-probe');
  const x = g.input('x', 'float32', [n, c, h, w]);
  const k = g.input('k', 'float32', [c, 1, 3, 3]);
  g.output(g.conv2d(x, k, undefined, { pad: [1, 0, 1, 1], groups: c }), 'y');
  const value = (i: number): number => Math.sin(i * 12.9898) * 0.5;
  const feeds = {
    x: new ort.Tensor('float32', Float32Array.from({ length: n * c * h * w }, (_, i) => value(i)), [n, c, h, w]),
    k: new ort.Tensor('float32', Float32Array.from({ length: c * 9 }, (_, i) => value(i + 7)), [c, 1, 3, 3]),
  };
  const run = async (lowerAt: number): Promise<Float32Array | null> => {
    let session: ort.InferenceSession | undefined;
    try {
      session = await ort.InferenceSession.create(g.toBytes({ nchwcBlock: lowerAt }), { graphOptimizationLevel: 'basic', intraOpNumThreads: 1, logSeverityLevel: 4 });
      return (await session.run(feeds)).y!.data as Float32Array;
    } catch {
      return null;
    } finally {
      await session?.release();
    }
  };
  const [expected, y] = [await run(0), await run(block)];
  return !!expected && !!y && y.length === expected.length && y.every((v, i) => Math.abs(v - expected[i]!) <= 1e-5 * (1 + Math.abs(expected[i]!)));
}
