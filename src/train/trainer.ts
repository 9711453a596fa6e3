/**
 * `train(options)`: trains an SSD on a dataset, the way the SSD300 tutorial does (SGD with momentum
 * 0.9, weight decay 5e-4, biases at twice the rate, step decay at 80k and 100k of 120k iterations,
 * scaled to the run), with a parallel loader, a progress bar, a metrics log, periodic evaluation,
 * atomic checkpoints that resume exactly, and an HTML report.
 *
 * A run folder holds:
 * - `last.safetensors`: the latest checkpoint (weights, momentum, loader position, options); also a model file
 *   for `ssd eval --weights`;
 * - `best.safetensors`: the model file of the best evaluation so far (with `evalEvery`);
 * - `metrics.jsonl`: one line per step and per evaluation;
 * - `report.html`: loss curves, mAP over time, AP per class and precision-recall curves.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { DataLoader } from '../data/loader.js';
import { loadDataset } from '../data/dataset.js';
import type { Dataset } from '../data/types.js';
import type { Evaluation, Metric } from '../eval/types.js';
import { generatePriors } from '../boxes/priors.js';
import { loadPretrainedBase } from '../io/import.js';
import type { SSDNetwork } from '../nn/ssd.js';
import { loadCheckpoint, removeStaleTemporaries, saveCheckpoint, type NamedTensor, type TrainState } from './checkpoint.js';
import { evaluateModel } from './evaluate.js';
import { buildNetwork, completeWeights, hasBatchNorm, initialWeights, modelConfig as zooConfig, modelNames, type ModelConfig } from './model.js';
import { SSD } from '../nn/model.js';
import { MetricsLog, readMetricsLog } from './metrics-log.js';
import { Progress, formatDuration, type ProgressStream } from './progress.js';
import { writeReport } from './report.js';
import { stepDecaySchedule } from './schedule.js';
import { StepSession } from './session.js';

/** Options of {@link train}. Defaults follow the SSD300 tutorial. */
export interface TrainOptions {
  /** Dataset: a VOC root (or several, joined), a COCO instances JSON, or a YOLO data.yaml. */
  data: string | string[];
  /** Training split. Default: the reader's default (VOC 'trainval', YOLO 'train'). */
  split?: string;
  /** The run folder (created). */
  out: string;
  /** Model name from the zoo: 'ssd300' (default), 'ssd-tiny', ... */
  model?: string;
  /** Input side in pixels, for models that take several (ssd-tiny: a multiple of 32 from 96). Default: the model's. */
  inputSize?: number;
  /** Channel width multiplier, for models that have one (ssd-tiny). Default 1. */
  width?: number;
  /** Start from the weights of this model file (its classes must be the dataset's). */
  init?: string;
  /**
   * Start SSD300's VGG-16 base from ImageNet weights: torchvision's vgg16 `.pth`, or a file written by
   * `ssd import --from vgg16` (the tutorial's start). The other layers start from `seed`.
   */
  pretrainedBase?: string;
  /** Optimisation steps. Default: 120 000 (the reference), unless `epochs` is given. */
  iterations?: number;
  /** Passes over the training split (instead of `iterations`). */
  epochs?: number;
  /** Images per step. Default 8. */
  batch?: number;
  /** Base learning rate (biases train at twice it). Default 1e-3. */
  lr?: number;
  /** Default 0.9. */
  momentum?: number;
  /** Default 5e-4. */
  weightDecay?: number;
  /** Decay milestones (0-based steps). Default: 80k and 100k of 120k, scaled to the run. */
  milestones?: number[];
  /** Default 0.1. */
  decayFactor?: number;
  /** Linear warm-up steps. Default 0. */
  warmup?: number;
  /** Clip the global gradient norm to this. Default: no clipping. */
  clipGradNorm?: number;
  /** Training augmentation. Default true. */
  augment?: boolean;
  /** Shuffle every epoch. Default true; false takes the split's order. */
  shuffle?: boolean;
  /** Seed of the initial weights, the data order and the augmentation. Default 0. */
  seed?: number;
  /** Evaluate on the validation split every this many epochs (0 = never). Default 0. */
  evalEvery?: number;
  /** Validation data. Default: `data`. */
  valData?: string | string[];
  /** Validation split. Default: 'test' for VOC, 'val' for YOLO (a COCO JSON is its own split). */
  valSplit?: string;
  /** Evaluation metric. Default 'voc07'. */
  metric?: Metric;
  /** Write `last.safetensors` every this many steps as well as at each epoch's end. Default 0 (epoch ends only). */
  saveEvery?: number;
  /** Skip bad samples instead of stopping. Default false. */
  skipBad?: boolean;
  /** ONNX Runtime intra-op threads. Default: all cores. */
  threads?: number;
  /** Loader worker threads. Default: the loader's. */
  workers?: number;
  /** Largest image decoded, in pixels. Default: the loader's (40 megapixels). */
  maxPixels?: number;
  /** Continue the run in `out` from its `last.safetensors`, with the options stored there. */
  resume?: boolean;
  /** Where progress goes (default process.stderr); false for none. */
  progress?: ProgressStream | false;
  /** Stops the run after the current step, writing a checkpoint (resume later with `resume`). */
  signal?: AbortSignal;
  /** Builds the network of a config (default: the zoo's). For custom networks. */
  network?: (config: ModelConfig) => SSDNetwork;
}

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
  /** Mean training throughput of this invocation (images per second, data waits included). */
  imagesPerSecond: number;
  /** True when `signal` stopped the run before its last step. */
  stopped: boolean;
  /** What the data loader could deliver (images per second of its threads' time, times its threads): compare with `imagesPerSecond`. */
  loaderImagesPerSecond: number;
}

/** Thrown when a step's loss is NaN or infinite; the last checkpoint is left as it was. */
export class NonFiniteLossError extends Error {
  override readonly name = 'NonFiniteLossError';
}

/** The options that decide the numbers a run produces, as stored in its checkpoints. */
type StoredOptions = Required<Pick<TrainOptions, 'model' | 'batch' | 'lr' | 'momentum' | 'weightDecay' | 'decayFactor' | 'warmup' | 'augment' | 'shuffle' | 'seed' | 'evalEvery' | 'metric' | 'saveEvery' | 'skipBad'>> &
  Pick<TrainOptions, 'data' | 'split' | 'init' | 'pretrainedBase' | 'inputSize' | 'width' | 'iterations' | 'epochs' | 'milestones' | 'clipGradNorm' | 'valData' | 'valSplit'>;

/** Images whose batch statistics give the batch-norm running statistics of saved and evaluated models. */
const CALIBRATION_IMAGES = 256;

function resolveOptions(o: TrainOptions): StoredOptions {
  if (o.iterations !== undefined && o.epochs !== undefined) throw new Error('train: give iterations or epochs, not both');
  const s: StoredOptions = {
    data: Array.isArray(o.data) ? o.data.map((d) => resolve(d)) : resolve(o.data),
    split: o.split,
    model: o.model ?? 'ssd300',
    inputSize: o.inputSize,
    width: o.width,
    init: o.init === undefined ? undefined : resolve(o.init),
    pretrainedBase: o.pretrainedBase === undefined ? undefined : resolve(o.pretrainedBase),
    iterations: o.iterations ?? (o.epochs === undefined ? 120_000 : undefined),
    epochs: o.epochs,
    batch: o.batch ?? 8,
    lr: o.lr ?? 1e-3,
    momentum: o.momentum ?? 0.9,
    weightDecay: o.weightDecay ?? 5e-4,
    milestones: o.milestones,
    decayFactor: o.decayFactor ?? 0.1,
    warmup: o.warmup ?? 0,
    clipGradNorm: o.clipGradNorm,
    augment: o.augment ?? true,
    shuffle: o.shuffle ?? true,
    seed: o.seed ?? 0,
    evalEvery: o.evalEvery ?? 0,
    valData: o.valData === undefined ? undefined : Array.isArray(o.valData) ? o.valData.map((d) => resolve(d)) : resolve(o.valData),
    valSplit: o.valSplit,
    metric: o.metric ?? 'voc07',
    saveEvery: o.saveEvery ?? 0,
    skipBad: o.skipBad ?? false,
  };
  if (!modelNames().includes(s.model)) throw new Error(`train: unknown model '${s.model}'; known: ${modelNames().join(', ')}`);
  const whole = (name: string, v: number | undefined, min: number): void => {
    if (v !== undefined && (!Number.isInteger(v) || v < min)) throw new Error(`train: ${name} must be a whole number >= ${min}, got ${v}`);
  };
  whole('iterations', s.iterations, 1);
  whole('epochs', s.epochs, 1);
  whole('batch', s.batch, 1);
  whole('warmup', s.warmup, 0);
  whole('evalEvery', s.evalEvery, 0);
  whole('saveEvery', s.saveEvery, 0);
  if (!(s.lr > 0)) throw new Error(`train: lr must be > 0, got ${s.lr}`);
  if (s.init !== undefined && s.pretrainedBase !== undefined) throw new Error('train: give init or pretrainedBase, not both');
  if (s.pretrainedBase !== undefined && s.model !== 'ssd300') throw new Error(`train: a pretrained VGG-16 base is for ssd300, not '${s.model}'`);
  if (s.clipGradNorm !== undefined && !(s.clipGradNorm > 0)) throw new Error(`train: clipGradNorm must be > 0, got ${s.clipGradNorm}`);
  return s;
}

/** The validation split: `valData` (default the training data) with `valSplit` (default per format). */
async function loadValidation(s: StoredOptions, train: Dataset): Promise<Dataset> {
  const path = s.valData ?? s.data;
  const split = s.valSplit ?? (train.format === 'voc' ? 'test' : train.format === 'yolo' ? 'val' : undefined);
  if (s.valData === undefined && train.format === 'coco') {
    throw new Error('train: evaluation on a COCO dataset needs the validation annotations (valData / --val-data instances_val.json)');
  }
  const ds = await loadDataset(path, { split, skipBad: s.skipBad, classNames: train.classNames });
  if (ds.samples.length === 0) throw new Error(`train: the validation split '${split}' of ${String(path)} has no images`);
  return ds;
}

/** A sample without its difficult (COCO crowd) objects. */
function withoutDifficult(sample: Dataset['samples'][number]): Dataset['samples'][number] {
  if (!sample.difficult.some((d) => d !== 0)) return sample;
  const keep: number[] = [];
  sample.difficult.forEach((d, i) => d === 0 && keep.push(i));
  const boxes = new Float32Array(4 * keep.length);
  keep.forEach((k, j) => boxes.set(sample.boxes.subarray(4 * k, 4 * k + 4), 4 * j));
  return { ...sample, boxes, labels: Int32Array.from(keep, (k) => sample.labels[k]!), difficult: new Uint8Array(keep.length) };
}

function tensorsOf(network: SSDNetwork, values: ReadonlyMap<string, Float32Array>): Map<string, NamedTensor> {
  const out = new Map<string, NamedTensor>();
  for (const spec of network.parameters()) out.set(spec.name, { shape: spec.shape, data: values.get(spec.name)! });
  return out;
}

/**
 * Trains a model and writes the run folder (see the file header). Resolves when the run is done;
 * rejects with a {@link NonFiniteLossError} when the loss diverges (the last checkpoint stays intact),
 * or with an error naming the file or option at fault.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const runDir = resolve(options.out);
  const lastPath = join(runDir, 'last.safetensors');
  const bestPath = join(runDir, 'best.safetensors');
  const metricsPath = join(runDir, 'metrics.jsonl');
  const reportPath = join(runDir, 'report.html');
  mkdirSync(runDir, { recursive: true });
  const progress = options.progress === false ? undefined : new Progress(options.progress ?? process.stderr);
  const say = (line: string): void => progress?.log(line);

  // The options, the state and the weights: fresh or from the checkpoint.
  let s: StoredOptions;
  let state: TrainState;
  let weights: Map<string, Float32Array> | undefined;
  let momentum: Map<string, Float32Array> | undefined;
  let modelConfig: ModelConfig | undefined;
  if (options.resume) {
    removeStaleTemporaries(lastPath);
    if (!existsSync(lastPath)) throw new Error(`train: nothing to resume in ${runDir}: ${lastPath} does not exist (a run writes it at each epoch's end, or every --save-every steps)`);
    const ckpt = loadCheckpoint(lastPath);
    s = ckpt.trainConfig as unknown as StoredOptions;
    // Only the length of the run may change on resume (the schedule then scales to the new length).
    if (options.iterations !== undefined || options.epochs !== undefined) {
      s = { ...s, iterations: options.iterations, epochs: options.epochs };
      if (s.iterations === undefined && s.epochs === undefined) s.iterations = 120_000;
    }
    state = ckpt.state;
    modelConfig = ckpt.modelConfig as ModelConfig;
    weights = new Map([...ckpt.parameters].map(([k, t]) => [k, t.data]));
    momentum = new Map([...ckpt.optimizer].map(([k, t]) => [k, t.data]));
    say(`resuming ${runDir} at step ${state.step} (epoch ${state.epoch + 1}, batch ${state.batchInEpoch})`);
  } else {
    s = resolveOptions(options);
    state = { step: 0, epoch: 0, batchInEpoch: 0, seed: s.seed };
  }

  const dataset = await loadDataset(s.data, { split: s.split, skipBad: s.skipBad });
  if (dataset.skipped > 0) say(`skipped ${dataset.skipped} bad sample${dataset.skipped > 1 ? 's' : ''} (--skip-bad); first: ${dataset.problems[0] ? `${dataset.problems[0].file}: ${dataset.problems[0].message}` : ''}`);
  if (dataset.samples.length === 0) throw new Error(`train: ${String(s.data)} has no training images`);

  // The model: its config, network and starting weights.
  if (!modelConfig) {
    if (s.init) {
      const init = await SSD.load(s.init);
      const want = ['background', ...dataset.classNames];
      if (init.config.classNames.join('\n') !== want.join('\n')) {
        throw new Error(`${s.init}: the model's classes (${init.config.classNames.slice(1).join(', ')}) are not the dataset's (${dataset.classNames.join(', ')})`);
      }
      modelConfig = init.config;
      weights = new Map(init.weights);
    } else {
      modelConfig = zooConfig(s.model, dataset.classNames, { inputSize: s.inputSize, width: s.width });
    }
  }
  const network = (options.network ?? buildNetwork)(modelConfig);
  if (!weights) {
    weights = initialWeights(network, s.seed);
    if (s.pretrainedBase) for (const [name, v] of loadPretrainedBase(s.pretrainedBase)) weights.set(name, v);
  }
  // Buffers (batch-norm statistics) as last computed; the session trains the parameters only.
  let buffers: Map<string, Float32Array> = weights;
  const { width, height } = modelConfig.inputSize;
  if (width !== height) throw new Error(`train: the loader makes square inputs, the model takes ${width}x${height}`);

  // COCO crowd regions (flagged difficult) are not objects to learn, as in torchvision's references; VOC's
  // difficult objects are kept, as the tutorial trains.
  const trainSamples = dataset.format === 'coco' ? dataset.samples.map(withoutDifficult) : dataset.samples;
  const loader = await DataLoader.create({
    samples: trainSamples,
    batchSize: s.batch,
    inputSize: width,
    priors: generatePriors(modelConfig.priors),
    augment: s.augment,
    shuffle: s.shuffle,
    // The training graph's batch is static: an epoch's last short batch is padded with blank images (exact for
    // networks without batch normalisation, see StepSession.step); with batch norm it is dropped, and shuffling
    // spreads the dropped remainder over the epochs.
    dropLast: hasBatchNorm(network),
    seed: s.seed,
    workers: options.workers,
    maxPixels: options.maxPixels,
    normalization: modelConfig.normalization,
  });
  const totalSteps = s.iterations ?? s.epochs! * loader.batchesPerEpoch;
  const schedule = stepDecaySchedule({ baseLr: s.lr, totalSteps, milestones: s.milestones, factor: s.decayFactor, warmupSteps: s.warmup });
  const validation = s.evalEvery > 0 ? await loadValidation(s, dataset) : undefined;

  const session = await StepSession.create(network, weights, s.batch, {
    momentum: s.momentum,
    weightDecay: s.weightDecay,
    clipGradNorm: s.clipGradNorm,
    threads: options.threads,
  });
  if (momentum) session.setOptimizerState(momentum);

  const log = new MetricsLog(metricsPath, options.resume ? { resumeFromStep: state.step } : {});
  writeFileSync(join(runDir, 'options.json'), JSON.stringify({ ...s, totalSteps, batchesPerEpoch: loader.batchesPerEpoch, model: modelConfig }, null, 2) + '\n');
  let lastEvaluation: Evaluation | undefined;
  let lastEvaluationStep: number | undefined;
  const facts = {
    model: s.model,
    data: `${String(s.data)} (${dataset.samples.length} images, ${dataset.classNames.length} classes)`,
    batch: s.batch,
    'base lr': s.lr,
    'total steps': totalSteps,
  };
  const report = (): void => {
    writeReport(reportPath, { title: `ssd-ts run ${basename(runDir)}`, records: readMetricsLog(metricsPath), evaluation: lastEvaluation, evaluationStep: lastEvaluationStep, facts });
  };

  let savedStep = options.resume ? state.step : -1;
  const lastGood = (): string => (savedStep >= 0 ? `the last good checkpoint is ${lastPath} (step ${savedStep})` : 'no checkpoint was written yet');

  // Batch-norm statistics from training images (no augmentation), for model files and evaluation.
  let calibration: DataLoader | undefined;
  let completedAt = -1;
  let completed: Map<string, Float32Array> = weights;
  const fullWeights = async (): Promise<Map<string, Float32Array>> => {
    if (completedAt === state.step) return completed;
    const params = session.parameters();
    if (hasBatchNorm(network)) {
      calibration ??= await DataLoader.create({
        samples: dataset.samples.slice(0, CALIBRATION_IMAGES),
        batchSize: s.batch,
        inputSize: width,
        augment: false,
        shuffle: false,
        workers: options.workers,
        maxPixels: options.maxPixels,
        normalization: modelConfig!.normalization,
      });
      const loader = calibration;
      completed = await completeWeights(network, params, buffers, () => loader.epoch(0), options.threads);
    } else {
      completed = await completeWeights(network, params, buffers, async function* () {}, options.threads);
    }
    // The loss of a step is computed before its update: a diverging update shows only in the weights.
    for (const [name, v] of completed) {
      for (let i = 0; i < v.length; i++) {
        if (!Number.isFinite(v[i]!)) {
          throw new NonFiniteLossError(
            `the weights became non-finite (${name}[${i}] = ${v[i]}) in step ${state.step} (lr ${schedule.lrAt(state.step - 1)}). ` +
              `Stopped without saving: ${lastGood()}. Try a lower --lr, --warmup or --clip-grad.`,
          );
        }
      }
    }
    buffers = completed;
    completedAt = state.step;
    return completed;
  };
  const save = async (): Promise<void> => {
    const all = await fullWeights();
    savedStep = state.step;
    saveCheckpoint(lastPath, {
      parameters: tensorsOf(network, all),
      optimizer: new Map([...session.optimizerState()].map(([k, v]) => [k, { shape: [v.length], data: v }])),
      state,
      modelConfig,
      trainConfig: s as unknown as Record<string, unknown>,
    });
  };

  const evaluate = async (): Promise<void> => {
    const model = SSD.create(modelConfig!, { weights: await fullWeights(), threads: options.threads });
    try {
      const { evaluation } = await evaluateModel(model, validation!, { metric: s.metric, batch: s.batch, workers: options.workers, maxPixels: options.maxPixels });
      const map = evaluation.map ?? 0;
      const ap: Record<string, number> = {};
      evaluation.classNames.forEach((n, i) => (ap[n] = evaluation.apPerClass[i] ?? NaN));
      // The epoch of the last step (state.epoch has moved on when that step ended an epoch).
      const epoch = state.batchInEpoch === 0 ? state.epoch - 1 : state.epoch;
      log.append({ type: 'eval', step: state.step, epoch, metric: s.metric, map, ap_per_class: ap, time: new Date().toISOString() });
      lastEvaluation = evaluation;
      lastEvaluationStep = state.step;
      const better = !state.best || map > state.best.map;
      say(`eval at step ${state.step}: mAP (${s.metric}) ${map.toFixed(4)}${better ? ' (best so far, saved best.safetensors)' : ''}`);
      if (better) {
        state.best = { metric: s.metric, map, step: state.step, epoch };
        model.save(bestPath);
      }
    } finally {
      await model.dispose();
    }
  };

  let stopped = false;
  let loaderImagesPerSecond = NaN;
  const started = performance.now();
  let imagesThisRun = 0;
  let stepTimeEma = NaN;
  const recentLoss: number[] = [];
  try {
    let last = performance.now();
    while (state.step < totalSteps && !stopped) {
      const epoch = state.epoch;
      for await (const batch of loader.epoch(epoch, state.batchInEpoch)) {
        const lr = schedule.lrAt(state.step);
        const out = await session.step({ size: batch.size, images: batch.images, trueClasses: batch.trueClasses!, trueLocs: batch.trueLocs! }, lr);
        if (!Number.isFinite(out.loss)) {
          throw new NonFiniteLossError(
            `loss is ${out.loss} at step ${state.step + 1} (epoch ${epoch + 1}, batch ${batch.index}; loc_loss ${out.loc_loss}, conf_loss ${out.conf_loss}, lr ${lr}). ` +
              `Stopped without saving: ${lastGood()}. Try a lower --lr, --warmup or --clip-grad.`,
          );
        }
        const now = performance.now();
        const dt = (now - last) / 1000;
        last = now;
        stepTimeEma = Number.isNaN(stepTimeEma) ? dt : 0.9 * stepTimeEma + 0.1 * dt;
        imagesThisRun += batch.size;
        state.step++;
        state.batchInEpoch = batch.index + 1;
        if (state.batchInEpoch === loader.batchesPerEpoch) {
          state.epoch = epoch + 1;
          state.batchInEpoch = 0;
        }
        log.append({ type: 'step', step: state.step, epoch, loss: out.loss, loc_loss: out.loc_loss, conf_loss: out.conf_loss, lr, images_per_s: batch.size / dt, time: new Date().toISOString() });
        recentLoss.push(out.loss);
        if (recentLoss.length > 10) recentLoss.shift();
        progress?.update({ step: state.step, total: totalSteps, epoch, loss: out.loss, locLoss: out.loc_loss, confLoss: out.conf_loss, lr, imagesPerSecond: batch.size / stepTimeEma, etaSeconds: (totalSteps - state.step) * stepTimeEma });

        const epochDone = state.batchInEpoch === 0;
        const finished = state.step >= totalSteps;
        if (options.signal?.aborted && !finished) {
          await save();
          stopped = true;
          break;
        }
        if (epochDone && s.evalEvery > 0 && state.epoch % s.evalEvery === 0) await evaluate();
        if (finished && s.evalEvery > 0 && lastEvaluationStep !== state.step) await evaluate();
        if (epochDone || finished || (s.saveEvery > 0 && state.step % s.saveEvery === 0)) {
          await save();
          report();
        }
        if (finished) break;
        last = performance.now(); // evaluation and saving are not training time
      }
    }
  } finally {
    log.close();
    progress?.done();
    loaderImagesPerSecond = loader.capacity();
    await loader.close();
    await calibration?.close();
    await session.release();
  }
  report();
  const seconds = (performance.now() - started) / 1000;
  say(`${stopped ? `stopped at step ${state.step} of ${totalSteps} (continue with --resume)` : 'done'}: ${state.step} steps in ${formatDuration(seconds)}; checkpoint ${lastPath}${state.best ? `, best mAP ${state.best.map.toFixed(4)} at step ${state.best.step} (${bestPath})` : ''}; report ${reportPath}; training ${(imagesThisRun / seconds).toFixed(2)} img/s, loader capacity ${loaderImagesPerSecond.toFixed(1)} img/s`);
  return {
    runDir,
    steps: state.step,
    lastCheckpoint: lastPath,
    bestModel: state.best ? bestPath : undefined,
    best: state.best,
    finalLoss: recentLoss.reduce((a, b) => a + b, 0) / Math.max(1, recentLoss.length),
    metricsPath,
    reportPath,
    imagesPerSecond: imagesThisRun / seconds,
    stopped,
    loaderImagesPerSecond,
  };
}
