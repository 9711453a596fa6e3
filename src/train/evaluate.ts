/**
 * Evaluating a model on a dataset split (used by the trainer's periodic evaluation and `ssd eval`),
 * and scoring detections made elsewhere (COCO results JSON).
 *
 * Images go through the evaluation transform (resize to the model's input, normalise; no
 * augmentation) in the parallel loader, the network runs on batches, and detections are made as
 * the reference evaluates: min score 0.01, NMS IoU 0.45, top 200, in pixels of the original image.
 */
import { readFileSync } from 'node:fs';
import { DataLoader } from '../data/loader.js';
import type { Dataset, Sample } from '../data/types.js';
import { evaluateDetections } from '../eval/evaluate.js';
import type { Evaluation, ImageResult, Metric } from '../eval/types.js';

/** What evaluation needs of a model (`SSD` fits). */
export interface Predictor {
  readonly config: { classNames: readonly string[]; inputSize: { width: number; height: number }; normalization: { mean: readonly number[]; std: readonly number[] } };
  /** Raw outputs of `batch` normalised images (N,3,H,W): locs (N,P,4), scores (N,P,K) logits. */
  predict(images: Float32Array, batch: number): Promise<{ locs: Float32Array; scores: Float32Array }>;
  /** One image's raw outputs -> detections in pixels of a width x height image. */
  postprocess(
    locs: Float32Array,
    scores: Float32Array,
    width: number,
    height: number,
    options: { minScore?: number; maxOverlap?: number; topK?: number },
  ): { classIndex: number; score: number; box: { xmin: number; ymin: number; xmax: number; ymax: number } }[];
}

/** Options of {@link evaluateModel}. */
export interface EvaluateModelOptions {
  metric: Metric;
  /** Images per forward pass. Default 8. */
  batch?: number;
  /** Loader worker threads. Default: the loader's default. */
  workers?: number;
  /** Largest image decoded, in pixels. Default: the loader's (40 megapixels). */
  maxPixels?: number;
  /** Detection settings; defaults are the reference evaluation's: minScore 0.01, maxOverlap 0.45, topK 200. */
  minScore?: number;
  maxOverlap?: number;
  topK?: number;
  /** Called after each batch with images done and total. */
  onProgress?: (done: number, total: number) => void;
}

/** Detections of one image in pixels: `[xmin, ymin, xmax, ymax]` rows, dataset labels (1-based), scores. */
export interface ImageDetections {
  id: string;
  boxes: Float32Array;
  labels: Int32Array;
  scores: Float32Array;
}

/**
 * For each model class index (0 = background), the dataset label (1-based) of the class with the same
 * name, or 0 when the dataset has no such class. Throws when a dataset class is unknown to the model.
 */
export function classMapping(modelClassNames: readonly string[], datasetClassNames: readonly string[]): Int32Array {
  const map = new Int32Array(modelClassNames.length);
  const index = new Map(datasetClassNames.map((n, i) => [n, i + 1]));
  modelClassNames.forEach((n, k) => (map[k] = k === 0 ? 0 : (index.get(n) ?? 0)));
  const known = new Set(modelClassNames.slice(1));
  const missing = datasetClassNames.filter((n) => !known.has(n));
  if (missing.length > 0) {
    throw new Error(`the model does not know the dataset's class${missing.length > 1 ? 'es' : ''} ${missing.slice(0, 5).map((n) => `'${n}'`).join(', ')}${missing.length > 5 ? ', ...' : ''} (model classes: ${modelClassNames.slice(1).join(', ')})`);
  }
  return map;
}

function groundTruth(s: Sample): ImageResult['groundTruth'] {
  return { boxes: s.boxes, labels: s.labels, difficult: s.difficult };
}

/** Runs `model` on every image of `dataset` and evaluates its detections with `opts.metric`. */
export async function evaluateModel(model: Predictor, dataset: Pick<Dataset, 'samples' | 'classNames'>, opts: EvaluateModelOptions): Promise<{ evaluation: Evaluation; detections: ImageDetections[] }> {
  const { width, height } = model.config.inputSize;
  if (width !== height) throw new Error(`evaluation: the loader makes square inputs, the model takes ${width}x${height}`);
  const mapping = classMapping(model.config.classNames, dataset.classNames);
  const batch = opts.batch ?? 8;
  const loader = await DataLoader.create({
    samples: dataset.samples,
    batchSize: batch,
    inputSize: width,
    augment: false,
    shuffle: false,
    normalization: model.config.normalization,
    workers: opts.workers,
    maxPixels: opts.maxPixels,
  });
  const detections: ImageDetections[] = new Array(dataset.samples.length);
  let done = 0;
  try {
    for await (const b of loader.epoch(0)) {
      const { locs, scores } = await model.predict(b.images, b.size);
      const P = locs.length / (4 * b.size);
      const K = scores.length / (P * b.size);
      for (let k = 0; k < b.size; k++) {
        const s = b.sampleIndices[k]!;
        const w = b.imageSizes[2 * k]!;
        const h = b.imageSizes[2 * k + 1]!;
        const found = model.postprocess(locs.subarray(k * P * 4, (k + 1) * P * 4), scores.subarray(k * P * K, (k + 1) * P * K), w, h, {
          minScore: opts.minScore ?? 0.01,
          maxOverlap: opts.maxOverlap ?? 0.45,
          topK: opts.topK ?? 200,
        }).filter((d) => mapping[d.classIndex]! > 0);
        const boxes = new Float32Array(4 * found.length);
        const labels = new Int32Array(found.length);
        const sc = new Float32Array(found.length);
        found.forEach((d, i) => {
          boxes.set([d.box.xmin, d.box.ymin, d.box.xmax, d.box.ymax], 4 * i);
          labels[i] = mapping[d.classIndex]!;
          sc[i] = d.score;
        });
        detections[s] = { id: dataset.samples[s]!.id, boxes, labels, scores: sc };
      }
      done += b.size;
      opts.onProgress?.(done, dataset.samples.length);
    }
  } finally {
    await loader.close();
  }
  const images: ImageResult[] = dataset.samples.map((s, i) => ({ detections: detections[i]!, groundTruth: groundTruth(s) }));
  const evaluation = evaluateDetections(images, { metric: opts.metric, numClasses: dataset.classNames.length, classNames: dataset.classNames });
  return { evaluation, detections };
}

/** One entry of a COCO results file. */
interface CocoResult {
  image_id: number | string;
  category_id: number;
  bbox: [number, number, number, number];
  score: number;
}

/**
 * Reads detections in the COCO results format (`[{image_id, category_id, bbox: [x, y, w, h], score}]`,
 * pixels) for the images of `dataset`: `image_id` is the sample id (VOC file stem, COCO image id),
 * `category_id` the class's 1-based index in the dataset's class list. Errors name the file, the
 * entry and the field.
 */
export function readCocoResults(path: string, dataset: Pick<Dataset, 'samples' | 'classNames'>): ImageDetections[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: cannot read detections: ${(e as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new Error(`${path}: detections must be a JSON array of {image_id, category_id, bbox, score}`);
  const byId = new Map(dataset.samples.map((s, i) => [s.id, i]));
  const per: { boxes: number[]; labels: number[]; scores: number[] }[] = dataset.samples.map(() => ({ boxes: [], labels: [], scores: [] }));
  const nClasses = dataset.classNames.length;
  parsed.forEach((entry: unknown, i: number) => {
    const fail = (field: string, what: string): never => {
      throw new Error(`${path}: [${i}].${field} ${what}`);
    };
    if (typeof entry !== 'object' || entry === null) fail('', 'is not an object');
    const r = entry as Partial<CocoResult>;
    if (typeof r.image_id !== 'number' && typeof r.image_id !== 'string') fail('image_id', `must be a number or a string, got ${JSON.stringify(r.image_id)}`);
    const s = byId.get(String(r.image_id));
    if (s === undefined) fail('image_id', `${JSON.stringify(r.image_id)} is not an image of the dataset`);
    if (!Number.isInteger(r.category_id) || r.category_id! < 1 || r.category_id! > nClasses) {
      fail('category_id', `must be a class index 1..${nClasses} (${dataset.classNames.slice(0, 3).join(', ')}, ...), got ${JSON.stringify(r.category_id)}`);
    }
    const b = r.bbox;
    if (!Array.isArray(b) || b.length !== 4 || !b.every((v) => typeof v === 'number' && Number.isFinite(v))) fail('bbox', `must be [x, y, width, height] numbers, got ${JSON.stringify(b)}`);
    if (b![2] < 0 || b![3] < 0) fail('bbox', `has a negative width or height: ${JSON.stringify(b)}`);
    if (typeof r.score !== 'number' || !Number.isFinite(r.score)) fail('score', `must be a finite number, got ${JSON.stringify(r.score)}`);
    const p = per[s!]!;
    p.boxes.push(b![0], b![1], b![0] + b![2], b![1] + b![3]);
    p.labels.push(r.category_id!);
    p.scores.push(r.score!);
  });
  return per.map((p, i) => ({ id: dataset.samples[i]!.id, boxes: Float32Array.from(p.boxes), labels: Int32Array.from(p.labels), scores: Float32Array.from(p.scores) }));
}

/** Scores detections made elsewhere against the dataset's ground truth. */
export function evaluateResults(detections: readonly ImageDetections[], dataset: Pick<Dataset, 'samples' | 'classNames'>, metric: Metric): Evaluation {
  const images: ImageResult[] = dataset.samples.map((s, i) => ({ detections: detections[i]!, groundTruth: groundTruth(s) }));
  return evaluateDetections(images, { metric, numClasses: dataset.classNames.length, classNames: dataset.classNames });
}

/** The JSON `ssd eval --json` writes: `{metric, map, ap_per_class: {name: ap}}` (null where a class has no ground truth). */
export function evaluationJson(e: Evaluation): { metric: Metric; map: number | null; ap_per_class: Record<string, number | null> } {
  const ap: Record<string, number | null> = {};
  e.classNames.forEach((n, i) => (ap[n] = e.apPerClass[i] ?? null));
  return { metric: e.metric, map: e.map, ap_per_class: ap };
}
