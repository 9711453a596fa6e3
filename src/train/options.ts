// What a training run takes (`TrainOptions`), and the resolved form a checkpoint stores so that `--resume`
// rebuilds the same run (`RunOptions`). Defaults follow the SSD300 tutorial.
import { resolve } from 'node:path';
import { findValidationSplit } from '../data/dataset.js';
import type { Dataset } from '../data/types.js';
import type { Metric } from '../eval/types.js';
import type { MultiBoxLossOptions } from '../nn/loss.js';
import { MODELS } from '../nn/models/index.js';
import { pretrainedBaseModels } from '../nn/import/pretrained-base.js';
import type { ModelConfig } from '../nn/config.js';
import type { SSDNetwork } from '../nn/ssd.js';
import type { ProgressStream } from './progress.js';

/** The optimizers `train` knows. */
export type OptimizerName = 'sgd' | 'adamw';
/** The learning-rate schedules `train` knows (src/train/schedule.ts). */
export type ScheduleName = 'step' | 'cosine';

/** Options of {@link train}. Defaults follow the SSD300 tutorial. */
export interface TrainOptions {
  /** Dataset: a VOC root (or several, joined), a COCO instances JSON, or a YOLO data.yaml. Or give `dataset`. */
  data?: string | string[];
  /** The training split in memory, instead of `data` (a resumed run needs it again). */
  dataset?: Dataset;
  /** Training split. Default: the reader's default (VOC 'trainval', YOLO 'train'). */
  split?: string;
  /** The run folder (created). */
  out: string;
  /** Model name ('ssd300' default, 'ssd512', 'ssdlite320-mobilenetv2', 'ssd-tiny'; `ssd models`). */
  model?: string;
  /** Input side in pixels, for models that take several (ssd-tiny: a multiple of 32 from 96). Default: the model's. */
  inputSize?: number;
  /** Channel width multiplier. Default 1. */
  width?: number;
  /** Start from the weights of this model file (its classes must be the dataset's). */
  init?: string;
  /**
   * Start the backbone from ImageNet weights: for ssd300 and ssd512 torchvision's vgg16 `.pth` (the tutorial's
   * start), for ssdlite320-mobilenetv2 its mobilenet_v2 `.pth`, or the base-only file `ssd import` writes from
   * either. The other layers start from `seed`.
   */
  pretrainedBase?: string;
  /** Optimisation steps. Default: 120 000 (the reference), unless `epochs` or `minutes` is given. */
  iterations?: number;
  /** Passes over the training split (instead of `iterations`). */
  epochs?: number;
  /** A training time budget in minutes (instead of `iterations`); the schedule runs over the time. */
  minutes?: number;
  /** Images per step. Default 8. */
  batch?: number;
  /** Default 'sgd' (momentum, biases at twice the rate: the SSD recipe). */
  optimizer?: OptimizerName;
  /** Base learning rate (SGD: biases train at twice it). Default 1e-3. */
  lr?: number;
  /** SGD momentum. Default 0.9. */
  momentum?: number;
  /** Weight decay: SGD's L2 term (default 5e-4) or AdamW's decoupled decay (default 0.01). */
  weightDecay?: number;
  /** Default 'step' for runs of iterations or epochs, 'cosine' for a time budget. */
  schedule?: ScheduleName;
  /** Step decay milestones (0-based steps). Default: 80k and 100k of 120k, scaled to the run. */
  milestones?: number[];
  /** Step decay factor. Default 0.1. */
  decayFactor?: number;
  /** Linear warm-up steps. Default 0. */
  warmup?: number;
  /** The warm-up's first rate as a fraction of the base rate. Default 0.001 (step decay), 0.1 (cosine). */
  warmupStartFactor?: number;
  /** Cosine: the last rate as a fraction of the base rate. Default 0.01. */
  finalLrFactor?: number;
  /** Clip the global gradient norm to this. Default: no clipping. */
  clipGradNorm?: number;
  /** IoU at which a prior answers for an object (besides each object's best prior). Default 0.5. */
  matchThreshold?: number;
  /** MultiBox loss settings. Default: the reference's (src/nn/loss.ts). */
  loss?: MultiBoxLossOptions;
  /** Training augmentation. Default true. */
  augment?: boolean;
  /** Shuffle every epoch. Default true; false takes the split's order. */
  shuffle?: boolean;
  /** Seed of the initial weights, the data order and the augmentation. Default 0. */
  seed?: number;
  /**
   * Evaluate on the validation split every this many epochs (0 = never). Default: every epoch when there is a
   * validation split (`valData`, or a VOC test/val split or a YOLO val entry beside the training data; every 2000
   * steps when an epoch is longer), else never.
   */
  evalEvery?: number;
  /** Also evaluate every this many steps (0 = only at epoch ends). Default 0. */
  evalEverySteps?: number;
  /** Validation data. Default: `data`. */
  valData?: string | string[];
  /** The validation split in memory, instead of `valData`. */
  valDataset?: Dataset;
  /** Validation split. Default: 'test' for VOC, 'val' for YOLO (a COCO JSON is its own split). */
  valSplit?: string;
  /** Evaluation metric. Default 'voc07'. */
  metric?: Metric;
  /** Write `last.safetensors` every this many steps as well as at each epoch's end. Default 0 (epoch ends only). */
  saveEvery?: number;
  /** Skip bad samples instead of stopping. Default false. */
  skipBad?: boolean;
  /** Training images whose statistics give the batch-norm running statistics of saved models. Default 256. */
  calibrationImages?: number;
  /** ONNX Runtime intra-op threads. Default: all cores. */
  threads?: number;
  /** Loader worker threads. Default: the loader's. */
  workers?: number;
  /** Continue the run in `out` from its `last.safetensors`, with the options stored there. */
  resume?: boolean;
  /** Start a new run in `out` even when it holds one, removing that run's files first. Default false: refuse. */
  existOk?: boolean;
  /** Write `report.html` at each checkpoint and at the end. Default true. */
  report?: boolean;
  /** Where progress goes (default process.stderr); false for none. */
  progress?: ProgressStream | false;
  /** Stops the run after the current step, writing a checkpoint (resume later with `resume`). */
  signal?: AbortSignal;
  /** Builds the network of a config (default: the model family's). For custom networks. */
  network?: (config: ModelConfig) => SSDNetwork;
}

/** The options that decide the numbers a run produces, as its checkpoints store them. */
export type RunOptions = Required<
  Pick<TrainOptions, 'model' | 'batch' | 'optimizer' | 'lr' | 'schedule' | 'decayFactor' | 'warmup' | 'augment' | 'shuffle' | 'seed' | 'evalEvery' | 'evalEverySteps' | 'metric' | 'saveEvery' | 'skipBad' | 'matchThreshold' | 'calibrationImages'>
> &
  Pick<
    TrainOptions,
    | 'data'
    | 'split'
    | 'init'
    | 'pretrainedBase'
    | 'inputSize'
    | 'width'
    | 'iterations'
    | 'epochs'
    | 'minutes'
    | 'momentum'
    | 'weightDecay'
    | 'milestones'
    | 'warmupStartFactor'
    | 'finalLrFactor'
    | 'clipGradNorm'
    | 'loss'
    | 'valData'
    | 'valSplit'
  >;

const absolute = (p: string | string[] | undefined): string | string[] | undefined => (p === undefined ? undefined : Array.isArray(p) ? p.map((d) => resolve(d)) : resolve(p));

/** Fills in the defaults and checks every option; errors name the option and the value. */
export function resolveOptions(o: TrainOptions): RunOptions {
  const budgets = (['iterations', 'epochs', 'minutes'] as const).filter((k) => o[k] !== undefined);
  if (budgets.length > 1) throw new Error(`train: give one of iterations, epochs and minutes, not ${budgets.join(' and ')}`);
  if (o.data === undefined && o.dataset === undefined) throw new Error('train: give the training data (data or dataset)');
  const optimizer = o.optimizer ?? 'sgd';
  // A validation split beside the training data turns evaluation on (every epoch) unless evalEvery says otherwise.
  const givenValidation = o.valData !== undefined || o.valDataset !== undefined;
  const foundSplit = o.evalEvery === undefined && !givenValidation && o.data !== undefined ? findValidationSplit(o.data, o.split) : undefined;
  const s: RunOptions = {
    data: absolute(o.data),
    split: o.split,
    model: o.model ?? 'ssd300',
    inputSize: o.inputSize,
    width: o.width,
    init: o.init === undefined ? undefined : resolve(o.init),
    pretrainedBase: o.pretrainedBase === undefined ? undefined : resolve(o.pretrainedBase),
    iterations: o.iterations ?? (budgets.length === 0 ? 120_000 : undefined),
    epochs: o.epochs,
    minutes: o.minutes,
    batch: o.batch ?? 8,
    optimizer,
    lr: o.lr ?? 1e-3,
    momentum: o.momentum,
    weightDecay: o.weightDecay,
    schedule: o.schedule ?? (o.minutes !== undefined ? 'cosine' : 'step'),
    milestones: o.milestones,
    decayFactor: o.decayFactor ?? 0.1,
    warmup: o.warmup ?? 0,
    warmupStartFactor: o.warmupStartFactor,
    finalLrFactor: o.finalLrFactor,
    clipGradNorm: o.clipGradNorm,
    matchThreshold: o.matchThreshold ?? 0.5,
    loss: o.loss,
    augment: o.augment ?? true,
    shuffle: o.shuffle ?? true,
    seed: o.seed ?? 0,
    evalEvery: o.evalEvery ?? (givenValidation || foundSplit !== undefined ? 1 : 0),
    evalEverySteps: o.evalEverySteps ?? 0,
    valData: absolute(o.valData),
    valSplit: o.valSplit ?? foundSplit,
    metric: o.metric ?? 'voc07',
    saveEvery: o.saveEvery ?? 0,
    skipBad: o.skipBad ?? false,
    calibrationImages: o.calibrationImages ?? 256,
  };
  if (!MODELS.has(s.model)) throw new Error(`train: unknown model '${s.model}'; known: ${[...MODELS.keys()].join(', ')}`);
  if (optimizer !== 'sgd' && optimizer !== 'adamw') throw new Error(`train: optimizer must be 'sgd' or 'adamw', got '${String(optimizer)}'`);
  if (s.schedule !== 'step' && s.schedule !== 'cosine') throw new Error(`train: schedule must be 'step' or 'cosine', got '${String(s.schedule)}'`);
  if (s.schedule === 'step' && s.minutes !== undefined) throw new Error('train: step decay needs a budget in steps (iterations or epochs); a time budget runs the cosine schedule');
  const whole = (name: string, v: number | undefined, min: number): void => {
    if (v !== undefined && (!Number.isInteger(v) || v < min)) throw new Error(`train: ${name} must be a whole number >= ${min}, got ${v}`);
  };
  whole('iterations', s.iterations, 1);
  whole('epochs', s.epochs, 1);
  whole('batch', s.batch, 1);
  whole('warmup', s.warmup, 0);
  whole('evalEvery', s.evalEvery, 0);
  whole('evalEverySteps', s.evalEverySteps, 0);
  whole('saveEvery', s.saveEvery, 0);
  whole('calibrationImages', s.calibrationImages, 1);
  if (s.minutes !== undefined && !(s.minutes > 0 && Number.isFinite(s.minutes))) throw new Error(`train: minutes must be a number > 0, got ${s.minutes}`);
  if (!(s.lr > 0)) throw new Error(`train: lr must be > 0, got ${s.lr}`);
  if (!(s.matchThreshold > 0 && s.matchThreshold <= 1)) throw new Error(`train: matchThreshold must be in (0, 1], got ${s.matchThreshold}`);
  if (s.init !== undefined && s.pretrainedBase !== undefined) throw new Error('train: give init or pretrainedBase, not both');
  if (s.pretrainedBase !== undefined && !MODELS.get(s.model)!.pretrainedBase) throw new Error(`train: ${s.model} has no pretrained base (${pretrainedBaseModels()})`);
  if (s.clipGradNorm !== undefined && !(s.clipGradNorm > 0)) throw new Error(`train: clipGradNorm must be > 0, got ${s.clipGradNorm}`);
  return s;
}
