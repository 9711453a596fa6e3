// `ssd export`: a model file as a standard ONNX file for other runtimes.
import { extname } from 'node:path';
import { exportOnnxFile } from '../nn/export.js';
import { SSD } from '../nn/model.js';
import { booleanFlag, intFlag, numberFlag, parseVerbArgs, stringFlag, type FlagSpec } from './args.js';
import { UsageError, type Command } from './command.js';

const flags: FlagSpec = {
  weights: { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
  'with-postprocess': { type: 'boolean' },
  'min-score': { type: 'string' },
  'max-overlap': { type: 'string' },
  'top-k': { type: 'string' },
  suppress: { type: 'string' },
  overridable: { type: 'boolean' },
};

const help = `usage: ssd export --weights <model.safetensors> [--format onnx] [--with-postprocess] [--out <file.onnx>]

Writes the model as a standard ONNX file (opset 18, any batch size) that onnxruntime (Python, Node,
onnxruntime-web in the browser) loads as it is.

  input   images  float32 (N, 3, H, W): RGB / 255, minus the config's mean, divided by its std
          (the model config, class names included, is in the file's metadata under 'ssd.config')
  outputs without --with-postprocess: locs (N, P, 4) offsets from the priors, scores (N, P, K) logits
          with    --with-postprocess: boxes (N, k, 4) [xmin, ymin, xmax, ymax] as fractions of the
          image, labels (N, k) int64, scores (N, k), num_detections (N) int64 (rows past it are 0)

options:
  --weights <file>     model file                                            [required]
  --format onnx        the only format so far                                (default onnx)
  --out <file>         output file                  (default: the weights' name with .onnx)
  --with-postprocess   softmax, box decoding, per-class NonMaxSuppression and top-k in the graph
  --min-score <p>      post-processing: class probability threshold          (default 0.2)
  --max-overlap <iou>  post-processing: NMS IoU threshold                    (default 0.45)
  --top-k <n>          post-processing: detections kept per image            (default 200)
  --suppress <a,b>     post-processing: class names or indices never reported
  --overridable        post-processing: min_score, max_overlap and top_k become inputs fed at
                       every run (float32 [1], float32 [1], int64 [1]) instead of constants

examples
  ssd export --weights runs/voc/best.safetensors --out model.onnx
  ssd export --weights runs/voc/best.safetensors --with-postprocess --min-score 0.3 --out model.detect.onnx`;

export const command: Command = {
  name: 'export',
  summary: 'export a model as ONNX (optionally with NMS post-processing in the graph)',
  help,
  flags,
  async run(argv: string[]): Promise<number> {
    const args = parseVerbArgs('export', argv, flags);
    const weights = stringFlag(args, 'weights');
    if (!weights) throw new UsageError('ssd export: --weights <model file> is required (see ssd export --help)');
    if (args.positionals.length) throw new UsageError(`ssd export: unexpected argument '${args.positionals[0]}'`);
    const format = stringFlag(args, 'format') ?? 'onnx';
    if (format !== 'onnx') throw new UsageError(`ssd export: --format '${format}' is not supported; known: onnx`);
    const post = booleanFlag(args, 'with-postprocess');
    const postOnly = ['min-score', 'max-overlap', 'top-k', 'suppress', 'overridable'].filter((f) => args.values[f] !== undefined);
    if (!post && postOnly.length) throw new UsageError(`ssd export: --${postOnly[0]} needs --with-postprocess`);
    const minScore = numberFlag('export', 'min-score', stringFlag(args, 'min-score'), 0.2, 0, 0.999999);
    const maxOverlap = numberFlag('export', 'max-overlap', stringFlag(args, 'max-overlap'), 0.45, 0, 1);
    const topK = intFlag('export', 'top-k', stringFlag(args, 'top-k'), 200, 1);
    const out = stringFlag(args, 'out') ?? `${weights.slice(0, weights.length - extname(weights).length)}${post ? '.detect' : ''}.onnx`;

    const model = await SSD.load(weights);
    const suppress = (stringFlag(args, 'suppress') ?? '').split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
      const i = /^\d+$/.test(s) ? Number(s) : model.classNames.indexOf(s);
      if (!(i >= 1 && i < model.classNames.length)) throw new UsageError(`ssd export: --suppress names unknown class '${s}'; the model's classes: ${model.classNames.slice(1).join(', ')}`);
      return i;
    });
    const t0 = Date.now();
    const bytes = exportOnnxFile(model, out, post ? { withPostprocess: true, minScore, maxOverlap, topK, suppress, overridable: booleanFlag(args, 'overridable') } : {});
    console.error(`ssd export: wrote ${out} (${(bytes / 2 ** 20).toFixed(1)} MiB, ${post ? 'with post-processing' : 'raw outputs'}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  },
};
