// Running statistics of batch norm from training batches ("precise BN", as Detectron's PreciseBN): the network
// is built with batch norm in 'calibrate' mode, each layer hands out its batch mean and unbiased variance, and
// their averages over the batches become `<layer>.running_mean` / `<layer>.running_var`. A training session keeps
// no state besides parameters and optimizer buffers, so this replaces PyTorch's running averages (which PreciseBN
// also replaces, because averages taken while the weights still move are stale).
import { Graph, InferenceRunner, type RuntimeOptions } from '../graph/index.js';
import { BuildContext, type Weights } from './layers.js';
import type { SSDNetwork } from './ssd.js';

/** One batch of normalised images, (n, 3, H, W) float32. */
export interface ImageBatch {
  images: Float32Array;
  size: number;
}

/**
 * Averages each batch-norm layer's batch statistics over `batches` (with `weights` for everything else) and
 * returns the running statistics by buffer name (`<layer>.running_mean`, `<layer>.running_var`). A network
 * without batch norm gives an empty map. Throws when `batches` yields nothing.
 */
export async function calibrateBatchNorm(network: SSDNetwork, weights: Weights, batches: AsyncIterable<ImageBatch> | Iterable<ImageBatch>, options: RuntimeOptions = {}): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  if (!network.hasBatchNorm) return out;
  const { width, height } = network.inputSize;
  const g = new Graph(`${network.architecture}-bn-calibration`);
  const images = g.input('images', 'float32', ['N', 3, height, width]);
  const { statistics } = network.build(new BuildContext(g, weights), images, 'calibrate');
  for (const s of statistics) {
    g.output(s.mean, `${s.name}.running_mean`);
    g.output(s.variance, `${s.name}.running_var`);
  }
  const declared = new Set(g.parameters.map((p) => p.name));
  const runner = await InferenceRunner.create(g, new Map([...weights].filter(([k]) => declared.has(k))), options);
  let count = 0;
  try {
    for await (const b of batches) {
      const r = await runner.run({ images: { data: b.images, dims: [b.size, 3, height, width], dtype: 'float32' } });
      for (const [name, t] of Object.entries(r)) {
        const acc = out.get(name) ?? new Float32Array(t.data.length);
        const v = t.data as Float32Array;
        for (let i = 0; i < acc.length; i++) acc[i] += v[i]!;
        out.set(name, acc);
      }
      count++;
    }
  } finally {
    await runner.release();
  }
  if (count === 0) throw new Error('calibrateBatchNorm: no batches');
  for (const acc of out.values()) for (let i = 0; i < acc.length; i++) acc[i] /= count;
  return out;
}

/**
 * Completes trained `parameters` (what a training session steps) into model-file weights: the buffers from
 * batch-norm statistics averaged over `batches` when the network has batch norm, else from `fallback` (the
 * weights training started from).
 */
export async function completeWeights(
  network: SSDNetwork,
  parameters: Weights,
  fallback: Weights,
  batches: () => AsyncIterable<ImageBatch>,
  options: RuntimeOptions = {},
): Promise<Map<string, Float32Array>> {
  const statistics = network.hasBatchNorm ? await calibrateBatchNorm(network, new Map([...fallback, ...parameters]), batches(), options) : new Map<string, Float32Array>();
  const out = new Map<string, Float32Array>();
  for (const spec of network.parameters()) {
    const v = (spec.buffer ? statistics.get(spec.name) : parameters.get(spec.name)) ?? fallback.get(spec.name);
    if (!v) throw new Error(`model weights: '${spec.name}' is neither trained nor a known buffer`);
    out.set(spec.name, v);
  }
  return out;
}
