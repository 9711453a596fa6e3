// What a training run does around its steps, as hooks the loop calls (src/train/loop.ts): the metrics log, the
// progress line, periodic evaluation, checkpoints and the report. `train()` runs the built-in ones in that order,
// then the ones its caller passes as its second argument.
import { basename, relative } from 'node:path';
import { GOOD_PRIOR_FIT, measurePriorFit } from '../boxes/prior-fit.js';
import type { SkippedSample } from '../data/loader.js';
import type { Evaluation } from '../eval/types.js';
import { SSD } from '../nn/model.js';
import { saveCheckpoint, type NamedTensor } from './checkpoint.js';
import { evaluateModel } from './evaluate.js';
import { readMetricsLog } from './metrics-log.js';
import { formatDuration } from './progress.js';
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
  /** Training images found since the last step that cannot be decoded and are left out (skipBad). */
  skipped: readonly SkippedSample[];
}

/** Something a run does at these points of its loop; every method is optional and may be async. */
export interface TrainHook {
  /** Once, before the first step (of this invocation, for a resumed run). */
  beforeRun?(run: TrainingRun): void | Promise<void>;
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

/** One line per step in metrics.jsonl, and one per training image left out (named in the progress output too). */
export function metricsHook(): TrainHook {
  return {
    afterStep(run, e) {
      const { losses } = e;
      const time = new Date().toISOString();
      return writing(run, run.files.metrics, () => {
        for (const bad of e.skipped) {
          run.say(`skipped ${bad.message} (--skip-bad)`);
          run.log.append({ type: 'skip', step: e.step, epoch: e.epoch, file: bad.imagePath, message: bad.message, time });
        }
        run.log.append({ type: 'step', step: e.step, epoch: e.epoch, loss: losses.loss, loc_loss: losses.loc_loss, conf_loss: losses.conf_loss, lr: e.lr, images_per_s: e.images / e.seconds, time });
      });
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

/** Object counts per class of a dataset, in class order. */
function objectsPerClass(dataset: TrainingRun['dataset']): number[] {
  const counts = new Array<number>(dataset.classNames.length).fill(0);
  for (const s of dataset.samples) for (const l of s.labels) counts[l - 1]!++;
  return counts;
}

/**
 * How well the model's priors fit the training objects (src/boxes/prior-fit.ts), in a line, and a second one
 * pointing to `ssd priors` when the fit is poor.
 */
function priorFitLines(run: TrainingRun): string[] {
  const { dataset: d, options: s, config } = run;
  const fit = measurePriorFit(config.priors, d.samples, { threshold: s.matchThreshold, ignoreDifficult: d.format === 'coco' });
  if (fit.objects === 0) return [];
  const lines = [
    `  priors: ${fit.matched} of ${fit.objects} objects (${(100 * fit.matchedShare).toFixed(1)}%) reach IoU ${s.matchThreshold} with a prior of ${config.architecture} (best IoU median ${fit.medianBestIou.toFixed(2)})` +
      (fit.unreached > 0 ? `; ${fit.unreached} reach none` : ''),
  ];
  if (fit.matchedShare < GOOD_PRIOR_FIT && s.data !== undefined) {
    const shown = (p: string): string => (relative(process.cwd(), p).startsWith('..') ? p : relative(process.cwd(), p));
    const data = (Array.isArray(s.data) ? s.data : [s.data]).map((p) => `--data ${shown(p)}`).join(' ');
    const model = s.init !== undefined ? `--weights ${s.init}` : `--model ${config.architecture}${s.inputSize !== undefined ? ` --input-size ${s.inputSize}` : ''}`;
    lines.push(`  a poor fit: ssd priors ${model} ${data}${s.split !== undefined ? ` --split ${s.split}` : ''} names those objects and suggests priors that fit them`);
  }
  return lines;
}

/** Models that train on a CPU in minutes to hours, suggested when a VGG model's run would take days. */
const LIGHT_MODELS = ['ssd-tiny', 'ssdlite320-mobilenetv2'];

/**
 * The dataset summary and the plan before the first step (images, objects per class, skipped samples; model,
 * input, budget, optimizer, evaluation), then after the second step the time the run will take on this machine,
 * with a lighter model suggested when a VGG model's run would take more than a day.
 */
export function summaryHook(): TrainHook {
  let steps = 0;
  return {
    beforeRun(run) {
      const { dataset: d, options: s, config, network, state } = run;
      const counts = objectsPerClass(d);
      const objects = counts.reduce((a, b) => a + b, 0);
      run.say(`data: ${String(s.data ?? 'in memory')} (${d.format}${s.split ? `, split ${s.split}` : ''}): ${d.samples.length} images, ${objects} objects` + (d.skipped > 0 ? `, ${d.skipped} skipped (--skip-bad)` : ''));
      run.say(`  objects per class: ${d.classNames.map((n, i) => `${n} ${counts[i]}`).join(', ')}`);
      const empty = d.classNames.filter((_, i) => counts[i] === 0);
      if (empty.length > 0) run.say(`  no training objects for: ${empty.join(', ')} (the model cannot learn them)`);
      priorFitLines(run).forEach((line) => run.say(line));
      const params = network.trainableParameters().reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
      const budget = run.totalSteps !== undefined ? `${run.totalSteps} steps (${(run.totalSteps / run.loader.batchesPerEpoch).toFixed(1)} epochs)` : `${s.minutes} min`;
      const evaluation = run.validation
        ? `${s.metric} on ${run.validation.samples.length} validation images ${s.evalEverySteps > 0 ? `every ${s.evalEverySteps} steps` : `every ${s.evalEvery === 1 ? '' : `${s.evalEvery} `}epoch${s.evalEvery === 1 ? '' : 's'}`}, keeping best.safetensors`
        : 'none (no validation split found: give --val-data or --val-split)';
      run.say(
        `plan: ${config.architecture} at ${config.inputSize.width}x${config.inputSize.height} (${network.priorCount} priors, ${(params / 1e6).toFixed(2)} M parameters), batch ${s.batch}, ` +
          `${budget}${state.step > 0 ? ` from step ${state.step}` : ''}, ${s.optimizer} lr ${s.lr} (${s.schedule} schedule); evaluation: ${evaluation}`,
      );
    },
    afterStep(run, e) {
      // The first step warms the session up; the second shows the pace.
      if (++steps !== 2) return;
      const left = run.totalSteps !== undefined ? (run.totalSteps - run.state.step) * e.seconds : run.budgetSeconds! - (run.state.seconds ?? 0);
      run.say(`speed: ${e.seconds.toFixed(2)} s a step (${(e.images / e.seconds).toFixed(1)} images/s): about ${formatDuration(left)} to go on this machine`);
      if (run.totalSteps !== undefined && left > 24 * 3600 && !LIGHT_MODELS.includes(run.config.architecture)) {
        run.say(`  that is long for this machine: ${LIGHT_MODELS.join(' or ')} (--model) train far faster on a CPU, or bound the run with --minutes`);
      }
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
      const { evaluation, skipped } = await evaluateModel(model, run.validation!, { metric: s.metric, batch: s.batch, workers: run.machine.workers, skipBad: s.skipBad });
      for (const bad of skipped) run.say(`evaluation skipped ${bad.message} (--skip-bad)`);
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
    async afterStep(run) {
      const every = run.options.evalEverySteps ?? 0;
      if (every > 0 && run.validation && run.state.step % every === 0) await evaluate(run);
    },
    async afterEpoch(run) {
      const every = run.options.evalEvery;
      if (every > 0 && run.validation && run.state.epoch % every === 0 && latest.step !== run.state.step) await evaluate(run);
    },
    async afterLastStep(run) {
      if (run.validation && latest.step !== run.state.step) await evaluate(run);
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
