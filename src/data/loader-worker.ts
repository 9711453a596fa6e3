/**
 * The data loader's per-sample work, run in a worker thread (or inline with `workers: 0`):
 * decode the image, augment it (or only resize and normalise it) straight into its cell of the shared
 * sample ring, and match its boxes to the priors, writing the per-prior targets into the cell too.
 * An image that cannot be decoded is reported as such ('bad'), apart from other failures ('error'), so
 * that the loader can skip it when asked to.
 *
 * Nothing here depends on which thread runs it or in which order: a sample's result is a function
 * of the sample, its seed and the config alone.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { BoxCoder } from '../boxes/coder.js';
import { Matcher } from '../boxes/match.js';
import { decodeImage, ImageDecodeError } from './decode.js';
import { evalTransform, trainTransform, type Targets } from './augment.js';
import { IMAGENET_NORMALIZATION } from './normalization.js';
import { Random } from './random.js';
import type { Sample } from './types.js';

/** A sample as the loader needs it: the reader's {@link Sample} (path, pixel boxes, labels). */
export type LoaderSample = Pick<Sample, 'id' | 'imagePath' | 'boxes' | 'labels' | 'difficult'>;

/** What every sample's preparation needs besides the sample. Structured-cloneable. */
export interface PrepareConfig {
  /** Side of the square network input in pixels. */
  inputSize: number;
  /** Training augmentation on; off: resize and normalise only. */
  augment: boolean;
  /** Per-channel normalisation (0..1 scale). Default ImageNet's. */
  mean?: readonly number[];
  std?: readonly number[];
  /** (P,4) priors `[cx, cy, w, h]`; when absent no targets are made. */
  priors: Float32Array | undefined;
  matchThreshold: number;
  /** Offset encoding variances (default 0.1 / 0.2). */
  variances?: { center: number; size: number };
  /** Images with more pixels than this fail to decode (see decodeImage). */
  maxImagePixels?: number;
}

/** The sizes of the sample ring: `batchSize` cells (samples) of one input size and prior count. */
export interface SlotLayout {
  batchSize: number;
  inputSize: number;
  numPriors: number;
}

/** The ring's arrays, views on shared memory. `classesLo` views the int64 classes as int32 pairs. */
export interface SlotViews {
  images: Float32Array;
  classes: BigInt64Array;
  classesLo: Int32Array;
  locs: Float32Array;
}

/** What preparing one sample reports back (the pixels and targets went into the slot). */
export interface SampleResult {
  sampleIndex: number;
  /** The decoded image's size in pixels. */
  width: number;
  height: number;
  /** Objects left after augmentation. */
  objects: number;
  /** Priors matched to an object. */
  positives: number;
  /** Milliseconds spent preparing the sample (decode, augment, match). */
  ms: number;
}

/** Prepare sample `sampleIndex` with `seed` into ring cell `cell`. */
export type WorkerRequest = { type: 'prepare'; cell: number; sampleIndex: number; seed: number };
/** 'bad': the image cannot be decoded (the loader may skip it); 'error': anything else went wrong. */
export type WorkerResponse =
  | { type: 'ready' }
  | { type: 'done'; cell: number; result: SampleResult }
  | { type: 'bad'; cell: number; message: string }
  | { type: 'error'; cell: number; message: string };
/** A response about one sample (every response but 'ready'). */
export type SampleResponse = Exclude<WorkerResponse, { type: 'ready' }>;

/** Views of a slot's shared buffers. */
export function slotViews(buffers: { images: SharedArrayBuffer; classes: SharedArrayBuffer; locs: SharedArrayBuffer }, _layout: SlotLayout): SlotViews {
  return {
    images: new Float32Array(buffers.images),
    classes: new BigInt64Array(buffers.classes),
    classesLo: new Int32Array(buffers.classes),
    locs: new Float32Array(buffers.locs),
  };
}

// One matcher per thread, built on first use (it holds scratch buffers the size of the priors).
let matcher: Matcher | undefined;
let matcherPriors: Float32Array | undefined;
let classScratch = new Int32Array(0);

function matcherFor(config: PrepareConfig): Matcher {
  if (!matcher || matcherPriors !== config.priors) {
    matcher = new Matcher(new BoxCoder(config.priors!, { variances: config.variances }), { threshold: config.matchThreshold });
    matcherPriors = config.priors;
    classScratch = new Int32Array(config.priors!.length / 4);
  }
  return matcher;
}

/**
 * Prepares sample `sampleIndex` with `seed` into cell `offset` of the ring: image pixels (3,H,W),
 * and when priors are configured, classes (P) as int64 and offsets (P,4). Errors name the image file;
 * an image that cannot be decoded throws an ImageDecodeError.
 */
export async function prepareSample(
  sample: LoaderSample,
  sampleIndex: number,
  seed: number,
  config: PrepareConfig,
  views: SlotViews,
  offset: number,
): Promise<SampleResult> {
  const t0 = performance.now();
  const image = await decodeImage(sample.imagePath, { maxPixels: config.maxImagePixels });
  const size = config.inputSize;
  const pixels = views.images.subarray(offset * 3 * size * size, (offset + 1) * 3 * size * size);
  const target: Targets = { boxes: sample.boxes, labels: sample.labels, difficult: sample.difficult };
  const resize = { width: size, height: size, mean: config.mean ?? IMAGENET_NORMALIZATION.mean, std: config.std ?? IMAGENET_NORMALIZATION.std };
  let out: Targets;
  try {
    out = config.augment ? trainTransform(image, target, new Random(seed), pixels, 0, resize) : evalTransform(image, target, pixels, 0, resize);
  } catch (e) {
    throw new Error(`${sample.imagePath}: ${(e as Error).message}`);
  }
  let positives = 0;
  if (config.priors) {
    const P = config.priors.length / 4;
    const m = matcherFor(config);
    const locs = views.locs.subarray(offset * P * 4, (offset + 1) * P * 4);
    try {
      positives = m.match(out.boxes, out.labels, { classes: classScratch, offsets: locs }).positives;
    } catch (e) {
      throw new Error(`${sample.imagePath}: matching its boxes to the priors failed: ${(e as Error).message}`);
    }
    // int64 classes, little-endian: low word = class, high word = 0 (classes are >= 0).
    const lo = views.classesLo;
    for (let p = 0, o = 2 * offset * P; p < P; p++, o += 2) {
      lo[o] = classScratch[p]!;
      lo[o + 1] = 0;
    }
  }
  return { sampleIndex, width: image.width, height: image.height, objects: out.labels.length, positives, ms: performance.now() - t0 };
}

/** Runs one request and says how it went, as the loader's message protocol has it (shared by workers and inline). */
export async function runRequest(samples: readonly LoaderSample[], config: PrepareConfig, views: SlotViews, req: WorkerRequest): Promise<SampleResponse> {
  try {
    const result = await prepareSample(samples[req.sampleIndex]!, req.sampleIndex, req.seed, config, views, req.cell);
    return { type: 'done', cell: req.cell, result };
  } catch (e) {
    if (e instanceof ImageDecodeError) return { type: 'bad', cell: req.cell, message: e.message };
    return { type: 'error', cell: req.cell, message: e instanceof Error ? e.message : String(e) };
  }
}

interface WorkerInit {
  kind: 'ssd-loader';
  samples: LoaderSample[];
  config: PrepareConfig;
  ring: { buffers: { images: SharedArrayBuffer; classes: SharedArrayBuffer; locs: SharedArrayBuffer }; layout: SlotLayout };
}

if (!isMainThread && parentPort && (workerData as WorkerInit | undefined)?.kind === 'ssd-loader') {
  const init = workerData as WorkerInit;
  const port = parentPort;
  const views = slotViews(init.ring.buffers, init.ring.layout);
  port.on('message', (req: WorkerRequest) => {
    void runRequest(init.samples, init.config, views, req).then((response) => port.postMessage(response));
  });
  port.postMessage({ type: 'ready' } satisfies WorkerResponse);
}
