/**
 * What the trainer and the evaluator need of a model, over every model of the zoo (SSD300, ssd-tiny, ...):
 * a config for a class list, the network it describes, initial weights, the training graph, batch-norm
 * statistics. Model files and checkpoints are read by `SSD.load` (src/nn/model.ts).
 *
 * Weights here are the full model-file set: trainable parameters plus buffers (batch-norm running
 * statistics). A training session holds only the trainable ones; the buffers are recomputed from
 * training images ("precise BN") whenever a model file is written or the model is evaluated.
 */
import { initWeights, type Weights } from '../nn/layers.js';
import type { MultiBoxLossOptions } from '../nn/loss.js';
import { calibrateBatchNorm, type ImageBatch } from '../nn/models/calibrate.js';
import { ZooNetwork } from '../nn/models/network.js';
import { buildZooNetwork, zooModelConfig, ZOO_MODELS, type ZooModelConfig, type ZooModelOptions } from '../nn/models/registry.js';
import type { Graph, Tensor } from '../graph/index.js';
import type { SSDNetwork } from '../nn/ssd.js';

export type { ZooModelConfig as ModelConfig, ZooModelOptions as ModelOptions };

/** Names `--model` accepts. */
export function modelNames(): string[] {
  return [...ZOO_MODELS.keys()];
}

/** The config of zoo model `name` for `classNames` (objects only); errors list the known names. */
export function modelConfig(name: string, classNames: readonly string[], options: ZooModelOptions = {}): ZooModelConfig {
  return zooModelConfig(name, classNames, options);
}

/** The network a config describes. */
export function buildNetwork(config: ZooModelConfig): SSDNetwork {
  return buildZooNetwork(config);
}

/** Fresh weights (parameters and buffers) for `network`, from `seed`. */
export function initialWeights(network: SSDNetwork, seed: number): Map<string, Float32Array> {
  return initWeights(network.parameters(), seed);
}

/** True when `network` has batch norm (its buffers need {@link completeWeights} before inference). */
export function hasBatchNorm(network: SSDNetwork): boolean {
  return network instanceof ZooNetwork && network.hasBatchNorm;
}

/**
 * The training graph for batches of `batch` images (batch norm on batch statistics): inputs images,
 * true_classes, true_offsets; outputs loss, conf_loss, loc_loss, positives.
 */
export function trainingGraph(network: SSDNetwork, weights: Weights, batch: number, loss?: MultiBoxLossOptions): { graph: Graph; loss: Tensor } {
  const build = () => network.lossGraph(weights, { batch, loss });
  const lg = network instanceof ZooNetwork ? network.withNormMode('train', build) : build();
  return { graph: lg.graph, loss: lg.terms.loss };
}

/**
 * Completes trainable `parameters` into model-file weights: batch-norm running statistics averaged over
 * `batches` (when the network has batch norm), else the buffers of `fallback`.
 */
export async function completeWeights(
  network: SSDNetwork,
  parameters: ReadonlyMap<string, Float32Array>,
  fallback: Weights,
  batches: () => AsyncIterable<ImageBatch>,
  threads?: number,
): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  let stats = new Map<string, Float32Array>();
  if (hasBatchNorm(network)) {
    const all = new Map<string, Float32Array>([...fallback, ...parameters]);
    stats = await calibrateBatchNorm(network as ZooNetwork, all, batches(), threads === undefined ? {} : { threads });
  }
  for (const spec of network.parameters()) {
    const v = stats.get(spec.name) ?? parameters.get(spec.name) ?? fallback.get(spec.name);
    if (!v) throw new Error(`model weights: '${spec.name}' is neither trained nor a known buffer`);
    out.set(spec.name, v);
  }
  return out;
}
