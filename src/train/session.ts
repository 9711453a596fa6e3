/**
 * One training step as one ONNX Runtime session: the network, the MultiBox loss and SGD with
 * momentum in a single graph (src/graph builds the backward pass and the update), fed a batch of
 * images and matched targets and the learning rate; parameters and momentum stay in the session.
 */
import { TrainingSession } from '../graph/index.js';
import type { Weights } from '../nn/layers.js';
import type { MultiBoxLossOptions } from '../nn/loss.js';
import type { SSDNetwork } from '../nn/ssd.js';
import { trainingGraph } from './model.js';

/** The loss terms of one step. */
export interface StepLosses {
  loss: number;
  loc_loss: number;
  conf_loss: number;
  /** Positive priors in the batch. */
  positives: number;
}

/** A batch in the graph's input layout. */
export interface StepBatch {
  size: number;
  /** (N,3,H,W) float32. */
  images: Float32Array;
  /** (N,P) int64. */
  trueClasses: BigInt64Array;
  /** (N,P,4) float32. */
  trueLocs: Float32Array;
}

/** Optimizer settings of {@link StepSession.create}. */
export interface OptimizerOptions {
  /** Default 0.9. */
  momentum?: number;
  /** L2 weight decay added to every gradient (PyTorch semantics). Default 5e-4. */
  weightDecay?: number;
  /** Learning-rate multiplier per parameter group. Default { weight: 1, bias: 2 } (the SSD recipe). */
  lrMultipliers?: Record<string, number>;
  /** Clip the global gradient norm to this before the update. Default: no clipping. */
  clipGradNorm?: number;
  /** MultiBox loss options. Default: the reference's. */
  loss?: MultiBoxLossOptions;
  /** ONNX Runtime intra-op threads. Default: all cores. */
  threads?: number;
}

/** A training step session for an SSD network. */
export class StepSession {
  private constructor(
    private readonly session: TrainingSession,
    private readonly network: SSDNetwork,
    /** Images per step (static in the graph). */
    readonly batch: number,
  ) {}

  /** Builds the training graph for batches of `batch` images and opens its session, starting from `weights` and zero momentum. */
  static async create(network: SSDNetwork, weights: Weights, batch: number, opts: OptimizerOptions = {}): Promise<StepSession> {
    // The batch is static: the weight gradient of a convolution is built for a known batch size.
    const { graph, loss } = trainingGraph(network, weights, batch, opts.loss);
    const session = await TrainingSession.create(graph, loss, {
      momentum: opts.momentum ?? 0.9,
      weightDecay: opts.weightDecay ?? 5e-4,
      lrMultipliers: opts.lrMultipliers ?? { weight: 1, bias: 2 },
      clipGradNorm: opts.clipGradNorm,
      threads: opts.threads,
    });
    return new StepSession(session, network, batch);
  }

  /** One SGD step on `batch` at base learning rate `lr`; returns the loss terms before the update. */
  async step(batch: StepBatch, lr: number): Promise<StepLosses> {
    const { width, height } = this.network.inputSize;
    const P = this.network.priorCount;
    const n = batch.size;
    if (n !== this.batch) throw new Error(`training step: the graph takes batches of ${this.batch} images, got ${n}`);
    const out = await this.session.step(
      {
        images: { data: batch.images, dims: [n, 3, height, width], dtype: 'float32' },
        true_classes: { data: batch.trueClasses, dims: [n, P], dtype: 'int64' },
        true_offsets: { data: batch.trueLocs, dims: [n, P, 4], dtype: 'float32' },
      },
      lr,
    );
    return { loss: out.loss!, loc_loss: out.loc_loss!, conf_loss: out.conf_loss!, positives: out.positives! };
  }

  /** The current trainable parameters by name (copies; batch-norm buffers are not among them). */
  parameters(): Map<string, Float32Array> {
    return this.session.getParameters();
  }

  setParameters(m: ReadonlyMap<string, Float32Array>): void {
    this.session.setParameters(new Map(m));
  }

  /** The momentum buffers by name (copies). */
  optimizerState(): Map<string, Float32Array> {
    return this.session.getOptimizerState();
  }

  setOptimizerState(m: ReadonlyMap<string, Float32Array>): void {
    this.session.setOptimizerState(new Map(m));
  }

  async release(): Promise<void> {
    await this.session.release?.();
  }
}
