// `ssd train`: parses the flags and calls train() from src/train.
import { booleanFlag, intFlag, maxPixelsFlag, numberFlag, parseVerbArgs, stringFlag, type FlagSpec } from './args.js';
import { UsageError, type Command } from './command.js';
import { MODELS } from '../nn/models/index.js';
import { NonFiniteLossError } from '../train/errors.js';
import type { TrainOptions } from '../train/options.js';
import { train } from '../train/trainer.js';
import type { Metric } from '../eval/types.js';

const flags: FlagSpec = {
  data: { type: 'string', multiple: true },
  split: { type: 'string' },
  model: { type: 'string' },
  out: { type: 'string' },
  init: { type: 'string' },
  'pretrained-base': { type: 'string' },
  'input-size': { type: 'string' },
  width: { type: 'string' },
  'no-augment': { type: 'boolean' },
  'no-shuffle': { type: 'boolean' },
  iterations: { type: 'string' },
  epochs: { type: 'string' },
  minutes: { type: 'string' },
  optimizer: { type: 'string' },
  schedule: { type: 'string' },
  'match-threshold': { type: 'string' },
  'exist-ok': { type: 'boolean' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  momentum: { type: 'string' },
  'weight-decay': { type: 'string' },
  milestones: { type: 'string' },
  warmup: { type: 'string' },
  'clip-grad': { type: 'string' },
  seed: { type: 'string' },
  resume: { type: 'boolean' },
  'eval-every': { type: 'string' },
  'val-data': { type: 'string', multiple: true },
  'val-split': { type: 'string' },
  metric: { type: 'string' },
  'save-every': { type: 'string' },
  'skip-bad': { type: 'boolean' },
  threads: { type: 'string' },
  workers: { type: 'string' },
  'max-pixels': { type: 'string' },
};

const help = `usage: ssd train --data <dir|json|yaml> --out runs/<name> [options]

Trains an SSD detector as the SSD300 tutorial does by default (SGD, momentum 0.9, weight decay 5e-4,
biases at 2x the rate, step decay by 10 at 80k and 100k of 120k iterations, scaled to the run).

data and model
  --data <path>           Pascal VOC root (repeat to join VOC07+12), COCO instances .json, or YOLO data.yaml
  --split <name>          training split (default: VOC trainval, YOLO train)
  --model <name>          ${[...MODELS.keys()].join(', ')} (default ssd300; ssd models lists them)
  --input-size <px>       input side for models that take several (default: the model's)
  --width <x>             channel width multiplier (default 1)
  --init <file>           start from this model file's weights (same classes as the data)
  --pretrained-base <f>   start the backbone from ImageNet weights: torchvision's vgg16 .pth for ssd300
                          and ssd512 (the tutorial's start), its mobilenet_v2 .pth for
                          ssdlite320-mobilenetv2, or the base-only file ssd import writes from either
  --skip-bad              skip samples with problems (missing image, bad box, ...) instead of stopping

optimisation
  --iterations <N>        optimisation steps (default 120000), or
  --epochs <N>            passes over the training split, or
  --minutes <x>           a training time budget (the schedule runs over the time)
  --batch <N>             images per step (default 8)
  --optimizer <name>      sgd (default; biases train at 2x the rate) or adamw
  --lr <x>                base learning rate (default 1e-3)
  --momentum <x>          SGD momentum (default 0.9)
  --weight-decay <x>      default 5e-4 (SGD), 0.01 (AdamW, decoupled)
  --schedule <name>       step (default for iterations and epochs) or cosine (default for --minutes)
  --milestones <a,b,..>   step schedule: steps where the rate is divided by 10 (default: 2/3 and 5/6 of the run)
  --warmup <N>            linear warm-up steps (default 0)
  --match-threshold <x>   IoU at which a prior answers for an object (default 0.5)
  --clip-grad <x>         clip the global gradient norm to x (default: off)
  --no-augment            no augmentation (resize and normalise only)
  --no-shuffle            take batches in the split file's order
  --seed <N>              seed of the initial weights, data order and augmentation (default 0)

run folder, evaluation
  --out <dir>             run folder: last.safetensors, best.safetensors, metrics.jsonl, report.html;
                          a folder that holds a run is refused unless --resume or --exist-ok
  --resume                continue the run in --out from last.safetensors, exactly
  --exist-ok              start a new run in --out even if it holds one (that run's files are removed)
  --save-every <N>        also checkpoint every N steps (default: at each epoch's end)
  --eval-every <N>        evaluate every N epochs; keeps best.safetensors (default: every epoch, or every
                          2000 steps when epochs are longer, if a validation split is found; 0: never)
  --val-data <path>       validation data (default: --data)
  --val-split <name>      validation split (default: VOC test, YOLO val)
  --metric <m>            voc07 (default), voc or coco

machine
  --threads <N>           ONNX Runtime threads (default: all cores)
  --workers <N>           data loader worker threads (default: min(4, cores))
  --max-pixels <MP>       largest image decoded, in megapixels, judged from its header (default 40)

examples
  ssd train --data VOCdevkit/VOC2007 --data VOCdevkit/VOC2012 --out runs/voc --epochs 10 --batch 8 --eval-every 2
  ssd train --data shapes --model ssd-tiny --minutes 10 --lr 0.1 --warmup 50 --out runs/tiny
  ssd train --out runs/voc --resume`;

/** A number > 0, or a UsageError naming the flag. */
function positive(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`ssd train: --${flag} must be a number > 0, got '${value}'`);
  return n;
}

function list(args: ReturnType<typeof parseVerbArgs>, flag: string): string[] | undefined {
  const v = args.values[flag];
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v : [v]).map(String);
}

export const command: Command = {
  name: 'train',
  summary: 'train an SSD on a VOC, COCO or YOLO dataset',
  help,
  flags,
  async run(argv: string[]): Promise<number> {
    const args = parseVerbArgs('train', argv, flags);
    if (args.positionals.length > 0) throw new UsageError(`ssd train: unexpected argument '${args.positionals[0]}' (see ssd train --help)`);
    const out = stringFlag(args, 'out');
    if (out === undefined) throw new UsageError('ssd train: --out <run folder> is required');
    const resume = booleanFlag(args, 'resume');
    const data = list(args, 'data');
    if (!resume && data === undefined) throw new UsageError('ssd train: --data <dataset> is required');
    if (stringFlag(args, 'pretrained-base') !== undefined && stringFlag(args, 'init') !== undefined) throw new UsageError('ssd train: give --init or --pretrained-base, not both');
    const v = (f: string) => stringFlag(args, f);
    const opt = <T>(f: string, read: (s: string) => T): T | undefined => (v(f) === undefined ? undefined : read(v(f)!));
    const metric = v('metric');
    if (metric !== undefined && !['voc07', 'voc', 'coco'].includes(metric)) throw new UsageError(`ssd train: --metric must be voc07, voc or coco, got '${metric}'`);
    const budgets = ['iterations', 'epochs', 'minutes'].filter((f) => v(f) !== undefined);
    if (budgets.length === 2) throw new UsageError(`ssd train: give --${budgets[0]} or --${budgets[1]}, not both`);
    if (budgets.length === 3) throw new UsageError('ssd train: give only one of --iterations, --epochs and --minutes');
    const optimizer = v('optimizer');
    if (optimizer !== undefined && optimizer !== 'sgd' && optimizer !== 'adamw') throw new UsageError(`ssd train: --optimizer must be sgd or adamw, got '${optimizer}'`);
    const schedule = v('schedule');
    if (schedule !== undefined && schedule !== 'step' && schedule !== 'cosine') throw new UsageError(`ssd train: --schedule must be step or cosine, got '${schedule}'`);
    const milestones = opt('milestones', (s) =>
      s.split(',').map((m) => {
        const n = Number(m.trim());
        if (!Number.isInteger(n) || n < 0) throw new UsageError(`ssd train: --milestones must be whole step numbers separated by commas, got '${s}'`);
        return n;
      }),
    );
    const options: TrainOptions = {
      data: data === undefined ? [] : data.length === 1 ? data[0]! : data,
      split: v('split'),
      out,
      model: v('model'),
      init: v('init'),
      pretrainedBase: v('pretrained-base'),
      inputSize: opt('input-size', (s) => intFlag('train', 'input-size', s, 0, 32)),
      width: opt('width', (s) => positive('width', s)),
      iterations: opt('iterations', (s) => intFlag('train', 'iterations', s, 0, 1)),
      epochs: opt('epochs', (s) => intFlag('train', 'epochs', s, 0, 1)),
      minutes: opt('minutes', (s) => positive('minutes', s)),
      optimizer,
      schedule,
      matchThreshold: opt('match-threshold', (s) => numberFlag('train', 'match-threshold', s, 0, 0.01, 1)),
      batch: opt('batch', (s) => intFlag('train', 'batch', s, 0, 1)),
      lr: opt('lr', (s) => positive('lr', s)),
      momentum: opt('momentum', (s) => numberFlag('train', 'momentum', s, 0, 0, 1)),
      weightDecay: opt('weight-decay', (s) => numberFlag('train', 'weight-decay', s, 0, 0)),
      milestones,
      warmup: opt('warmup', (s) => intFlag('train', 'warmup', s, 0, 0)),
      clipGradNorm: opt('clip-grad', (s) => positive('clip-grad', s)),
      augment: !booleanFlag(args, 'no-augment'),
      shuffle: !booleanFlag(args, 'no-shuffle'),
      seed: opt('seed', (s) => intFlag('train', 'seed', s, 0, 0)),
      evalEvery: opt('eval-every', (s) => intFlag('train', 'eval-every', s, 0, 0)),
      valData: list(args, 'val-data'),
      valSplit: v('val-split'),
      metric: metric as Metric | undefined,
      saveEvery: opt('save-every', (s) => intFlag('train', 'save-every', s, 0, 0)),
      skipBad: booleanFlag(args, 'skip-bad'),
      threads: opt('threads', (s) => intFlag('train', 'threads', s, 0, 1)),
      workers: opt('workers', (s) => intFlag('train', 'workers', s, 0, 0)),
      maxPixels: maxPixelsFlag('train', args),
      resume,
      existOk: booleanFlag(args, 'exist-ok'),
    };
    // Ctrl-C: finish the step, write a checkpoint, stop (resume with --resume); twice: stop now.
    const abort = new AbortController();
    const onInterrupt = (): void => {
      if (abort.signal.aborted) process.exit(130);
      console.error('\nssd train: stopping after this step and writing a checkpoint (Ctrl-C again to quit at once)');
      abort.abort();
    };
    process.on('SIGINT', onInterrupt);
    options.signal = abort.signal;
    try {
      const r = await train(options);
      console.log(JSON.stringify({ run: r.runDir, steps: r.steps, stopped: r.stopped, final_loss: r.finalLoss, best: r.best ?? null, images_per_s: Number(r.imagesPerSecond.toFixed(3)), loader_images_per_s: Number(r.loaderImagesPerSecond.toFixed(1)) }));
      return r.stopped ? 130 : 0;
    } catch (e) {
      if (e instanceof NonFiniteLossError) {
        console.error(`ssd train: ${e.message}`);
        return 3;
      }
      throw e;
    } finally {
      process.off('SIGINT', onInterrupt);
    }
  },
};
