// How close a training step runs to the machine's arithmetic limit: a step's multiply-accumulates (every
// convolution forward, and again for each gradient it needs: src/nn/stats.ts trainingProducts) over its time,
// against the fastest single-precision matrix product ONNX Runtime's kernels run on this machine. No step on these
// kernels beats `flop / peak`. A tighter bound takes each product at the rate ORT's MatMul reaches on that
// product's own im2col shape (small maps and few channels run far below the peak): the time of a step that did
// nothing but those products, each as one matrix product over the whole batch.
import * as ort from 'onnxruntime-node';
import { Graph } from '../src/graph/index.js';
import type { SSDNetwork } from '../src/nn/ssd.js';
import { shapeGraph, trainingProducts } from '../src/nn/stats.js';

/** Matrix products [M, K] x [K, N] the peak is taken over: square, and the shapes of SSD300's deep layers as
 *  im2col products (conv4_3, conv3_x, conv2_x at 300 px), where MLAS runs fastest. */
const SHAPES: readonly [number, number, number][] = [
  [2048, 2048, 2048],
  [512, 4608, 1444],
  [256, 2304, 5625],
  [128, 1152, 22500],
];

/** The largest dimension a measured product gets: its rate no longer depends on it there, and the whole-batch
 *  im2col matrices of SSD300's first layers would take gigabytes. */
const DIM_CAP = 65536;

/** ONNX Runtime's float32 MatMul rate on [m, k] x [k, n] at `threads` intra-op threads, in GFLOP/s (2 per
 *  multiply-accumulate): the best of `runs` runs after a warm-up. */
async function matmulGflops(m: number, k: number, n: number, threads: number, runs: number): Promise<number> {
  const g = new Graph('sgemm');
  g.output(g.matmul(g.input('a', 'float32', [m, k]), g.input('b', 'float32', [k, n])), 'c');
  const session = await ort.InferenceSession.create(g.toBytes(), { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const feeds = {
    a: new ort.Tensor('float32', Float32Array.from({ length: m * k }, (_, i) => ((i % 97) - 48) / 64), [m, k]),
    b: new ort.Tensor('float32', Float32Array.from({ length: k * n }, (_, i) => ((i % 89) - 44) / 64), [k, n]),
  };
  await session.run(feeds);
  let best = 0;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await session.run(feeds);
    best = Math.max(best, (2 * m * k * n) / ((performance.now() - t0) / 1e3) / 1e9);
  }
  await session.release();
  return best;
}

/** The fastest float32 MatMul rate of ONNX Runtime at `threads` intra-op threads over SHAPES, in GFLOP/s. */
export async function sgemmPeakGflops(threads: number, runs = 8): Promise<{ gflops: number; shape: [number, number, number] }> {
  let best = { gflops: 0, shape: SHAPES[0]! };
  for (const shape of SHAPES) {
    const gflops = await matmulGflops(...shape, threads, runs);
    if (gflops > best.gflops) best = { gflops, shape: [...shape] };
  }
  return best;
}

/** A step's products each at ORT's MatMul rate on its own shape (see the header). */
export interface LayerwiseBound {
  /** Seconds a step of `batch` images would take doing nothing but its products at those rates. */
  step_s: number;
  /** Share of the bound by the side of the product's output map (its largest side), e.g. '300': 0.31. */
  share_by_map_side: Record<string, number>;
}

/**
 * The products of a step of `batch` images of `network` each at ORT's MatMul rate on its own im2col shape, per
 * group, over the whole batch (the longest matrices), as it is or transposed, whichever runs faster: forward
 * [Cout, Cin*k*k] x [Cin*k*k, N*Ho*Wo], input gradient [Cin, Cout*k*k] x [Cout*k*k, N*H*W], weight gradient
 * [Cout, N*Ho*Wo] x [N*Ho*Wo, Cin*k*k]. Depthwise and other grouped convolutions and MatMul nodes, whose kernels
 * are not matrix products of these shapes, are taken at `peakGflops` (so the bound stays a lower one).
 */
export async function layerwiseBound(network: SSDNetwork, batch: number, threads: number, peakGflops: number): Promise<LayerwiseBound> {
  const { graph, trainable } = shapeGraph(network);
  const rates = new Map<string, number>();
  const measured = async (m: number, k: number, n: number): Promise<number> => {
    const shape = [m, k, n].map((d) => Math.min(d, DIM_CAP)) as [number, number, number];
    const key = shape.join('x');
    if (!rates.has(key)) rates.set(key, await matmulGflops(...shape, threads, 3));
    return rates.get(key)!;
  };
  /** The faster of [m, k] x [k, n] and its transpose [n, k] x [k, m]. */
  const rate = async (m: number, k: number, n: number): Promise<number> => Math.max(await measured(m, k, n), await measured(n, k, m));
  let seconds = 0;
  const bySide = new Map<number, number>();
  for (const { node, macs, gradients } of trainingProducts(graph, trainable)) {
    const flop = 2 * macs * batch;
    const group = node.attrs.group?.type === 'int' ? node.attrs.group.value : 1;
    let t = (flop * (1 + gradients.filter(Boolean).length)) / peakGflops / 1e9;
    let side = 0;
    if (node.op === 'Conv' && group === 1) {
      const [, cin, h, w] = graph.tensor(node.inputs[0]!)!.shape as number[];
      const [cout, , kh, kw] = graph.tensor(node.inputs[1]!)!.shape as number[];
      const [, , ho, wo] = graph.tensor(node.outputs[0]!)!.shape as number[];
      const kk = kh! * kw!;
      t = flop / (await rate(cout!, cin! * kk, batch * ho! * wo!)) / 1e9;
      if (gradients[0]) t += flop / (await rate(cin!, cout! * kk, batch * h! * w!)) / 1e9;
      if (gradients[1]) t += flop / (await rate(cout!, batch * ho! * wo!, cin! * kk)) / 1e9;
      side = Math.max(ho!, wo!);
    }
    seconds += t;
    bySide.set(side, (bySide.get(side) ?? 0) + t);
  }
  const share = [...bySide].sort((a, b) => b[0] - a[0]).map(([s, t]) => [String(s), t / seconds] as const);
  return { step_s: seconds, share_by_map_side: Object.fromEntries(share) };
}

/** A step's arithmetic against the peak: the rate each side runs at, and the fastest step the peak allows. */
export interface ArithmeticRate {
  train_gflop_per_step: number;
  ours_gflops: number;
  pytorch_gflops: number | null;
  peak_sgemm_gflops: number;
  peak_sgemm_shape: [number, number, number];
  /** The step time if every multiply-accumulate ran at the peak and nothing else took time. */
  step_s_at_peak: number;
  /** step_s_at_peak over PyTorch's step: the lowest ours-over-PyTorch step ratio these kernels allow. */
  step_ratio_at_peak: number | null;
  /** The layerwise bound (layerwiseBound) and its ratio to PyTorch's step, where it was measured. */
  layerwise: (LayerwiseBound & { step_ratio: number | null }) | null;
}

/** The arithmetic of a step of `batch` images of a model of `trainGmac` per image, timed at `oursStepS` and
 *  `pytorchStepS` (null where PyTorch did not run), against the peak and the layerwise bound (where measured). */
export function arithmeticRate(
  trainGmac: number,
  batch: number,
  oursStepS: number,
  pytorchStepS: number | null,
  peak: { gflops: number; shape: [number, number, number] },
  layerwise: LayerwiseBound | null,
): ArithmeticRate {
  const gflop = 2 * trainGmac * batch;
  const atPeak = gflop / peak.gflops;
  const ratio = (s: number): number | null => (pytorchStepS === null ? null : s / pytorchStepS);
  return {
    train_gflop_per_step: gflop,
    ours_gflops: gflop / oursStepS,
    pytorch_gflops: pytorchStepS === null ? null : gflop / pytorchStepS,
    peak_sgemm_gflops: peak.gflops,
    peak_sgemm_shape: peak.shape,
    step_s_at_peak: atPeak,
    step_ratio_at_peak: ratio(atPeak),
    layerwise: layerwise && { ...layerwise, step_ratio: ratio(layerwise.step_s) },
  };
}
