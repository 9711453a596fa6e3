// Training for a fixed wall-clock budget: SGD with momentum on the MultiBox loss (one ONNX Runtime session per
// step, src/train/session.ts), a linear warm-up and a cosine decay over the *time* budget (so the schedule
// completes whatever the machine's speed), a progress bar, a metrics log, then batch-norm calibration.
import { generatePriors } from '../boxes/priors.js';
import { DataLoader } from '../data/loader.js';
import type { Sample } from '../data/types.js';
import { calibrateBatchNorm } from '../nn/models/calibrate.js';
import { isBuffer } from '../nn/models/blocks.js';
import type { ZooNetwork } from '../nn/models/network.js';
import type { Weights } from '../nn/layers.js';
import type { MultiBoxLossOptions } from '../nn/loss.js';
import { MetricsLog } from '../train/metrics-log.js';
import { Progress, type ProgressStream } from '../train/progress.js';
import { StepSession } from '../train/session.js';
import { AdamWSession } from './adamw.js';

/** Options of {@link trainForTime}. */
export interface TimedTrainOptions {
  network: ZooNetwork;
  /** Starting weights (every parameter and buffer of the network). */
  weights: Weights;
  /** Training samples (pixels boxes, labels 1..C). */
  samples: readonly Sample[];
  /** Wall-clock budget in seconds for the training steps (loader start-up included). */
  seconds: number;
  /** Images per step. Default 16. */
  batch?: number;
  /** 'sgd' (momentum, biases at twice the rate, as the SSD recipe) or 'adamw' (src/demo/adamw.ts). Default 'sgd'. */
  optimizer?: 'sgd' | 'adamw';
  /** Peak learning rate (SGD: biases train at twice it). Default 0.02 (SGD), 0.003 (AdamW). */
  lr?: number;
  /** Steps of linear warm-up from lr/10. Default 50. */
  warmupSteps?: number;
  /** Default 0.9. */
  momentum?: number;
  /** Default 5e-4. */
  weightDecay?: number;
  /** Clip the global gradient norm to this. Default 10. */
  clipGradNorm?: number;
  /** IoU above which a prior answers for an object (with each object's best prior). Default 0.5. */
  matchThreshold?: number;
  /** MultiBox loss settings. Default: the reference's (src/nn/loss.ts). */
  loss?: MultiBoxLossOptions;
  /** The SSD training augmentation (photometric, zoom out, crop, flip). Default true. */
  augment?: boolean;
  /** Seed of the data order and augmentation. Default 0. */
  seed?: number;
  /** ONNX Runtime intra-op threads. Default: all cores. */
  threads?: number;
  /** Loader worker threads. Default 1. */
  workers?: number;
  /** Images used to calibrate batch norm after training. Default 512. */
  calibrationImages?: number;
  /** Metrics log (JSON lines, as `ssd train` writes). Default: none. */
  metricsPath?: string;
  /** Where the progress bar goes. Default process.stderr; false for none. */
  progress?: ProgressStream | false;
}

/** What {@link trainForTime} returns. */
export interface TimedTrainResult {
  /** Trained parameters and calibrated batch-norm statistics. */
  weights: Map<string, Float32Array>;
  steps: number;
  /** Seconds spent in the training loop. */
  seconds: number;
  images: number;
  /** Mean loss of the last 20 steps. */
  finalLoss: number;
}

/** Learning rate at `step` after `fraction` of the time budget: warm-up from lr/10, then cosine to lr/100. */
export function timedLr(lr: number, step: number, fraction: number, warmupSteps: number): number {
  const warm = warmupSteps > 0 && step < warmupSteps ? 0.1 + (0.9 * step) / warmupSteps : 1;
  const f = Math.min(1, Math.max(0, fraction));
  return lr * warm * (0.01 + 0.99 * 0.5 * (1 + Math.cos(Math.PI * f)));
}

/** Trains `network` for `seconds` of wall-clock time and calibrates its batch norm. */
export async function trainForTime(o: TimedTrainOptions): Promise<TimedTrainResult> {
  const net = o.network;
  const batch = o.batch ?? 16;
  const optimizer = o.optimizer ?? 'sgd';
  const lr = o.lr ?? (optimizer === 'sgd' ? 0.02 : 0.003);
  const warmup = o.warmupSteps ?? 50;
  const size = net.inputSize.width;
  if (o.samples.length < batch) throw new Error(`trainForTime: ${o.samples.length} training images, fewer than one batch of ${batch}`);
  const priors = generatePriors(net.priors);
  const started = performance.now();
  const elapsed = (): number => (performance.now() - started) / 1000;
  const loader = await DataLoader.create({ samples: o.samples, batchSize: batch, inputSize: size, priors, matchThreshold: o.matchThreshold ?? 0.5, augment: o.augment ?? true, shuffle: true, dropLast: true, seed: o.seed ?? 0, workers: o.workers ?? 1 });
  // The training graph normalises with batch statistics; the mode only matters while the graph is built.
  const before = net.norm?.mode;
  if (net.norm) net.norm.mode = 'train';
  let session: StepSession | AdamWSession;
  try {
    session =
      optimizer === 'sgd'
        ? await StepSession.create(net, o.weights, batch, { momentum: o.momentum ?? 0.9, weightDecay: o.weightDecay ?? 5e-4, clipGradNorm: o.clipGradNorm ?? 10, threads: o.threads, loss: o.loss })
        : await AdamWSession.create(net, o.weights, batch, { weightDecay: o.weightDecay ?? 0.01, threads: o.threads, loss: o.loss });
  } finally {
    if (net.norm) net.norm.mode = before!;
  }
  const progress = o.progress === false ? undefined : new Progress(o.progress ?? process.stderr, 15_000);
  const log = o.metricsPath ? new MetricsLog(o.metricsPath) : undefined;
  let steps = 0, images = 0, epoch = 0;
  const recent: number[] = [];
  let emaStep = NaN;
  try {
    let last = performance.now();
    outer: for (;;) {
      for await (const b of loader.epoch(epoch)) {
        const rate = timedLr(lr, steps, elapsed() / o.seconds, warmup);
        const out = await session.step({ size: b.size, images: b.images, trueClasses: b.trueClasses!, trueLocs: b.trueLocs! }, rate);
        if (!Number.isFinite(out.loss)) throw new Error(`training diverged: loss ${out.loss} at step ${steps + 1} (lr ${rate}); try a lower lr`);
        const now = performance.now();
        const dt = (now - last) / 1000;
        last = now;
        emaStep = Number.isNaN(emaStep) ? dt : 0.9 * emaStep + 0.1 * dt;
        steps++;
        images += b.size;
        recent.push(out.loss);
        if (recent.length > 20) recent.shift();
        log?.append({ type: 'step', step: steps, epoch, loss: out.loss, loc_loss: out.loc_loss, conf_loss: out.conf_loss, lr: rate, images_per_s: b.size / dt, time: new Date().toISOString() });
        const left = Math.max(0, o.seconds - elapsed());
        const total = steps + Math.round(left / emaStep);
        progress?.update({ step: steps, total, epoch, loss: out.loss, locLoss: out.loc_loss, confLoss: out.conf_loss, lr: rate, imagesPerSecond: b.size / emaStep, etaSeconds: left });
        if (left <= 0) break outer;
      }
      epoch++;
    }
  } finally {
    progress?.done();
    log?.close();
    await loader.close();
  }
  const seconds = elapsed();
  const trained = session.parameters();
  await session.release();
  const weights = new Map<string, Float32Array>();
  for (const spec of net.parameters()) weights.set(spec.name, trained.get(spec.name) ?? o.weights.get(spec.name)!.slice());
  if (net.hasBatchNorm) {
    const n = Math.min(o.calibrationImages ?? 512, o.samples.length);
    const calib = await DataLoader.create({ samples: o.samples.slice(0, n), batchSize: Math.min(32, n), inputSize: size, augment: false, shuffle: false, workers: o.workers ?? 1 });
    try {
      const stats = await calibrateBatchNorm(net, weights, calib.epoch(0), { threads: o.threads });
      for (const [k, v] of stats) if (isBuffer(k)) weights.set(k, v);
    } finally {
      await calib.close();
    }
  }
  return { weights, steps, seconds, images, finalLoss: recent.reduce((a, b) => a + b, 0) / Math.max(1, recent.length) };
}
