// Running statistics of batch norm from training batches ("precise BN", as Detectron's PreciseBN): the network
// is built with batch norm in 'calibrate' mode, each layer hands out its batch mean and unbiased variance, and
// their averages over the batches become `<layer>.running_mean` / `<layer>.running_var`. A training session keeps
// no state besides parameters and momentum, so this replaces PyTorch's running averages (which PreciseBN also
// replaces, because averages taken while the weights still move are stale).
import { Graph, InferenceRunner, type RuntimeOptions } from '../../graph/index.js';
import { BuildContext, type Weights } from '../layers.js';
import { RUNNING_MEAN, RUNNING_VAR } from './blocks.js';
import type { ZooNetwork } from './network.js';

/** One batch of normalised images, (n, 3, H, W) float32. */
export interface ImageBatch {
  images: Float32Array;
  size: number;
}

/**
 * Averages each batch-norm layer's batch statistics over `batches` (with `weights` for everything else) and
 * returns the running statistics by parameter name (`<layer>.running_mean`, `<layer>.running_var`). A network
 * without batch norm gives an empty map. Throws when `batches` yields nothing.
 */
export async function calibrateBatchNorm(network: ZooNetwork, weights: Weights, batches: AsyncIterable<ImageBatch> | Iterable<ImageBatch>, options: RuntimeOptions = {}): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  if (!network.norm) return out;
  const { width, height } = network.inputSize;
  const g = new Graph(`${network.architecture}-bn-calibration`);
  const images = g.input('images', 'float32', ['N', 3, height, width]);
  const emitted = network.withNormMode('calibrate', () => {
    network.build(new BuildContext(g, weights), images);
    return [...network.norm!.emitted];
  });
  for (const e of emitted) {
    g.output(e.mean, `${e.name}${RUNNING_MEAN}`);
    g.output(e.variance, `${e.name}${RUNNING_VAR}`);
  }
  const params = new Map([...weights].filter(([k]) => g.parameters.some((p) => p.name === k)));
  const runner = await InferenceRunner.create(g, params, options);
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
