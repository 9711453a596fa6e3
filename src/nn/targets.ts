// Training targets of a batch: each image's objects matched to the priors (src/boxes/match.ts), packed into the
// tensors the MultiBox loss graph takes.
import type { Matcher } from '../boxes/match.js';
import type { TensorData } from '../graph/index.js';

/** One image's ground truth: `[xmin, ymin, xmax, ymax]` rows as fractions of the image, classes 1..K-1. */
export interface ImageObjects {
  boxes: Float32Array;
  labels: Int32Array | ArrayLike<number>;
}

/** The loss graph's target feeds for a batch, and its positives per image. */
export interface BatchTargets {
  /** (N, P) int64, class per prior (0 = background). */
  classes: TensorData;
  /** (N, P, 4) float32, offsets of the matched box from each prior. */
  offsets: TensorData;
  positives: number[];
}

/** Matches every image of a batch (an image may have no objects: all its priors are background). */
export function matchBatch(matcher: Matcher, images: readonly ImageObjects[]): BatchTargets {
  const n = images.length;
  const P = matcher.coder.priorCount;
  const classes = new BigInt64Array(n * P);
  const offsets = new Float32Array(n * P * 4);
  const scratch = new Int32Array(P);
  const positives: number[] = [];
  images.forEach((im, i) => {
    let r;
    try {
      r = matcher.match(im.boxes, im.labels, { classes: scratch, offsets: offsets.subarray(i * P * 4, (i + 1) * P * 4) });
    } catch (e) {
      throw new Error(`image ${i} of the batch: ${(e as Error).message}`);
    }
    for (let p = 0; p < P; p++) classes[i * P + p] = BigInt(scratch[p]!);
    positives.push(r.positives);
  });
  return {
    classes: { data: classes, dims: [n, P], dtype: 'int64' },
    offsets: { data: offsets, dims: [n, P, 4], dtype: 'float32' },
    positives,
  };
}
