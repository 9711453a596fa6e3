// What a training run does around its steps, as hooks the loop calls (src/train/loop.ts): the metrics log, the
// progress line, periodic evaluation, checkpoints and the report. `train()` runs the built-in ones in that order;
// callers add their own with TrainOptions.hooks.
import { basename } from 'node:path';
import type { Evaluation } from '../eval/types.js';
import { SSD } from '../nn/model.js';
import { saveCheckpoint, type NamedTensor } from './checkpoint.js';
import { evaluateModel } from './evaluate.js';
import { readMetricsLog } from './metrics-log.js';
import { writeReport } from './report.js';
import type { TrainingRun } from './run.js';
import type { StepLosses } from './session.js';

/** One finished step. */
export interface StepEvent {
  /** Steps done, this one included (1-based). */
  step: number;
  /** The 0-based epoch the batch came from. */
  epoch: number;
  /** Images in the batch. */
  images: number;
  losses: StepLosses;
  /** The base learning rate used. */
  lr: number;
  /** Wall-clock seconds of this step, waiting for data included. */
  seconds: number;
}

/** Something a run does at these points of its loop; every method is optional and may be async. */
export interface TrainHook {
  /** After every step. */
  afterStep?(run: TrainingRun, event: StepEvent): void | Promise<void>;
  /** After the last step of an epoch (`run.state.epoch` already names the next one). */
  afterEpoch?(run: TrainingRun, epoch: number): void | Promise<void>;
  /** After the run's last step, before its final checkpoint. */
  afterLastStep?(run: TrainingRun): void | Promise<void>;
  /** Where the run is kept: each epoch's end, every `saveEvery` steps, a stop and the end. */
  checkpoint?(run: TrainingRun): void | Promise<void>;
  /** Once, when the loop is over (finished or stopped). */
  afterRun?(run: TrainingRun, outcome: { stopped: boolean }): void | Promise<void>;
}

/**
 * The error to report when writing `file` at `step` failed with a system error (ENOSPC, EACCES, EISDIR, ...): it
 * names the file and the step and says what the user can do. Other errors are returned as they are.
 */
export function writeFailure(error: unknown, file: string, step: number): unknown {
  const err = error as NodeJS.ErrnoException;
  if (typeof err?.code !== 'string') return error;
  const hint = err.code === 'ENOSPC' ? 'the disk is full: free some space, then continue with --resume' : 'check the folder and its permissions, then continue with --resume';
  return new Error(`train: writing ${file} at step ${step} failed: ${err.message}; ${hint}`);
}

/** Runs `fn`, which writes `file`; a system error is rethrown as {@link writeFailure} says. */
async function writing<T>(run: TrainingRun, file: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw writeFailure(e, file, run.state.step);
  }
}

/** One line per step in metrics.jsonl. */
export function metricsHook(): TrainHook {
  return {
    afterStep(run, e) {
      const { losses } = e;
      return writing(run, run.files.metrics, () =>
        run.log.append({ type: 'step', step: e.step, epoch: e.epoch, loss: losses.loss, loc_loss: losses.loc_loss, conf_loss: losses.conf_loss, lr: e.lr, images_per_s: e.images / e.seconds, time: new Date().toISOString() }),
      );
    },
  };
}

/** The progress line: steps (and the share of the run, by steps or by time), loss, rate, throughput, time left. */
export function progressHook(): TrainHook {
  let stepTime = NaN;
  return {
    afterStep(run, e) {
      if (!run.progress) return;
      stepTime = Number.isNaN(stepTime) ? e.seconds : 0.9 * stepTime + 0.1 * e.seconds;
      const { state, totalSteps, budgetSeconds } = run;
      const fraction = totalSteps !== undefined ? state.step / totalSteps : (state.seconds ?? 0) / budgetSeconds!;
      const eta = totalSteps !== undefined ? (totalSteps - state.step) * stepTime : Math.max(0, budgetSeconds! - (state.seconds ?? 0));
      run.progress.update({
        step: state.step,
        total: totalSteps,
        fraction,
        epoch: e.epoch,
        loss: e.losses.loss,
        locLoss: e.losses.loc_loss,
        confLoss: e.losses.conf_loss,
        lr: e.lr,
        imagesPerSecond: e.images / stepTime,
        etaSeconds: eta,
      });
    },
  };
}

/** The latest evaluation of a run, shared by the evaluation and report hooks. */
export interface LatestEvaluation {
  evaluation: Evaluation | undefined;
  step: number | undefined;
}

/**
 * Evaluation on the validation split every `evalEvery` epochs and after the last step; keeps best.safetensors
 * (the model file of the best mAP so far) and an `eval` line in metrics.jsonl.
 */
export function evaluationHook(latest: LatestEvaluation): TrainHook {
  const evaluate = async (run: TrainingRun): Promise<void> => {
    const { state, options: s } = run;
    const model = SSD.create(run.config, { weights: await run.weights(), threads: run.machine.threads });
    try {
      const { evaluation } = await evaluateModel(model, run.validation!, { metric: s.metric, batch: s.batch, workers: run.machine.workers });
      const map = evaluation.map ?? 0;
      const ap: Record<string, number> = {};
      evaluation.classNames.forEach((n, i) => (ap[n] = evaluation.apPerClass[i] ?? NaN));
      // The epoch of the last step (state.epoch has moved on when that step ended an epoch).
      const epoch = state.batchInEpoch === 0 ? state.epoch - 1 : state.epoch;
      run.log.append({ type: 'eval', step: state.step, epoch, metric: s.metric, map, ap_per_class: ap, time: new Date().toISOString() });
      latest.evaluation = evaluation;
      latest.step = state.step;
      const better = !state.best || map > state.best.map;
      run.say(`eval at step ${state.step}: mAP (${s.metric}) ${map.toFixed(4)}${better ? ' (best so far, saved best.safetensors)' : ''}`);
      if (better) {
        state.best = { metric: s.metric, map, step: state.step, epoch };
        await writing(run, run.files.best, () => model.save(run.files.best));
      }
    } finally {
      await model.dispose();
    }
  };
  return {
    async afterEpoch(run) {
      const every = run.options.evalEvery;
      if (every > 0 && run.validation && run.state.epoch % every === 0) await evaluate(run);
    },
    async afterLastStep(run) {
      if (run.options.evalEvery > 0 && run.validation && latest.step !== run.state.step) await evaluate(run);
    },
  };
}

/** last.safetensors: weights, optimizer state, loader position and options, written atomically. */
export function checkpointHook(): TrainHook {
  return {
    async checkpoint(run) {
      const all = await run.weights();
      const parameters = new Map<string, NamedTensor>();
      for (const spec of run.network.parameters()) parameters.set(spec.name, { shape: spec.shape, data: all.get(spec.name)! });
      const optimizer = new Map([...run.session.optimizerState()].map(([k, v]): [string, NamedTensor] => [k, { shape: [v.length], data: v }]));
      await writing(run, run.files.last, () =>
        saveCheckpoint(run.files.last, { parameters, optimizer, state: run.state, modelConfig: run.config, trainConfig: run.options as unknown as Record<string, unknown> }),
      );
      run.savedStep = run.state.step;
    },
  };
}

/** report.html after each checkpoint and at the end: loss curves, mAP over time, AP per class, precision-recall. */
export function reportHook(latest: LatestEvaluation): TrainHook {
  const write = (run: TrainingRun): Promise<void> => {
    const s = run.options;
    const facts = {
      model: s.model,
      data: `${String(s.data ?? 'in memory')} (${run.dataset.samples.length} images, ${run.dataset.classNames.length} classes)`,
      batch: s.batch,
      'base lr': s.lr,
      ...(run.totalSteps !== undefined ? { 'total steps': run.totalSteps } : { 'time budget': `${s.minutes} min` }),
    };
    return writing(run, run.files.report, () =>
      writeReport(run.files.report, { title: `ssd-ts run ${basename(run.files.dir)}`, records: readMetricsLog(run.files.metrics), evaluation: latest.evaluation, evaluationStep: latest.step, facts }),
    );
  };
  return { checkpoint: write, afterRun: write };
}
