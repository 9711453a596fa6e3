// `ssd eval`: mAP of a model (or of detections made elsewhere) on a dataset split.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { booleanFlag, intFlag, maxPixelsFlag, parseVerbArgs, stringFlag, type FlagSpec } from './args.js';
import { UsageError, type Command } from './command.js';
import { detectFormat, loadDataset } from '../data/dataset.js';
import { formatEvaluation } from '../eval/format.js';
import type { Evaluation, Metric } from '../eval/types.js';
import { SSD } from '../nn/model.js';
import { cocoResultsOf, readCocoResults } from '../train/coco-results.js';
import { evaluateModel, evaluateResults, evaluationJson } from '../train/evaluate.js';

const flags: FlagSpec = {
  weights: { type: 'string' },
  data: { type: 'string', multiple: true },
  split: { type: 'string' },
  metric: { type: 'string' },
  json: { type: 'string' },
  detections: { type: 'string' },
  results: { type: 'string' },
  batch: { type: 'string' },
  'skip-bad': { type: 'boolean' },
  threads: { type: 'string' },
  workers: { type: 'string' },
  'max-pixels': { type: 'string' },
};

const help = `usage: ssd eval --weights <model file> --data <dir|json|yaml> [options]
       ssd eval --detections <results.json> --data <dir|json|yaml> [options]

Measures mean average precision on a dataset split and prints the AP of every class.

  --weights <file>        model file (or a training checkpoint such as runs/<name>/last.safetensors)
  --detections <file>     score these detections instead of running a model: COCO results format
                          [{"image_id", "category_id", "bbox": [x, y, w, h], "score"}] in pixels, named as
                          the dataset names them: image_id the COCO image id, or the VOC / YOLO file stem
                          ("000361"); category_id the COCO category id (1..90 with gaps), or the class's
                          1-based index in the dataset's class list (ssd detect --coco --data writes these)
  --data <path>           Pascal VOC root, COCO instances .json, or YOLO data.yaml
  --split <name>          split to evaluate (default: VOC test, YOLO val)
  --metric <m>            voc07 (11-point, IoU > 0.5; default), voc (all-point) or coco (pycocotools'
                          COCOeval for boxes: AP@[.5:.95], AP50, AP75, AP and AR by area, AR@1/10/100)
  --json <file>           also write {"metric", "map", "ap_per_class": {name: ap}}; for coco also the 12
                          summary numbers "ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large",
                          "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large" (null where
                          pycocotools prints -1)
  --results <file>        with --weights: also write the detections scored, as a COCO results file for
                          this dataset (what --detections and pycocotools' COCO.loadRes read)
  --batch <N>             images per forward pass (default 8)
  --skip-bad              skip samples with problems instead of stopping
  --threads <N>           ONNX Runtime threads (default: all cores)
  --workers <N>           data loader worker threads
  --max-pixels <MP>       largest image decoded, in megapixels, judged from its header (default 40)

examples
  ssd eval --weights runs/voc/best.safetensors --data VOCdevkit/VOC2007 --split test --metric voc07 --json map.json
  ssd eval --detections coco_results.json --data coco/annotations/instances_val2017.json --metric coco`;

/** The split evaluated when none is given: VOC 'test' (when its list exists), YOLO 'val'; a COCO JSON is its own split. */
export function defaultEvalSplit(path: string): string | undefined {
  const { format, path: where } = detectFormat(path);
  if (format === 'voc') return existsSync(join(where, 'ImageSets', 'Main', 'test.txt')) ? 'test' : undefined;
  if (format === 'yolo') return 'val';
  return undefined;
}

export const command: Command = {
  name: 'eval',
  summary: 'measure mAP (VOC07, VOC, COCO) of a model or of detections on a dataset',
  help,
  flags,
  async run(argv: string[]): Promise<number> {
    const args = parseVerbArgs('eval', argv, flags);
    if (args.positionals.length > 0) throw new UsageError(`ssd eval: unexpected argument '${args.positionals[0]}' (see ssd eval --help)`);
    const weights = stringFlag(args, 'weights');
    const detections = stringFlag(args, 'detections');
    if ((weights === undefined) === (detections === undefined)) throw new UsageError('ssd eval: give --weights <model file> or --detections <results.json> (one of them)');
    const resultsFile = stringFlag(args, 'results');
    if (resultsFile !== undefined && weights === undefined) throw new UsageError('ssd eval: --results writes the detections of --weights; with --detections they are already in a file');
    const dataFlag = args.values.data;
    if (dataFlag === undefined) throw new UsageError('ssd eval: --data <dataset> is required');
    const data = (Array.isArray(dataFlag) ? dataFlag : [dataFlag]).map(String);
    const metric = (stringFlag(args, 'metric') ?? 'voc07') as Metric;
    if (!['voc07', 'voc', 'coco'].includes(metric)) throw new UsageError(`ssd eval: --metric must be voc07, voc or coco, got '${metric}'`);
    const threads = stringFlag(args, 'threads') === undefined ? undefined : intFlag('eval', 'threads', stringFlag(args, 'threads'), 0, 1);
    const workers = stringFlag(args, 'workers') === undefined ? undefined : intFlag('eval', 'workers', stringFlag(args, 'workers'), 0, 0);
    const batch = intFlag('eval', 'batch', stringFlag(args, 'batch'), 8, 1);
    const maxPixels = maxPixelsFlag('eval', args);

    const split = stringFlag(args, 'split') ?? defaultEvalSplit(data[0]!);
    const skipBad = booleanFlag(args, 'skip-bad');
    const dataset = await loadDataset(data.length === 1 ? data[0]! : data, { split, skipBad });
    if (dataset.skipped > 0) console.error(`skipped ${dataset.skipped} bad sample${dataset.skipped > 1 ? 's' : ''} (--skip-bad)`);

    let evaluation: Evaluation;
    let undecodable = 0;
    if (detections !== undefined) {
      evaluation = evaluateResults(readCocoResults(detections, dataset), dataset, metric);
    } else {
      const model = await SSD.load(weights!, { threads });
      try {
        const tty = process.stderr.isTTY;
        const r = await evaluateModel(model, dataset, {
          metric,
          batch,
          workers,
          maxPixels,
          skipBad,
          onProgress: (done, total) => {
            if (tty) process.stderr.write(`\r\x1b[2Kevaluating ${done}/${total} images`);
          },
        });
        if (tty) process.stderr.write('\n');
        evaluation = r.evaluation;
        for (const bad of r.skipped) console.error(`skipped ${bad.message} (--skip-bad)`);
        undecodable = r.skipped.length;
        if (resultsFile !== undefined) writeFileSync(resultsFile, JSON.stringify(cocoResultsOf(r.detections, dataset)) + '\n');
      } finally {
        await model.dispose();
      }
    }
    console.log(`${dataset.samples.length - undecodable} images of ${data.join(' + ')}${split ? ` (${split})` : ''}`);
    console.log(formatEvaluation(evaluation));
    const json = stringFlag(args, 'json');
    if (json !== undefined) writeFileSync(json, JSON.stringify(evaluationJson(evaluation), null, 2) + '\n');
    return 0;
  },
};
