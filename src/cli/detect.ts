// `ssd detect`: runs a model over images and folders, writes annotated copies and one JSON file for the run.
import { mkdirSync, readdirSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { basename, extname, join, relative, resolve } from 'node:path';
import { loadDataset } from '../data/dataset.js';
import type { Dataset } from '../data/types.js';
import { annotateImage } from '../draw/annotate.js';
import { SSD } from '../nn/model.js';
import type { Detection, DetectOptions, Detector, PreparedImage } from '../serve/detector.js';
import { detectionsToCocoResults, samplesOfFiles } from '../train/coco-results.js';
import { booleanFlag, intFlag, numberFlag, parseVerbArgs, stringFlag } from './args.js';
import { UsageError, type Command } from './command.js';
import { defaultEvalSplit } from './eval.js';
import { ProgressLine } from './progress-line.js';

/** File extensions taken from folders (files named on the command line are tried whatever their name). */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif', '.avif', '.heic', '.heif']);

/**
 * The image files that `paths` name: files as given, folders searched recursively for image extensions (sorted,
 * hidden entries skipped). A path that does not exist is a UsageError naming it.
 */
export function collectImages(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.')) continue;
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (IMAGE_EXTENSIONS.has(extname(name).toLowerCase())) out.push(p);
    }
  };
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new UsageError(`ssd detect: '${p}' does not exist`);
    }
    if (st.isDirectory()) walk(p);
    else out.push(p);
  }
  return out;
}

/** One image's result in the run's JSON file. */
export interface ImageResult {
  /** The input file as given. */
  file: string;
  /** The annotated copy written, relative to the output folder. */
  annotated: string;
  /** Image size in pixels after EXIF orientation; boxes are in these pixels. */
  width: number;
  height: number;
  detections: { label: string; classIndex: number; score: number; box: Detection['box'] }[];
}

/** The run's JSON file (ours; `--coco` writes COCO results instead). */
export interface DetectReport {
  weights: string;
  classNames: readonly string[];
  options: Required<Pick<DetectOptions, 'minScore' | 'maxOverlap' | 'topK'>> & { suppress: Array<string | number> };
  images: ImageResult[];
  /** Files that could not be read or written, with the reason. */
  failed: { file: string; error: string }[];
}

/** Options of {@link detectImages}. */
export interface DetectImagesOptions extends DetectOptions {
  /** Folder for the annotated copies. */
  outDir: string;
  /** Images prepared and run together. Default 4. */
  batch?: number;
  /** Called after each image (done or failed). */
  onImage?: (file: string, error?: Error) => void;
}

/**
 * Detects objects in `files` with `model` and writes an annotated copy of each to `outDir` (same base name; a
 * suffix `_1`, `_2` where names repeat). Unreadable images are reported in `failed` and the others go on.
 */
export async function detectImages(model: Detector, files: readonly string[], options: DetectImagesOptions): Promise<Pick<DetectReport, 'images' | 'failed'>> {
  mkdirSync(options.outDir, { recursive: true });
  const batch = options.batch ?? 4;
  const images: ImageResult[] = [];
  const failed: DetectReport['failed'] = [];
  const taken = new Set<string>();
  const outName = (file: string): string => {
    const ext = extname(file), stem = basename(file, ext);
    let name = basename(file), i = 0;
    while (taken.has(name.toLowerCase())) name = `${stem}_${++i}${ext}`;
    taken.add(name.toLowerCase());
    return name;
  };
  const fail = (file: string, e: unknown) => {
    const err = e instanceof Error ? e : new Error(String(e));
    // Library errors start with the file name already; make sure every message names it.
    const msg = err.message.includes(file) ? err.message : `${file}: ${err.message}`;
    failed.push({ file, error: msg });
    options.onImage?.(file, new Error(msg));
  };
  const { width: W, height: H } = model.config.inputSize;
  const plane = 3 * W * H;
  for (let start = 0; start < files.length; start += batch) {
    const chunk = files.slice(start, start + batch);
    const prepared = await Promise.all(chunk.map((f) => model.prepare(f).catch((e: unknown) => (fail(f, e), undefined))));
    const ok = chunk.map((f, i) => ({ file: f, p: prepared[i] })).filter((x): x is { file: string; p: PreparedImage } => x.p !== undefined);
    if (ok.length === 0) continue;
    const input = new Float32Array(ok.length * plane);
    ok.forEach((x, i) => input.set(x.p.data, i * plane));
    const { locs, scores } = await model.predict(input, ok.length);
    const perLocs = locs.length / ok.length, perScores = scores.length / ok.length;
    await Promise.all(
      ok.map(async ({ file, p }, i) => {
        try {
          const dets = model.postprocess(locs.subarray(i * perLocs, (i + 1) * perLocs), scores.subarray(i * perScores, (i + 1) * perScores), p.width, p.height, options);
          const name = outName(file);
          const drawn = await annotateImage(file, dets, { classNames: model.config.classNames, name: file });
          // Keep the input's extension only when the encoding matches it; else add the real one.
          const ext = extname(name).toLowerCase();
          const sameKind = (drawn.format === 'jpeg' && (ext === '.jpg' || ext === '.jpeg')) || ext === `.${drawn.format}`;
          const written = sameKind ? name : `${name}.${drawn.format === 'jpeg' ? 'jpg' : drawn.format}`;
          writeFileSync(join(options.outDir, written), drawn.data);
          images.push({
            file,
            annotated: written,
            width: p.width,
            height: p.height,
            detections: dets.map((d) => ({ label: d.label, classIndex: d.classIndex, score: round(d.score, 6), box: roundBox(d.box) })),
          });
          options.onImage?.(file);
        } catch (e) {
          fail(file, e);
        }
      }),
    );
  }
  // Promise.all finishes out of order within a chunk: report in input order.
  const order = new Map(files.map((f, i) => [f, i]));
  images.sort((a, b) => order.get(a.file)! - order.get(b.file)!);
  return { images, failed };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function roundBox(b: Detection['box']): Detection['box'] {
  return { xmin: round(b.xmin, 2), ymin: round(b.ymin, 2), xmax: round(b.xmax, 2), ymax: round(b.ymax, 2) };
}

function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(value, null, 1) + '\n');
  renameSync(tmp, file);
}

const help = `usage: ssd detect --weights <model.safetensors> <images or folders...> [options]
       ssd detect --weights <model.safetensors> --coco --data <dataset> [--split <name>] [images...] [options]

Detects objects and writes an annotated copy of every image (a box and a "class score" label per
object) plus one JSON file for the run into --out. Folders are searched recursively for images
(${[...IMAGE_EXTENSIONS].join(' ')}). Unreadable images are reported and skipped.

options:
  --weights <file>      model file (safetensors written by ssd train / ssd import)   [required]
  --out <dir>           output folder                                  (default runs/detect)
  --min-score <p>       keep a box when its class probability is above p  (default 0.2)
  --max-overlap <iou>   NMS: drop a box overlapping a better one of its class more than this (default 0.45)
  --top-k <n>           at most n detections per image                  (default 200)
  --suppress <a,b>      class names (or indices) never reported
  --batch <n>           images run together                             (default 4)
  --coco                write COCO results (coco_results.json: [{image_id, category_id, bbox [x,y,w,h], score}])
                        instead of detections.json: the file ssd eval --detections and pycocotools read
  --data <dataset>      with --coco: name images and classes as this dataset does (Pascal VOC root, COCO
                        instances .json or YOLO data.yaml): image_id is the COCO image id, or the VOC / YOLO
                        file stem as a string ("000361"); category_id the COCO category id (1..90 with gaps),
                        or the 1-based index in the dataset's class list; model classes match the dataset's
                        by name. Without images named, every image of the split is detected
  --split <name>        the split of --data (default: VOC test, YOLO val)
  --threads <n>         ONNX Runtime threads                            (default: all cores)

Without --data, --coco names an image by its file stem (a number when all digits, as COCO's
000000397133.jpg -> 397133) and a class by the model's class index. For mAP, detect with
--min-score 0.01 (as ssd eval does); pycocotools keeps the 100 best of each image and class.

JSON (detections.json): {weights, classNames, options, images: [{file, annotated, width, height,
detections: [{label, classIndex, score, box: {xmin, ymin, xmax, ymax}}]}], failed: [{file, error}]};
boxes in pixels of the image as displayed (EXIF orientation applied).
Exit code 0 when every image was processed, 1 when some failed (listed on stderr and in the JSON).`;

export const command: Command = {
  name: 'detect',
  summary: 'detect objects in images; write annotated copies and a JSON file',
  help,
  async run(argv: string[]): Promise<number> {
    const args = parseVerbArgs('detect', argv, {
      weights: { type: 'string' },
      out: { type: 'string' },
      'min-score': { type: 'string' },
      'max-overlap': { type: 'string' },
      'top-k': { type: 'string' },
      suppress: { type: 'string' },
      batch: { type: 'string' },
      threads: { type: 'string' },
      coco: { type: 'boolean' },
      data: { type: 'string' },
      split: { type: 'string' },
    });
    const weights = stringFlag(args, 'weights');
    if (!weights) throw new UsageError('ssd detect: --weights <model file> is required (see ssd detect --help)');
    const data = stringFlag(args, 'data');
    const coco = booleanFlag(args, 'coco');
    if (data !== undefined && !coco) throw new UsageError('ssd detect: --data names the dataset whose image and category ids --coco writes; add --coco');
    if (stringFlag(args, 'split') !== undefined && data === undefined) throw new UsageError('ssd detect: --split needs --data <dataset>');
    if (args.positionals.length === 0 && data === undefined) throw new UsageError('ssd detect: name at least one image or folder (see ssd detect --help)');
    const minScore = numberFlag('detect', 'min-score', stringFlag(args, 'min-score'), 0.2, 0, 0.999999);
    const maxOverlap = numberFlag('detect', 'max-overlap', stringFlag(args, 'max-overlap'), 0.45, 0, 1);
    const topK = intFlag('detect', 'top-k', stringFlag(args, 'top-k'), 200, 1);
    const batch = intFlag('detect', 'batch', stringFlag(args, 'batch'), 4, 1, 256);
    const threadsFlag = stringFlag(args, 'threads');
    const threads = threadsFlag === undefined ? undefined : intFlag('detect', 'threads', threadsFlag, 0, 1, 1024);
    const suppressText = stringFlag(args, 'suppress');
    const suppress = suppressText ? suppressText.split(',').map((s) => s.trim()).filter(Boolean).map((s) => (/^\d+$/.test(s) ? Number(s) : s)) : [];
    const outDir = resolve(stringFlag(args, 'out') ?? join('runs', 'detect'));
    let dataset: { data: Dataset; what: string } | undefined;
    if (data !== undefined) {
      const split = stringFlag(args, 'split') ?? defaultEvalSplit(data);
      dataset = { data: await loadDataset(data, { split }), what: `${data}${split !== undefined ? ` (${split})` : ''}` };
    }
    const files = args.positionals.length > 0 ? collectImages(args.positionals) : dataset!.data.samples.map((s) => s.imagePath);
    if (files.length === 0) throw new UsageError(`ssd detect: no images found in ${args.positionals.length > 0 ? args.positionals.join(', ') : dataset!.what}`);
    // Before any work: every image must be one of the dataset's, or its id is unknown.
    if (dataset !== undefined) samplesOfFiles(files, dataset.data, dataset.what);

    const model = await SSD.load(weights, threads === undefined ? {} : { threads });
    for (const s of suppress) {
      const ok = typeof s === 'number' ? s >= 1 && s < model.classNames.length : model.classNames.includes(s);
      if (!ok) throw new UsageError(`ssd detect: --suppress names unknown class '${s}'; the model's classes: ${model.classNames.slice(1).join(', ')}`);
    }
    const progress = new ProgressLine('detect', files.length);
    const t0 = Date.now();
    try {
      const { images, failed } = await detectImages(model, files, {
        outDir,
        batch,
        minScore,
        maxOverlap,
        topK,
        suppress,
        onImage: (file, err) => {
          if (err) progress.log(`ssd detect: skipped ${err.message}`);
          progress.tick(1, basename(file));
        },
      });
      progress.finish();
      let jsonFile: string;
      if (coco) {
        jsonFile = join(outDir, 'coco_results.json');
        const { results, dropped } = detectionsToCocoResults(images, model.classNames, dataset);
        writeJsonAtomic(jsonFile, results);
        if (dropped.size > 0) {
          const list = [...dropped].map(([name, n]) => `${name} (${n})`).join(', ');
          console.error(`ssd detect: left out of ${basename(jsonFile)}: detections of classes ${dataset!.what} does not have: ${list}`);
        }
      } else {
        jsonFile = join(outDir, 'detections.json');
        const report: DetectReport = { weights, classNames: model.classNames, options: { minScore, maxOverlap, topK, suppress }, images, failed };
        writeJsonAtomic(jsonFile, report);
      }
      const n = images.reduce((a, b) => a + b.detections.length, 0);
      const secs = (Date.now() - t0) / 1000;
      console.error(
        `ssd detect: ${images.length} image${images.length === 1 ? '' : 's'}, ${n} detection${n === 1 ? '' : 's'} in ${secs.toFixed(1)} s` +
          ` (${(images.length / Math.max(secs, 1e-9)).toFixed(2)} img/s); annotated copies and ${basename(jsonFile)} in ${relative(process.cwd(), outDir) || '.'}`,
      );
      if (failed.length) {
        console.error(`ssd detect: ${failed.length} file${failed.length === 1 ? '' : 's'} failed:`);
        for (const f of failed) console.error(`  ${f.error}`);
        return 1;
      }
      return 0;
    } finally {
      await model.dispose();
    }
  },
};
