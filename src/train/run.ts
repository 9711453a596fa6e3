// A training run's setup: a new run from options, or a resumed one from its last checkpoint. `openRun` gathers
// everything the loop and the hooks share (src/train/trainer.ts composes them).
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generatePriors } from '../boxes/priors.js';
import { DataLoader } from '../data/loader.js';
import { loadDataset } from '../data/dataset.js';
import type { Dataset, Sample } from '../data/types.js';
import { AdamW, SGD, type Optimizer } from '../graph/index.js';
import { completeWeights } from '../nn/calibrate.js';
import type { ModelConfig } from '../nn/config.js';
import { loadPretrainedBase } from '../nn/import/index.js';
import { initWeights } from '../nn/layers.js';
import { SSD } from '../nn/model.js';
import { buildNetwork, modelConfig as configFor } from '../nn/models/index.js';
import type { SSDNetwork } from '../nn/ssd.js';
import { loadCheckpoint, removeStaleTemporaries, type TrainState } from './checkpoint.js';
import { NonFiniteLossError } from './errors.js';
import { MetricsLog } from './metrics-log.js';
import { resolveOptions, type RunOptions, type TrainOptions } from './options.js';
import { Progress } from './progress.js';
import { cosineSchedule, stepDecaySchedule, type LrSchedule } from './schedule.js';
import { StepSession } from './session.js';

/** The files of a run folder. */
export interface RunFiles {
  dir: string;
  /** The latest checkpoint (weights, optimizer state, loader position, options); also a model file. */
  last: string;
  /** The model file of the best evaluation so far. */
  best: string;
  /** One JSON line per step and per evaluation. */
  metrics: string;
  report: string;
  /** The resolved options, for people to read (the checkpoint holds the ones resume uses). */
  options: string;
}

/** What the loop and the hooks share. */
export interface TrainingRun {
  readonly options: RunOptions;
  readonly files: RunFiles;
  readonly config: ModelConfig;
  readonly network: SSDNetwork;
  readonly dataset: Dataset;
  /** The validation split, when the run evaluates. */
  readonly validation: Dataset | undefined;
  readonly loader: DataLoader;
  readonly session: StepSession;
  readonly schedule: LrSchedule;
  /** Where the run stands; the loop advances it. */
  readonly state: TrainState;
  /** The run's length in steps, or undefined for a time budget. */
  readonly totalSteps: number | undefined;
  /** The run's time budget in seconds, or undefined. */
  readonly budgetSeconds: number | undefined;
  readonly log: MetricsLog;
  readonly progress: Progress | undefined;
  /** ONNX Runtime threads and loader workers, as given (not stored: they change no number). */
  readonly machine: { threads?: number; workers?: number };
  /** Prints a line that stays (above the progress bar). */
  say(line: string): void;
  /** The model-file weights at the current step: trained parameters plus batch-norm statistics; cached per step. */
  weights(): Promise<Map<string, Float32Array>>;
  /** The step of the last checkpoint written, or -1. */
  savedStep: number;
  /** The base learning rate of the last step. */
  lr: number;
  /** Releases the session and the loaders. */
  close(): Promise<void>;
}

/** The automatic evaluation's interval, in steps, when an epoch is longer than this. */
const AUTO_EVAL_STEPS = 2000;

/** Files that make a folder a run: starting a new run there would mix two runs. */
const RUN_FILES = ['last.safetensors', 'best.safetensors', 'metrics.jsonl', 'report.html', 'options.json'] as const;

/** The run folder's files. */
export function runFiles(out: string): RunFiles {
  const dir = resolve(out);
  return { dir, last: join(dir, 'last.safetensors'), best: join(dir, 'best.safetensors'), metrics: join(dir, 'metrics.jsonl'), report: join(dir, 'report.html'), options: join(dir, 'options.json') };
}

/** The optimizer a run's options ask for. */
function optimizerOf(s: RunOptions): { optimizer: Optimizer; lrMultipliers: Record<string, number> } {
  if (s.optimizer === 'adamw') return { optimizer: new AdamW({ weightDecay: s.weightDecay ?? 0.01 }), lrMultipliers: {} };
  return { optimizer: new SGD({ momentum: s.momentum ?? 0.9, weightDecay: s.weightDecay ?? 5e-4 }), lrMultipliers: { weight: 1, bias: 2 } };
}

/** A sample without its difficult (COCO crowd) objects. */
function withoutDifficult(sample: Sample): Sample {
  if (!sample.difficult.some((d) => d !== 0)) return sample;
  const keep: number[] = [];
  sample.difficult.forEach((d, i) => d === 0 && keep.push(i));
  const boxes = new Float32Array(4 * keep.length);
  keep.forEach((k, j) => boxes.set(sample.boxes.subarray(4 * k, 4 * k + 4), 4 * j));
  const kept: Sample = { ...sample, boxes, labels: Int32Array.from(keep, (k) => sample.labels[k]!), difficult: new Uint8Array(keep.length) };
  if (sample.crowd) kept.crowd = new Uint8Array(keep.length);
  if (sample.area) kept.area = Float64Array.from(keep, (k) => sample.area![k]!);
  return kept;
}

/** The validation split: `valDataset`, or `valData` (default the training data) with `valSplit` (default per format). */
async function loadValidation(s: RunOptions, o: TrainOptions, train: Dataset): Promise<Dataset> {
  if (o.valDataset) return o.valDataset;
  const path = s.valData ?? s.data;
  if (path === undefined) throw new Error('train: evaluation needs validation data (valData or valDataset) when the training data is given in memory');
  const split = s.valSplit ?? (train.format === 'voc' ? 'test' : train.format === 'yolo' ? 'val' : undefined);
  if (s.valData === undefined && train.format === 'coco') {
    throw new Error('train: evaluation on a COCO dataset needs the validation annotations (valData / --val-data instances_val.json)');
  }
  const ds = await loadDataset(path, { split, skipBad: s.skipBad, classNames: train.classNames });
  if (ds.samples.length === 0) throw new Error(`train: the validation split '${split}' of ${String(path)} has no images`);
  return ds;
}

/** Refuses to start a new run in a folder that holds one, unless `existOk` (which removes that run's files). */
function claimRunFolder(files: RunFiles, existOk: boolean): void {
  mkdirSync(files.dir, { recursive: true });
  const present = RUN_FILES.filter((f) => existsSync(join(files.dir, f)));
  if (present.length === 0) return;
  if (!existOk) {
    throw new Error(
      `train: ${files.dir} already holds a run (${present.join(', ')}). Continue it with --resume, start over there with --exist-ok ` +
        '(its files are removed first), or give another --out',
    );
  }
  for (const f of present) rmSync(join(files.dir, f), { force: true });
}

/** Sets up a run: a new one from `o`, or the one in `o.out` resumed from its last checkpoint. */
export async function openRun(o: TrainOptions): Promise<TrainingRun> {
  const files = runFiles(o.out);
  const progress = o.progress === false ? undefined : new Progress(o.progress ?? process.stderr);
  const say = (line: string): void => progress?.log(line);

  // The options, the state and the starting weights: fresh or from the checkpoint.
  let s: RunOptions;
  let state: TrainState;
  let weights: Map<string, Float32Array> | undefined;
  let optimizerState: Map<string, Float32Array> | undefined;
  let config: ModelConfig | undefined;
  if (o.resume) {
    removeStaleTemporaries(files.last);
    if (!existsSync(files.last)) throw new Error(`train: nothing to resume in ${files.dir}: ${files.last} does not exist (a run writes it at each epoch's end, or every --save-every steps)`);
    const ckpt = loadCheckpoint(files.last);
    s = ckpt.trainConfig as unknown as RunOptions;
    // Only the length of the run may change on resume (the schedule then scales to the new length).
    if (o.iterations !== undefined || o.epochs !== undefined || o.minutes !== undefined) {
      s = { ...s, iterations: o.iterations, epochs: o.epochs, minutes: o.minutes };
    }
    state = ckpt.state;
    config = ckpt.modelConfig as ModelConfig;
    weights = new Map([...ckpt.parameters].map(([k, t]) => [k, t.data]));
    optimizerState = new Map([...ckpt.optimizer].map(([k, t]) => [k, t.data]));
    say(`resuming ${files.dir} at step ${state.step} (epoch ${state.epoch + 1}, batch ${state.batchInEpoch})`);
  } else {
    s = resolveOptions(o);
    claimRunFolder(files, o.existOk ?? false);
    state = { step: 0, epoch: 0, batchInEpoch: 0, seed: s.seed, seconds: 0 };
  }

  const dataset = o.dataset ?? (s.data !== undefined ? await loadDataset(s.data, { split: s.split, skipBad: s.skipBad }) : undefined);
  if (!dataset) throw new Error(`train: this run's data was given in memory; resume it with the same dataset`);
  if (dataset.skipped > 0) say(`skipped ${dataset.skipped} bad sample${dataset.skipped > 1 ? 's' : ''} (--skip-bad); first: ${dataset.problems[0] ? `${dataset.problems[0].file}: ${dataset.problems[0].message}` : ''}`);
  if (dataset.samples.length === 0) throw new Error(`train: ${String(s.data ?? 'the dataset')} has no training images`);

  // The model: its config, network and starting weights.
  if (!config) {
    if (s.init) {
      const init = await SSD.load(s.init);
      const want = ['background', ...dataset.classNames];
      if (init.config.classNames.join('\n') !== want.join('\n')) {
        throw new Error(`${s.init}: the model's classes (${init.config.classNames.slice(1).join(', ')}) are not the dataset's (${dataset.classNames.join(', ')})`);
      }
      config = init.config;
      weights = new Map(init.weights);
    } else {
      config = configFor(s.model, dataset.classNames, { inputSize: s.inputSize, width: s.width });
    }
  }
  const network = (o.network ?? buildNetwork)(config);
  if (!weights) {
    weights = initWeights(network.parameters(), s.seed);
    if (s.pretrainedBase) for (const [name, v] of loadPretrainedBase(s.pretrainedBase, network)) weights.set(name, v);
  }
  const { width, height } = config.inputSize;
  if (width !== height) throw new Error(`train: the loader makes square inputs, the model takes ${width}x${height}`);

  // COCO crowd regions (flagged difficult) are not objects to learn, as in torchvision's references; VOC's
  // difficult objects are kept, as the tutorial trains.
  const loader = await DataLoader.create({
    samples: dataset.format === 'coco' ? dataset.samples.map(withoutDifficult) : dataset.samples,
    batchSize: s.batch,
    inputSize: width,
    priors: generatePriors(config.priors),
    matchThreshold: s.matchThreshold,
    augment: s.augment,
    shuffle: s.shuffle,
    // The training graph's batch is static: an epoch's last short batch is padded with blank images (exact for
    // networks without batch normalisation, see StepSession.step); with batch norm it is dropped, and shuffling
    // spreads the dropped remainder over the epochs.
    dropLast: network.hasBatchNorm,
    seed: s.seed,
    workers: o.workers,
    normalization: config.normalization,
    skipBad: s.skipBad,
    skipIds: state.skippedIds ?? [],
  });
  if (loader.batchesPerEpoch === 0) {
    await loader.close();
    throw new Error(`train: ${dataset.samples.length} training images make no full batch of ${s.batch} (${network.architecture} has batch norm, so short batches are dropped); lower --batch`);
  }
  const totalSteps = s.minutes !== undefined ? undefined : (s.iterations ?? s.epochs! * loader.batchesPerEpoch);
  const schedule =
    s.schedule === 'cosine'
      ? cosineSchedule({ baseLr: s.lr, warmupSteps: s.warmup, warmupStartFactor: s.warmupStartFactor, finalFactor: s.finalLrFactor })
      : stepDecaySchedule({ baseLr: s.lr, totalSteps: totalSteps!, milestones: s.milestones, factor: s.decayFactor, warmupSteps: s.warmup, warmupStartFactor: s.warmupStartFactor });
  // An epoch of more than 2000 steps is too long to wait for the automatic evaluation: evaluate by steps instead.
  if (!o.resume && o.evalEvery === undefined && s.evalEvery === 1 && s.evalEverySteps === 0 && loader.batchesPerEpoch > AUTO_EVAL_STEPS) {
    s.evalEvery = 0;
    s.evalEverySteps = AUTO_EVAL_STEPS;
  }
  const validation = s.evalEvery > 0 || s.evalEverySteps > 0 ? await loadValidation(s, o, dataset) : undefined;

  const { optimizer, lrMultipliers } = optimizerOf(s);
  const session = await StepSession.create(network, weights, s.batch, { optimizer, lrMultipliers, clipGradNorm: s.clipGradNorm, loss: s.loss, threads: o.threads });
  if (optimizerState) session.setOptimizerState(optimizerState);
  session.stepCount = state.step;

  const log = new MetricsLog(files.metrics, o.resume ? { resumeFromStep: state.step } : {});
  writeFileSync(files.options, JSON.stringify({ ...s, totalSteps, batchesPerEpoch: loader.batchesPerEpoch, model: config }, null, 2) + '\n');

  // Batch-norm statistics from training images (no augmentation), for model files and evaluation.
  let calibration: DataLoader | undefined;
  let completedAt = -1;
  let completed: Map<string, Float32Array> = weights;
  // Buffers (batch-norm statistics) as last computed; the session trains the parameters only.
  let buffers: Map<string, Float32Array> = weights;
  const run: TrainingRun = {
    options: s,
    files,
    config,
    network,
    dataset,
    validation,
    loader,
    session,
    schedule,
    state,
    totalSteps,
    budgetSeconds: s.minutes !== undefined ? s.minutes * 60 : undefined,
    log,
    progress,
    machine: { threads: o.threads, workers: o.workers },
    say,
    savedStep: o.resume ? state.step : -1,
    lr: NaN,
    async weights() {
      if (completedAt === state.step) return completed;
      const n = Math.min(s.calibrationImages, dataset.samples.length);
      const batches = async function* (): AsyncGenerator<{ images: Float32Array; size: number }> {
        // Statistics over up to n images: one that cannot be decoded is left out here whatever skipBad says (the
        // training loader applies that choice).
        calibration ??= await DataLoader.create({ samples: dataset.samples.slice(0, n), batchSize: Math.min(32, n), inputSize: width, augment: false, shuffle: false, workers: o.workers, normalization: config!.normalization, skipBad: true });
        yield* calibration.epoch(0);
      };
      completed = await completeWeights(network, session.parameters(), buffers, batches, o.threads === undefined ? {} : { threads: o.threads });
      // The loss of a step is computed before its update: a diverging update shows only in the weights.
      for (const [name, v] of completed) {
        for (let i = 0; i < v.length; i++) {
          if (!Number.isFinite(v[i]!)) {
            throw new NonFiniteLossError(
              `the weights became non-finite (${name}[${i}] = ${v[i]}) in step ${state.step} (lr ${run.lr}). ` +
                `Stopped without saving: ${lastGood(run)}. Try a lower --lr, --warmup or --clip-grad.`,
            );
          }
        }
      }
      buffers = completed;
      completedAt = state.step;
      return completed;
    },
    async close() {
      log.close();
      progress?.done();
      await loader.close();
      await calibration?.close();
      await session.release();
    },
  };
  return run;
}

/** Where the last good checkpoint is, for messages about a run that cannot go on. */
export function lastGood(run: TrainingRun): string {
  return run.savedStep >= 0 ? `the last good checkpoint is ${run.files.last} (step ${run.savedStep})` : 'no checkpoint was written yet';
}
