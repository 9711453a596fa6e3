/**
 * Evaluating a model on a dataset split (used by the trainer's periodic evaluation and `ssd eval`),
 * and scoring detections made elsewhere (COCO results JSON, read by ./coco-results.ts).
 *
 * Images go through the evaluation transform (resize to the model's input, normalise; no
 * augmentation) in the parallel loader, the network runs on batches, and detections are made as
 * the reference evaluates: min score 0.01, NMS IoU 0.45, top 200, in pixels of the original image.
 */
import { DataLoader, type SkippedSample } from '../data/loader.js';
import type { Dataset, Sample } from '../data/types.js';
import { evaluateDetections } from '../eval/evaluate.js';
import type { CocoSummary, Evaluation, ImageResult, Metric } from '../eval/types.js';

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
  /** Detection settings; defaults are the reference evaluation's: minScore 0.01, maxOverlap 0.45, topK 200. */
  minScore?: number;
  maxOverlap?: number;
  topK?: number;
  /** Called after each batch with images done and total. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Leave out images that cannot be decoded (truncated, not an image, too large), with their ground truth, and
   * list them in the result's `skipped`. Default false: such an image stops the evaluation, naming the file.
   */
  skipBad?: boolean;
}

/**
 * Detections of one image in pixels: `[xmin, ymin, xmax, ymax]` rows, dataset labels (1-based), scores. A model's
 * are float32; those read from a results file keep the file's double precision.
 */
export interface ImageDetections {
  /** The sample's id. */
  id: string;
  boxes: Float32Array | Float64Array;
  labels: Int32Array;
  scores: Float32Array | Float64Array;
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

/** What evaluation needs of a dataset: COCO datasets also name their format (image id order) and category ids. */
export type EvaluationDataset = Pick<Dataset, 'samples' | 'classNames'> & Partial<Pick<Dataset, 'format' | 'categoryIds'>>;

function groundTruth(s: Sample): ImageResult['groundTruth'] {
  return { boxes: s.boxes, labels: s.labels, difficult: s.difficult, crowd: s.crowd, area: s.area };
}

/**
 * Sample indices by ascending image id, the order in which pycocotools ranks equal scores of different images:
 * numeric ids for COCO, file stems as strings otherwise.
 */
export function imageIdOrder(dataset: Pick<EvaluationDataset, 'samples' | 'format'>): number[] {
  const ids = dataset.samples.map((s) => s.id);
  const order = ids.map((_, i) => i);
  if (dataset.format === 'coco') return order.sort((a, b) => Number(ids[a]) - Number(ids[b]));
  return order.sort((a, b) => (ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : 0));
}

/** Evaluates `detections[i]` (of sample i) with `metric`; for 'coco', images in pycocotools' order. */
function evaluateOn(dataset: EvaluationDataset, detections: readonly ImageDetections[], metric: Metric): Evaluation {
  if (detections.length !== dataset.samples.length) throw new Error(`evaluation: ${detections.length} images of detections for ${dataset.samples.length} samples`);
  const order = metric === 'coco' ? imageIdOrder(dataset) : dataset.samples.map((_, i) => i);
  const images: ImageResult[] = order.map((i) => ({ detections: detections[i]!, groundTruth: groundTruth(dataset.samples[i]!) }));
  return evaluateDetections(images, { metric, numClasses: dataset.classNames.length, classNames: dataset.classNames });
}

/** What {@link evaluateModel} returns. */
export interface ModelEvaluation {
  evaluation: Evaluation;
  /** Detections per sample of the dataset, in its order; undefined for a skipped sample. */
  detections: Array<ImageDetections | undefined>;
  /** Images left out because they cannot be decoded (only with skipBad; empty otherwise). */
  skipped: SkippedSample[];
}

/**
 * Runs `model` on every image of `dataset` and evaluates its detections with `opts.metric`. With `skipBad`, images
 * that cannot be decoded are left out of the evaluation (detections and ground truth) and listed in `skipped`.
 */
export async function evaluateModel(model: Predictor, dataset: EvaluationDataset, opts: EvaluateModelOptions): Promise<ModelEvaluation> {
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
    skipBad: opts.skipBad ?? false,
  });
  const detections = new Array<ImageDetections | undefined>(dataset.samples.length);
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
      done += b.size + b.skipped.length;
      opts.onProgress?.(done, dataset.samples.length);
    }
  } finally {
    await loader.close();
  }
  const left = new Set(loader.skipped.map((s) => s.sampleIndex));
  const kept = left.size === 0 ? dataset : { ...dataset, samples: dataset.samples.filter((_, i) => !left.has(i)) };
  const keptDetections = detections.filter((_, i) => !left.has(i)) as ImageDetections[];
  return { evaluation: evaluateOn(kept, keptDetections, opts.metric), detections, skipped: loader.skipped };
}

/** Scores detections made elsewhere (e.g. {@link readCocoResults}) against the dataset's ground truth. */
export function evaluateResults(detections: readonly ImageDetections[], dataset: EvaluationDataset, metric: Metric): Evaluation {
  return evaluateOn(dataset, detections, metric);
}

/** The summary keys of `ssd eval --json` for 'coco', in pycocotools' stats order. */
const SUMMARY_KEYS = [
  ['ap', 'ap'], ['ap50', 'ap50'], ['ap75', 'ap75'], ['ap_small', 'apSmall'], ['ap_medium', 'apMedium'], ['ap_large', 'apLarge'],
  ['ar1', 'ar1'], ['ar10', 'ar10'], ['ar100', 'ar100'], ['ar_small', 'arSmall'], ['ar_medium', 'arMedium'], ['ar_large', 'arLarge'],
] as const satisfies readonly (readonly [string, keyof CocoSummary])[];

/** The JSON `ssd eval --json` writes (see {@link evaluationJson}). */
export interface EvaluationJson {
  metric: Metric;
  map: number | null;
  /** 'coco' only: pycocotools' 12 summary numbers (null where it prints -1). */
  ap?: number | null; ap50?: number | null; ap75?: number | null; ap_small?: number | null; ap_medium?: number | null; ap_large?: number | null;
  ar1?: number | null; ar10?: number | null; ar100?: number | null; ar_small?: number | null; ar_medium?: number | null; ar_large?: number | null;
  /** AP of each class by name (for 'coco', AP@[.5:.95]); null where a class has no ground truth. */
  ap_per_class: Record<string, number | null>;
}

/**
 * The JSON `ssd eval --json` writes: `{metric, map, ap_per_class: {name: ap}}`, and for 'coco' the 12 summary
 * numbers `ap, ap50, ap75, ap_small, ap_medium, ap_large, ar1, ar10, ar100, ar_small, ar_medium, ar_large` too.
 */
export function evaluationJson(e: Evaluation): EvaluationJson {
  const ap: Record<string, number | null> = {};
  e.classNames.forEach((n, i) => (ap[n] = e.apPerClass[i] ?? null));
  const summary: Partial<EvaluationJson> = {};
  if (e.metric === 'coco') for (const [key, field] of SUMMARY_KEYS) summary[key] = e.summary[field];
  return { metric: e.metric, map: e.map, ...summary, ap_per_class: ap };
}
