/**
 * `train(options)`: trains an SSD on a dataset, the way the SSD300 tutorial does by default (SGD with momentum
 * 0.9, weight decay 5e-4, biases at twice the rate, step decay at 80k and 100k of 120k iterations, scaled to the
 * run), or with AdamW, a cosine schedule over steps or over a time budget; with a parallel loader, a progress
 * line, a metrics log, periodic evaluation, atomic checkpoints that resume exactly, and an HTML report.
 *
 * A run folder holds:
 * - `last.safetensors`: the latest checkpoint (weights, optimizer state, loader position, options); also a model
 *   file for `ssd eval --weights`;
 * - `best.safetensors`: the model file of the best evaluation so far (with `evalEvery`);
 * - `metrics.jsonl`: one line per step and per evaluation;
 * - `report.html`: loss curves, mAP over time, AP per class and precision-recall curves.
 *
 * The parts: src/train/run.ts sets a run up (new or resumed), src/train/loop.ts steps it, src/train/hooks.ts
 * does the rest (metrics, progress, evaluation, checkpoints, report).
 */
import type { TrainState } from './checkpoint.js';
import { checkpointHook, evaluationHook, metricsHook, progressHook, reportHook, summaryHook, type LatestEvaluation, type TrainHook } from './hooks.js';
import { runLoop } from './loop.js';
import type { TrainOptions } from './options.js';
import { formatDuration } from './progress.js';
import { openRun } from './run.js';

/** What {@link train} returns. */
export interface TrainResult {
  runDir: string;
  /** Steps done in total (resumed runs included). */
  steps: number;
  lastCheckpoint: string;
  /** The best model file, when an evaluation ran. */
  bestModel?: string;
  best?: TrainState['best'];
  /** Mean loss of the last 10 steps. */
  finalLoss: number;
  metricsPath: string;
  reportPath: string;
  /** Training seconds of this invocation (evaluation and checkpoints apart). */
  trainSeconds: number;
  /** Images trained on in this invocation. */
  images: number;
  /** Mean training throughput of this invocation: images / trainSeconds (data waits included). */
  imagesPerSecond: number;
  /** True when `signal` stopped the run before its last step. */
  stopped: boolean;
  /** What the data loader could deliver (images per second of its threads' time, times its threads): compare with `imagesPerSecond`. */
  loaderImagesPerSecond: number;
}

/**
 * Trains a model and writes the run folder (see the file header). Resolves when the run is done; rejects with a
 * NonFiniteLossError when the loss diverges (the last checkpoint stays intact), or with an error naming the
 * file or option at fault. A folder that already holds a run is refused unless `resume` or `existOk`. `hooks` run
 * after the built-in ones (src/train/hooks.ts).
 */
export async function train(options: TrainOptions, hooks: readonly TrainHook[] = []): Promise<TrainResult> {
  const run = await openRun(options);
  const latest: LatestEvaluation = { evaluation: undefined, step: undefined };
  const all = [summaryHook(), metricsHook(), progressHook(), evaluationHook(latest), checkpointHook(), ...(options.report === false ? [] : [reportHook(latest)]), ...hooks];
  let outcome;
  let loaderImagesPerSecond = NaN;
  try {
    outcome = await runLoop(run, all, options.signal);
  } finally {
    loaderImagesPerSecond = run.loader.capacity();
    await run.close();
  }
  const { state, files } = run;
  const total = run.totalSteps !== undefined ? ` of ${run.totalSteps}` : '';
  const throughput = outcome.images / Math.max(outcome.seconds, 1e-9);
  run.say(
    `${outcome.stopped ? `stopped at step ${state.step}${total} (continue with --resume)` : 'done'}: ${state.step} steps, ${formatDuration(outcome.seconds)} of training; checkpoint ${files.last}` +
      `${state.best ? `, best mAP ${state.best.map.toFixed(4)} at step ${state.best.step} (${files.best})` : ''}; report ${files.report}; ` +
      `training ${throughput.toFixed(2)} img/s, loader capacity ${loaderImagesPerSecond.toFixed(1)} img/s`,
  );
  return {
    runDir: files.dir,
    steps: state.step,
    lastCheckpoint: files.last,
    bestModel: state.best ? files.best : undefined,
    best: state.best,
    finalLoss: outcome.recentLosses.reduce((a, b) => a + b, 0) / Math.max(1, outcome.recentLosses.length),
    metricsPath: files.metrics,
    reportPath: files.report,
    trainSeconds: outcome.seconds,
    images: outcome.images,
    imagesPerSecond: throughput,
    stopped: outcome.stopped,
    loaderImagesPerSecond,
  };
}
