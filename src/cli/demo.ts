// `ssd demo` (`npm run demo`): the whole pipeline on generated data, in about ten minutes on a laptop CPU.
import { intFlag, numberFlag, parseVerbArgs, stringFlag, type FlagSpec } from './args.js';
import type { Command } from './command.js';
import { runDemo } from '../demo/demo.js';
import { MODELS } from '../nn/models/index.js';

const flags: FlagSpec = {
  minutes: { type: 'string' },
  model: { type: 'string' },
  out: { type: 'string' },
  images: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  seed: { type: 'string' },
  threads: { type: 'string' },
  workers: { type: 'string' },
};

const help = `usage: ssd demo [--minutes M] [--model NAME] [--out DIR]

Generates a data set of shapes (circles, squares, triangles, stars, crosses of varied size, colour and rotation,
overlapping, on textured noisy backgrounds; Pascal VOC layout, train/val/test splits), trains ssd-tiny on it for
a bounded time with a progress bar, measures VOC07 mAP on the held-out test scenes, draws the detections on a few
of them and writes:

  <out>/report.html        loss curves, AP per class, precision-recall curves, the annotated scenes
  <out>/metrics.json       {"map", "metric": "voc07", "ap_per_class", "train_seconds", ...}
  <out>/model.safetensors  the trained model
  <out>/shapes/            the data set (kept: a second run reuses it)

  --minutes <M>    training time budget (default 10)
  --model <name>   model of the family to train (default ssd-tiny; ssd models lists them)
  --out <dir>      output folder (default runs/demo)
  --images <N>     scenes to generate, 80/10/10 train/val/test (default 3000)
  --batch <N>      images per step (default 8)
  --lr <x>         peak learning rate, SGD with momentum (default 0.1; warm-up, cosine decay over the budget)
  --seed <N>       seed of the data, the weights and the data order (default 0)
  --threads <N>    ONNX Runtime threads (default: all cores)
  --workers <N>    data loader worker threads (default 1)

models: ${[...MODELS.keys()].join(', ')}

examples
  ssd demo --minutes 3 --out runs/demo-quick
  ssd demo --model ssdlite320-mobilenetv2 --minutes 30 --out runs/demo-ssdlite`;

export const command: Command = {
  name: 'demo',
  summary: 'train ssd-tiny on generated shapes and report its mAP (about 10 minutes)',
  help,
  flags,
  async run(argv) {
    const a = parseVerbArgs('demo', argv, flags);
    const opt = (flag: string, min: number, max = Infinity): number | undefined => {
      const v = stringFlag(a, flag);
      return v === undefined ? undefined : numberFlag('demo', flag, v, 0, min, max);
    };
    const int = (flag: string, min: number): number | undefined => {
      const v = stringFlag(a, flag);
      return v === undefined ? undefined : intFlag('demo', flag, v, 0, min);
    };
    await runDemo({
      minutes: opt('minutes', 0.01),
      model: stringFlag(a, 'model'),
      out: stringFlag(a, 'out'),
      images: int('images', 20),
      batch: int('batch', 1),
      lr: opt('lr', 1e-6, 10),
      seed: int('seed', 0),
      threads: int('threads', 1),
      workers: int('workers', 0),
    });
    return 0;
  },
};
