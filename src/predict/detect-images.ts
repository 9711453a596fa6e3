// Detection over many image files: prepared and run in batches, an annotated copy of each written to a folder.
import { extname, join } from 'node:path';
import { annotateImage } from '../draw/annotate.js';
import type { DetectOptions, Detector, PreparedImage } from '../serve/detector.js';
import { detectionJson, type DetectionJson } from './detection-json.js';
import { OutputNames } from './output-names.js';
import { makeOutDir, writeOutput } from './write-file.js';

/** One image's result in the run's JSON file. */
export interface ImageResult {
  /** The input file as given. */
  file: string;
  /** The annotated copy written, relative to the output folder. */
  annotated: string;
  /** Image size in pixels after EXIF orientation; boxes are in these pixels. */
  width: number;
  height: number;
  detections: DetectionJson[];
}

/** An input that could not be read or processed, or whose output could not be written, with the reason. */
export interface FailedInput {
  file: string;
  error: string;
}

/** Options of {@link detectImages}. */
export interface DetectImagesOptions extends DetectOptions {
  /** Folder for the annotated copies. */
  outDir: string;
  /** Images prepared and run together. Default 4. */
  batch?: number;
  /** Largest image read, in pixels, judged from its header (larger ones fail). Default 40 megapixels. */
  maxPixels?: number;
  /** The names taken in `outDir` by this run (share one between the calls of a run). Default: a new set. */
  names?: OutputNames;
  /** Called after each image (done or failed). */
  onImage?: (file: string, error?: Error) => void;
}

/**
 * Detects objects in `files` with `model` and writes an annotated copy of each to `outDir` (same base name; a
 * suffix `_1`, `_2` where names repeat). Unreadable images, and copies that cannot be written (the message names
 * the copy and what to do), are reported in `failed` and the others go on.
 */
export async function detectImages(model: Detector, files: readonly string[], options: DetectImagesOptions): Promise<{ images: ImageResult[]; failed: FailedInput[] }> {
  makeOutDir(options.outDir);
  const batch = options.batch ?? 4;
  const names = options.names ?? new OutputNames();
  const images: ImageResult[] = [];
  const failed: FailedInput[] = [];
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
    const prepared = await Promise.all(chunk.map((f) => model.prepare(f, options.maxPixels === undefined ? {} : { maxPixels: options.maxPixels }).catch((e: unknown) => (fail(f, e), undefined))));
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
          const name = names.copyOf(file);
          const drawn = await annotateImage(file, dets, { classNames: model.config.classNames, name: file });
          // Keep the input's extension only when the encoding matches it; else add the real one.
          const ext = extname(name).toLowerCase();
          const sameKind = (drawn.format === 'jpeg' && (ext === '.jpg' || ext === '.jpeg')) || ext === `.${drawn.format}`;
          const written = sameKind ? name : `${name}.${drawn.format === 'jpeg' ? 'jpg' : drawn.format}`;
          writeOutput(join(options.outDir, written), drawn.data, 'the annotated copy');
          images.push({ file, annotated: written, width: p.width, height: p.height, detections: dets.map(detectionJson) });
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
  failed.sort((a, b) => order.get(a.file)! - order.get(b.file)!);
  return { images, failed };
}
