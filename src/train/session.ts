/**
 * One training step of an SSD as one ONNX Runtime session: the network (batch norm on batch statistics), the
 * MultiBox loss and an optimizer's update in a single graph (src/graph builds the backward pass and the update),
 * fed a batch of images and matched targets and the learning rate; parameters and optimizer state stay in the
 * session.
 */
import { SGD, TrainingSession, type GradientOptions, type Optimizer } from '../graph/index.js';
import type { Weights } from '../nn/layers.js';
import type { MultiBoxLossOptions } from '../nn/loss.js';
import type { SSDNetwork } from '../nn/ssd.js';

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

/** Settings of {@link StepSession.create}. */
export interface StepSessionOptions {
  /** Default SGD with momentum 0.9 and weight decay 5e-4 (the SSD recipe). */
  optimizer?: Optimizer;
  /** Learning-rate multiplier per parameter group. Default { weight: 1, bias: 2 } (the SSD recipe). */
  lrMultipliers?: Record<string, number>;
  /** Clip the global gradient norm to this before the update. Default: no clipping. */
  clipGradNorm?: number;
  /** MultiBox loss options. Default: the reference's. */
  loss?: MultiBoxLossOptions;
  /** ONNX Runtime intra-op threads. Default: all cores. */
  threads?: number;
  /** Autodiff settings (convolution gradient formulations). Default: the measured choices. */
  gradients?: GradientOptions;
  /** Parameters of fewer elements are updated together, one flat update per run of them (see TrainingGraphOptions).
   *  Default 0: one update per parameter. */
  flattenBelow?: number;
  /** Depthwise convolutions on ONNX Runtime's NCHWc kernels where this machine has them. Default true. */
  nchwc?: boolean;
}

/** A training step session for an SSD network. */
export class StepSession {
  /** Full-size buffers a short batch is padded into (made on first use). */
  private padding: StepBatch | null = null;

  private constructor(
    private readonly session: TrainingSession,
    private readonly network: SSDNetwork,
    /** Images per step (static in the graph). */
    readonly batch: number,
  ) {}

  /** Whether a batch of fewer images can be padded to the graph's size without changing the step: true for
   *  networks without batch normalisation, whose images do not interact (see step). */
  get padsShortBatches(): boolean {
    return !this.network.hasBatchNorm;
  }

  /** Builds the training graph for batches of `batch` images and opens its session, starting from `weights` and
   *  zero optimizer state. */
  static async create(network: SSDNetwork, weights: Weights, batch: number, opts: StepSessionOptions = {}): Promise<StepSession> {
    // The batch is static: the weight gradient of a convolution is built for a known batch size.
    const { graph, terms } = network.lossGraph(weights, { batch, loss: opts.loss });
    const session = await TrainingSession.create(graph, terms.loss, {
      optimizer: opts.optimizer ?? new SGD({ momentum: 0.9, weightDecay: 5e-4 }),
      lrMultipliers: opts.lrMultipliers ?? { weight: 1, bias: 2 },
      clipGradNorm: opts.clipGradNorm,
      threads: opts.threads,
      gradients: opts.gradients,
      ...(opts.flattenBelow !== undefined ? { flattenBelow: opts.flattenBelow } : {}),
      ...(opts.nchwc !== undefined ? { nchwc: opts.nchwc } : {}),
    });
    return new StepSession(session, network, batch);
  }

  /**
   * One SGD step on `batch` at base learning rate `lr`; returns the loss terms before the update. A batch of fewer
   * images than the graph takes (an epoch's last) is padded with blank images without objects: they have no
   * positives and so no hard negatives either, adding nothing to the MultiBox loss or to the positives it is
   * divided by, and the step is the short batch's own. Networks with batch normalisation cannot pad (the blanks
   * would enter the batch statistics) and take full batches only.
   */
  async step(batch: StepBatch, lr: number): Promise<StepLosses> {
    const { width, height } = this.network.inputSize;
    const P = this.network.priorCount;
    if (batch.size !== this.batch) {
      if (batch.size > this.batch || !this.padsShortBatches)
        throw new Error(`training step: the graph takes batches of ${this.batch} images${this.padsShortBatches ? ' or fewer' : ''}, got ${batch.size}`);
      batch = this.pad(batch);
    }
    const n = this.batch;
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

  /** `batch` copied into the full-size padding buffers, the rest blank (zero images, background everywhere). */
  private pad(batch: StepBatch): StepBatch {
    const { width, height } = this.network.inputSize;
    const P = this.network.priorCount;
    this.padding ??= {
      size: this.batch,
      images: new Float32Array(this.batch * 3 * height * width),
      trueClasses: new BigInt64Array(this.batch * P),
      trueLocs: new Float32Array(this.batch * P * 4),
    };
    const p = this.padding;
    const ni = batch.size * 3 * height * width;
    const np = batch.size * P;
    p.images.set(batch.images.subarray(0, ni));
    p.images.fill(0, ni);
    p.trueClasses.set(batch.trueClasses.subarray(0, np));
    p.trueClasses.fill(0n, np);
    p.trueLocs.set(batch.trueLocs.subarray(0, 4 * np));
    p.trueLocs.fill(0, 4 * np);
    return p;
  }

  /** The current trainable parameters by name (copies; batch-norm buffers are not among them). */
  parameters(): Map<string, Float32Array> {
    return this.session.getParameters();
  }

  setParameters(m: ReadonlyMap<string, Float32Array>): void {
    this.session.setParameters(new Map(m));
  }

  /** The optimizer's state buffers by name ('<param>.<state>', copies). */
  optimizerState(): Map<string, Float32Array> {
    return this.session.getOptimizerState();
  }

  setOptimizerState(m: ReadonlyMap<string, Float32Array>): void {
    this.session.setOptimizerState(new Map(m));
  }

  /** Steps taken (Adam's bias corrections count from it; restore it on resume). */
  get stepCount(): number {
    return this.session.stepCount;
  }

  set stepCount(n: number) {
    this.session.stepCount = n;
  }

  async release(): Promise<void> {
    await this.session.release?.();
  }
}
