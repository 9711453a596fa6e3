// `ssd quantize`: post-training static int8 quantization of a model file, calibrated on a dataset's images.
// Only parses arguments and prints; the work is quantizeModelFile (src/nn/quantize).
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { SSD } from '../nn/model.js';
import { quantizableLayers, quantizeModelFile, DEFAULT_MAX_LAYER_ERROR, DEFAULT_PERCENTILE, RANGE_METHODS, type QuantizeReport, type RangeMethod } from '../nn/quantize/index.js';
import { booleanFlag, intFlag, maxPixelsFlag, numberFlag, parseVerbArgs, stringFlag, type FlagSpec } from './args.js';
import { UsageError, type Command } from './command.js';
import { ProgressLine } from './progress-line.js';

const flags: FlagSpec = {
  weights: { type: 'string' },
  data: { type: 'string', multiple: true },
  split: { type: 'string' },
  images: { type: 'string' },
  method: { type: 'string' },
  percentile: { type: 'string' },
  exclude: { type: 'string', multiple: true },
  report: { type: 'boolean' },
  json: { type: 'string' },
  'auto-exclude': { type: 'boolean' },
  'max-layer-error': { type: 'string' },
  'list-layers': { type: 'boolean' },
  out: { type: 'string' },
  force: { type: 'boolean' },
  threads: { type: 'string' },
  'max-pixels': { type: 'string' },
};

const help = `usage: ssd quantize --weights <model.safetensors> --data <dataset> [--split train] [--images 200]
                    [--method minmax|percentile|entropy] [--exclude <layers>] [--report] [--auto-exclude]
                    [--out <model>.int8.onnx]

Post-training static quantization to int8. Calibration runs images of the dataset through the model's own
preprocessing and records the range of every activation int8 will hold; then the convolutions are written
with int8 weights (symmetric, per output channel) and uint8 activations (per tensor), batch norm folded in,
as an ONNX file in QDQ form (QuantizeLinear / DequantizeLinear around each Conv, standard opset 18), which
ONNX Runtime runs as QLinearConv. Box decoding and NMS stay float32. The file carries the model config in
its metadata: --weights of ssd detect, eval, serve and SSD.load take it like any model file (then
ssd eval --weights runs/demo/model.int8.onnx --data runs/demo/shapes --split test compares its mAP).

  --weights <file>       the float32 model file                                     [required]
  --data <path>          dataset whose images calibrate (VOC root, COCO json, YOLO yaml)  [required]
  --split <name>         its split (default train)
  --images <N>           calibration images, spread evenly over the split (default 200)
  --method <m>           activation ranges: minmax (the extremes seen), percentile (all but the top
                         (100 - p)% of |x|; default), entropy (least KL divergence, as TensorRT)
  --percentile <p>       the percentile method's p (default ${DEFAULT_PERCENTILE})
  --exclude <layers>     layers to keep float32 (all are int8 otherwise): names or patterns with * and ?,
                         or kind:depthwise, kind:pointwise, kind:conv; comma-separated or repeated
                         (--list-layers names them), e.g. --exclude 'pred_convs.cl_*,base.conv1_1'
  --report               print each layer's error against float32 over the calibration images (alone in
                         int8, and in the int8 model), the outputs' error, and each layer's time in
                         ONNX Runtime's profile, float32 against int8
  --json <file>          with --report: also write the report as JSON
  --auto-exclude         keep float32 the layers whose own int8 error is above --max-layer-error
  --max-layer-error <e>  relative L2 error of a layer's output (default ${DEFAULT_MAX_LAYER_ERROR})
  --list-layers          list the model's layers (name, kind, shape) and stop
  --out <file>           the int8 model file (default <weights>.int8.onnx beside the weights)
  --force                replace --out if it exists
  --threads <N>          ONNX Runtime threads (default: all cores)
  --max-pixels <MP>      largest calibration image decoded, in megapixels (default 40)

examples
  ssd quantize --weights runs/demo/model.safetensors --data runs/demo/shapes --images 200 --report
  ssd quantize --weights runs/demo/model.safetensors --data runs/demo/shapes --method entropy --exclude kind:depthwise --out runs/demo/model.entropy.int8.onnx`;

/** The flag's values, split at commas. */
function listFlag(value: unknown): string[] {
  const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  return values.flatMap((v) => String(v).split(',')).map((s) => s.trim()).filter(Boolean);
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const num = (v: number | undefined, digits: number) => (v === undefined ? '-' : v.toFixed(digits));

/** The report as the terminal shows it. */
export function formatReport(r: QuantizeReport): string {
  const w = Math.max(5, ...r.layers.map((l) => l.name.length));
  const lines = [
    `${pad('layer', w)}  ${pad('kind', 9)}  ${pad('shape', 15)}  int8  own err  in model  fp32 ms  int8 ms`,
    ...r.layers.map(
      (l) =>
        `${pad(l.name, w)}  ${pad(l.kind, 9)}  ${pad(l.shape, 15)}  ${pad(l.int8 ? 'yes' : 'no', 4)}  ${num(l.error, 4).padStart(7)}  ${num(l.modelError, 4).padStart(8)}  ${num(l.fp32Ms, 2).padStart(7)}  ${num(l.int8Ms, 2).padStart(7)}`,
    ),
    '',
    `own err: relative L2 error of the layer's output with it alone in int8; in model: at its output in the int8 model (over ${r.images} images)`,
    `outputs of the int8 model: box offsets ${r.outputs.locs.toFixed(4)}, class probabilities ${r.outputs.probabilities.toFixed(4)} (relative L2 against float32)`,
  ];
  if (r.totalMs) lines.push(`ONNX Runtime profile, one image: float32 ${r.totalMs.fp32.toFixed(1)} ms, int8 ${r.totalMs.int8.toFixed(1)} ms (${(r.totalMs.int8 / r.totalMs.fp32).toFixed(2)}x)`);
  return lines.join('\n');
}

export const command: Command = {
  name: 'quantize',
  summary: 'quantize a model to int8 (ONNX, QDQ) with calibration images from a dataset',
  help,
  flags,
  async run(argv: string[]): Promise<number> {
    const args = parseVerbArgs('quantize', argv, flags);
    if (args.positionals.length) throw new UsageError(`ssd quantize: unexpected argument '${args.positionals[0]}' (see ssd quantize --help)`);
    const weights = stringFlag(args, 'weights');
    if (!weights) throw new UsageError('ssd quantize: --weights <model file> is required (see ssd quantize --help)');
    const threadsFlag = stringFlag(args, 'threads');
    const threads = threadsFlag === undefined ? undefined : intFlag('quantize', 'threads', threadsFlag, 0, 1, 1024);
    if (booleanFlag(args, 'list-layers')) {
      const model = await SSD.load(weights);
      const layers = quantizableLayers(model);
      const w = Math.max(...layers.map((l) => l.name.length));
      console.log(layers.map((l) => `${pad(l.name, w)}  ${pad(l.kind, 9)}  ${l.shape}`).join('\n'));
      await model.dispose();
      return 0;
    }
    const data = listFlag(args.values.data);
    if (data.length === 0) throw new UsageError('ssd quantize: --data <dataset> is required: calibration runs its images');
    const method = (stringFlag(args, 'method') ?? 'percentile') as RangeMethod;
    if (!RANGE_METHODS.includes(method)) throw new UsageError(`ssd quantize: --method must be one of ${RANGE_METHODS.join(', ')}, got '${method}'`);
    const percentileFlag = stringFlag(args, 'percentile');
    if (percentileFlag !== undefined && method !== 'percentile') throw new UsageError('ssd quantize: --percentile needs --method percentile');
    const percentile = numberFlag('quantize', 'percentile', percentileFlag, DEFAULT_PERCENTILE, 50, 100);
    const report = booleanFlag(args, 'report');
    const json = stringFlag(args, 'json');
    if (json !== undefined && !report) throw new UsageError('ssd quantize: --json writes the report: give --report too');
    const autoExclude = booleanFlag(args, 'auto-exclude');
    const errorFlag = stringFlag(args, 'max-layer-error');
    if (errorFlag !== undefined && !autoExclude) throw new UsageError('ssd quantize: --max-layer-error needs --auto-exclude');
    const maxLayerError = numberFlag('quantize', 'max-layer-error', errorFlag, DEFAULT_MAX_LAYER_ERROR, 1e-9, 100);
    const images = intFlag('quantize', 'images', stringFlag(args, 'images'), 200, 1, 1_000_000);

    let bar: ProgressLine | undefined;
    let phase = '';
    const result = await quantizeModelFile({
      weights,
      data: data.length === 1 ? data[0]! : data,
      split: stringFlag(args, 'split'),
      images,
      method,
      percentile,
      exclude: listFlag(args.values.exclude),
      report,
      autoExclude,
      maxLayerError,
      out: stringFlag(args, 'out'),
      force: booleanFlag(args, 'force'),
      threads,
      maxPixels: maxPixelsFlag('quantize', args),
      onProgress: (p, done, total) => {
        if (p !== phase) {
          bar?.finish();
          phase = p;
          bar = new ProgressLine(p, total);
        }
        bar!.tick(1);
      },
    });
    bar?.finish();
    if (result.report) {
      console.log(formatReport(result.report));
      if (json !== undefined) writeFileSync(json, JSON.stringify(result.report, null, 2) + '\n');
    }
    const kept = result.layers.filter((l) => !l.int8);
    for (const l of kept) console.error(`float32: ${l.name} (${l.reason})`);
    console.error(
      `ssd quantize: wrote ${result.out} (${(result.bytes.byteLength / 2 ** 20).toFixed(2)} MiB, ${(result.bytes.byteLength / result.fp32OnnxBytes).toFixed(2)}x the float32 ONNX file): ` +
        `${result.layers.length - kept.length} of ${result.layers.length} layers int8, ${result.method} ranges from ${result.images} images of ${basename(data[0]!)}${result.images < images ? ` (all the split has)` : ''}`,
    );
    return 0;
  },
};
