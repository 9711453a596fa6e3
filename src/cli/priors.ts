// `ssd priors`: a model's priors map by map, how well they fit a dataset's objects, and what would fit better.
// Parses and prints only: the measuring is src/boxes (measurePriorFit, suggestPriors), the picture src/draw.
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { booleanFlag, intFlag, numberFlag, parseVerbArgs, stringFlag, type FlagSpec } from './args.js';
import { UsageError, type Command } from './command.js';
import { GOOD_PRIOR_FIT, fitSummary, measurePriorFit, type PriorFit, type PriorFitSummary } from '../boxes/prior-fit.js';
import { suggestPriors, type PriorSuggestion } from '../boxes/prior-suggest.js';
import { generatePriors, priorCount, priorsPerLocation, type PriorConfig } from '../boxes/priors.js';
import { loadDataset } from '../data/dataset.js';
import type { Dataset } from '../data/types.js';
import { drawPriors, ratioLabel } from '../draw/priors.js';
import type { ModelConfig } from '../nn/config.js';
import { SSD } from '../nn/model.js';
import { MODELS, modelConfig } from '../nn/models/index.js';

const flags: FlagSpec = {
  model: { type: 'string' },
  'input-size': { type: 'string' },
  weights: { type: 'string' },
  data: { type: 'string', multiple: true },
  split: { type: 'string' },
  'skip-bad': { type: 'boolean' },
  'match-threshold': { type: 'string' },
  out: { type: 'string', short: 'o' },
  force: { type: 'boolean' },
  image: { type: 'string' },
  at: { type: 'string', multiple: true },
  json: { type: 'boolean' },
};

const help = `usage: ssd priors [--model <name> | --weights <model file>] [--data <dataset>] [--out priors.png] [options]

Shows a model's priors (default boxes) map by map - scales, aspect ratios, the pixels they cover - and, with a
dataset, how well they fit its objects: each object's best IoU with any prior, the share some prior reaches at
the training threshold (the others train on the one prior the matcher forces onto them), which map answers for
them, and the objects no prior reaches. When fewer than ${GOOD_PRIOR_FIT * 100}% are reached it suggests scales and aspect
ratios derived from the objects, measured the same way. --out draws the priors over an image of the dataset (or a
plain canvas): one panel per map, the priors at the chosen positions, objects and their best priors.

  --model <name>          ${[...MODELS.keys()].join(', ')} (default ssd300)
  --input-size <px>       input side for models that take several (default: the model's)
  --weights <file>        take the priors from this model file instead (an imported torchvision SSD300, ...)
  --data <path>           Pascal VOC root (repeat to join), COCO instances .json, or YOLO data.yaml
  --split <name>          split to measure (default: VOC trainval, YOLO train)
  --skip-bad              skip samples with problems instead of stopping
  --match-threshold <x>   IoU at which a prior answers for an object in training (default 0.5)
  --out <file.png>        draw the priors to this PNG (an existing file is refused without --force)
  --force                 replace --out if it exists
  --image <id>            the dataset image to draw on (default: the first with objects)
  --at <x,y>              draw the priors of the position nearest this point, fractions of the image
                          (repeatable; default the centre)
  --json                  print the listing, fit and suggestion as JSON

examples
  ssd priors --model ssd300 --out priors.png
  ssd priors --model ssd-tiny --data data/shapes --split train --out priors.png`;

/** The JSON of `--json`: the priors map by map, and with data the fit (per-object arrays left out) and suggestion. */
export interface PriorsReport {
  model: string;
  inputSize: number;
  priors: number;
  config: PriorConfig;
  maps: Array<{ side: number; stepPx: number; scale: number; shapes: Array<{ ratio: string; widthPx: number; heightPx: number }> }>;
  data?: { source: string; format: string; split?: string; images: number };
  fit?: PriorFitSummary & { verdict: 'good' | 'poor' };
  suggestion?: PriorSuggestion;
  picture?: { file: string; width: number; height: number; image?: string };
}

/** Each map's side, step and scale, and its prior shapes at one position in pixels of the input. */
export function describePriors(config: PriorConfig, inputSize: number): PriorsReport['maps'] {
  const priors = generatePriors(config);
  const per = priorsPerLocation(config);
  let offset = 0;
  return config.featureMapSizes.map((side, k) => {
    const labels: string[] = [];
    for (const r of config.aspectRatios[k]!) {
      labels.push(ratioLabel(r));
      if (config.extraPrior && r === 1) labels.push("1'");
    }
    const shapes = labels.map((ratio, s) => ({ ratio, widthPx: priors[4 * (offset + s) + 2]! * inputSize, heightPx: priors[4 * (offset + s) + 3]! * inputSize }));
    offset += side * side * per[k]!;
    return { side, stepPx: (config.steps?.[k] ?? 1 / side) * inputSize, scale: config.scales[k]!, shapes };
  });
}

const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;

/** The text report (see `ssd priors --help`). */
export function formatPriorsReport(r: PriorsReport): string {
  const lines = [`${r.model} at ${r.inputSize}x${r.inputSize}: ${r.priors} priors on ${r.maps.length} maps (sizes in pixels of the input)`];
  const rows = r.maps.map((m) => [`${m.side}x${m.side}`, `step ${m.stepPx.toFixed(1)}`, `scale ${m.scale.toFixed(3)} (${(m.scale * r.inputSize).toFixed(0)} px)`, m.shapes.map((s) => `${s.ratio} ${s.widthPx.toFixed(0)}x${s.heightPx.toFixed(0)}`).join(', ')]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) lines.push(`  ${row.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join('  ')}`);
  const fit = r.fit;
  if (r.data && fit) {
    lines.push(`data: ${r.data.source} (${r.data.format}${r.data.split ? `, split ${r.data.split}` : ''}): ${r.data.images} images, ${fit.objects} objects`);
    if (fit.objects === 0) return lines.join('\n');
    lines.push(`best IoU of each object with a prior (training matches at ${fit.threshold}):`);
    const top = Math.max(...fit.histogram);
    fit.histogram.forEach((n, b) => lines.push(`  ${(b / 10).toFixed(1)}-${((b + 1) / 10).toFixed(1)}  ${String(n).padStart(String(fit.objects).length)}  ${'#'.repeat(Math.round((40 * n) / Math.max(1, top)))}`.trimEnd()));
    lines.push(`matched: ${fit.matched} of ${fit.objects} objects (${pct(fit.matchedShare)}) reach IoU ${fit.threshold} with some prior; best IoU median ${fit.medianBestIou.toFixed(3)}, mean ${fit.meanBestIou.toFixed(3)}`);
    lines.push('objects by the map of their best prior:');
    for (const m of fit.maps) {
      const sizes = m.sizes ? `, sizes ${m.sizes[0].toFixed(2)} .. ${m.sizes[2].toFixed(2)} of the input (10th .. 90th percentile)` : '';
      lines.push(`  ${`${m.side}x${m.side}`.padEnd(7)} scale ${m.scale.toFixed(3)}: ${m.objects} objects${m.objects > 0 ? `, ${m.matched} matched (${pct(m.matched / m.objects)})` : ''}${sizes}`);
    }
    if (fit.unreached > 0) {
      lines.push(`unreached: ${fit.unreached} object${fit.unreached > 1 ? 's' : ''} no prior reaches at ${fit.threshold}; the worst:`);
      for (const e of fit.examples) {
        const [x1, y1, x2, y2] = e.box;
        lines.push(`  ${e.imagePath ?? e.imageId}: ${e.className ?? 'object'} (object ${e.index}, ${(x2 - x1).toFixed(0)}x${(y2 - y1).toFixed(0)} px at ${x1.toFixed(0)},${y1.toFixed(0)}), best IoU ${e.bestIou.toFixed(3)}`);
      }
    }
    lines.push(`fit: ${fit.verdict} (${pct(fit.matchedShare)} of objects matched; ${fit.verdict === 'good' ? 'at least' : 'below'} ${GOOD_PRIOR_FIT * 100}%)`);
    const s = r.suggestion;
    if (s) {
      lines.push(
        `suggested priors, from the objects (sizes sqrt(w h) ${s.sizes.q05.toFixed(3)} .. ${s.sizes.q95.toFixed(3)} of the input, aspect ratios w/h ${s.ratios.q05.toFixed(2)} .. ${s.ratios.q95.toFixed(2)}; 5th .. 95th percentile), best of ${s.candidates} measured:`,
      );
      const ratios = s.config.aspectRatios.every((a) => a.join() === s.config.aspectRatios[0]!.join()) ? `${s.config.aspectRatios[0]!.map(ratioLabel).join(', ')} on every map` : s.config.aspectRatios.map((a) => `[${a.map(ratioLabel).join(', ')}]`).join(' ');
      lines.push(`  scales ${s.config.scales.join(', ')}; aspect ratios ${ratios}`);
      lines.push(`  ${pct(s.matchedShare)} matched (now ${pct(fit.matchedShare)}), mean best IoU ${s.meanBestIou.toFixed(3)} (now ${fit.meanBestIou.toFixed(3)})`);
      lines.push(`  prior config: ${JSON.stringify(s.config)}`);
      if (s.reach.objects > 0) {
        lines.push(
          `  ${s.reach.objects} objects are smaller than ${s.reach.size.toFixed(3)} of the input (${(s.reach.size * r.inputSize).toFixed(0)} px), 2.7 centre steps of the ${r.maps[0]!.side}x${r.maps[0]!.side} map: ` +
            'even a prior of their own shape reaches them only near its centre; a larger input size (finer maps) helps them more than other priors',
        );
      }
    }
  }
  if (r.picture) lines.push(`picture: ${r.picture.file} (${r.picture.width}x${r.picture.height}${r.picture.image ? `, drawn on ${r.picture.image}` : ', on a plain canvas'})`);
  return lines.join('\n');
}

/** Parses `--at x,y` (fractions of the image). */
function parsePoint(text: string): [number, number] {
  const parts = text.split(',').map((s) => Number(s.trim()));
  if (parts.length !== 2 || !parts.every((v) => Number.isFinite(v) && v >= 0 && v <= 1)) throw new UsageError(`ssd priors: --at takes x,y as fractions of the image (0..1), got '${text}'`);
  return [parts[0]!, parts[1]!];
}

export const command: Command = {
  name: 'priors',
  summary: "show a model's priors map by map, and how well they fit a dataset's objects",
  help,
  flags,
  async run(argv: string[]): Promise<number> {
    const args = parseVerbArgs('priors', argv, flags);
    if (args.positionals.length > 0) throw new UsageError(`ssd priors: unexpected argument '${args.positionals[0]}' (see ssd priors --help)`);
    const v = (f: string): string | undefined => stringFlag(args, f);
    const dataValues = args.values.data;
    const data = Array.isArray(dataValues) ? dataValues.map(String) : undefined;
    const at = args.values.at;
    const points = Array.isArray(at) ? at.map((p) => parsePoint(String(p))) : undefined;
    if (v('weights') !== undefined && (v('model') !== undefined || v('input-size') !== undefined)) throw new UsageError('ssd priors: --weights brings its own model and input size; give --weights or --model, not both');
    if (v('model') !== undefined && !MODELS.has(v('model')!)) throw new UsageError(`ssd priors: unknown model '${v('model')}'; known: ${[...MODELS.keys()].join(', ')}`);
    if (v('image') !== undefined && data === undefined) throw new UsageError('ssd priors: --image names an image of --data; give --data');
    const out = v('out');
    if (out !== undefined && !out.toLowerCase().endsWith('.png')) throw new UsageError(`ssd priors: --out writes a PNG; give a .png file name, got '${out}'`);
    const threshold = numberFlag('priors', 'match-threshold', v('match-threshold'), 0.5, 0.01, 1);
    const inputSize = v('input-size') === undefined ? undefined : intFlag('priors', 'input-size', v('input-size'), 0, 32, 2048);

    const dataset: Dataset | undefined = data ? await loadDataset(data.length === 1 ? data[0]! : data, { split: v('split'), skipBad: booleanFlag(args, 'skip-bad') }) : undefined;
    let config: ModelConfig;
    if (v('weights') !== undefined) {
      const model = await SSD.load(v('weights')!);
      config = model.config;
      await model.dispose();
    } else config = modelConfig(v('model') ?? 'ssd300', dataset?.classNames, inputSize === undefined ? {} : { inputSize });
    const size = config.inputSize.width;
    const priors = config.priors;

    const report: PriorsReport = { model: config.architecture, inputSize: size, priors: priorCount(priors), config: priors, maps: describePriors(priors, size) };
    let fit: PriorFit | undefined;
    if (dataset) {
      fit = measurePriorFit(priors, dataset.samples, { threshold, classNames: dataset.classNames, ignoreDifficult: dataset.format === 'coco' });
      report.data = { source: data!.join(' + '), format: dataset.format, ...(v('split') ? { split: v('split') } : {}), images: dataset.samples.length };
      report.fit = { ...fitSummary(fit), verdict: fit.matchedShare >= GOOD_PRIOR_FIT ? 'good' : 'poor' };
      if (report.fit.verdict === 'poor') report.suggestion = suggestPriors(priors, fit);
    }
    if (out !== undefined) {
      const sample = dataset ? (v('image') !== undefined ? dataset.samples.find((s) => s.id === v('image')) : (dataset.samples.find((s) => s.labels.length > 0) ?? dataset.samples[0])) : undefined;
      if (v('image') !== undefined && !sample) throw new UsageError(`ssd priors: no image '${v('image')}' in ${data!.join(' + ')}${v('split') ? ` (split ${v('split')})` : ''}`);
      let objects: Array<{ box: [number, number, number, number]; bestPrior: number; bestIou: number }> = [];
      if (sample) {
        const one = measurePriorFit(priors, [sample], { threshold, ignoreDifficult: dataset!.format === 'coco' });
        objects = Array.from({ length: one.objects }, (_, o) => ({ box: Array.from(one.boxes.subarray(4 * o, 4 * o + 4)) as [number, number, number, number], bestPrior: one.bestPrior[o]!, bestIou: one.bestIou[o]! }));
      }
      const picture = await drawPriors(priors, { inputSize: size, ...(sample ? { image: sample.imagePath } : {}), objects, ...(points ? { points } : {}) });
      try {
        writeFileSync(out, picture.png, { flag: booleanFlag(args, 'force') ? 'w' : 'wx' });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`ssd priors: ${out} exists; give --force to replace it, or another --out`);
        throw e;
      }
      report.picture = { file: out, width: picture.width, height: picture.height, ...(sample ? { image: sample.imagePath } : {}) };
    }
    if (booleanFlag(args, 'json')) console.log(JSON.stringify(report, null, 2));
    else {
      // Files under the working folder as relative paths, as the user typed --data.
      const shown = (p: string): string => (relative(process.cwd(), p).startsWith('..') ? p : relative(process.cwd(), p));
      report.fit?.examples.forEach((e) => e.imagePath !== undefined && (e.imagePath = shown(e.imagePath)));
      if (report.picture?.image !== undefined) report.picture.image = shown(report.picture.image);
      console.log(formatPriorsReport(report));
    }
    return 0;
  },
};
