// Builds evaluation input for the tests: the reference's 12 images, and small hand-made images.
import { refF32, refI32 } from '../fixtures/reference.js';
import type { ImageResult } from '../../src/eval/index.js';

/** The reference's map_* arrays, split into one ImageResult per image. */
export function referenceImages(): ImageResult[] {
  const tb = refF32('map_true_boxes').data;
  const tl = refI32('map_true_labels').data;
  const td = refI32('map_true_difficult').data;
  const tn = refI32('map_true_per_image').data;
  const db = refF32('map_det_boxes').data;
  const dl = refI32('map_det_labels').data;
  const ds = refF32('map_det_scores').data;
  const dn = refI32('map_det_per_image').data;
  const images: ImageResult[] = [];
  let t = 0;
  let d = 0;
  for (let i = 0; i < tn.length; i++) {
    images.push({
      detections: { boxes: db.subarray(4 * d, 4 * (d + dn[i])), labels: dl.subarray(d, d + dn[i]), scores: ds.subarray(d, d + dn[i]) },
      groundTruth: {
        boxes: tb.subarray(4 * t, 4 * (t + tn[i])),
        labels: tl.subarray(t, t + tn[i]),
        difficult: Uint8Array.from(td.subarray(t, t + tn[i])),
      },
    });
    t += tn[i];
    d += dn[i];
  }
  return images;
}

/** One image from plain lists: boxes as [xmin, ymin, xmax, ymax] rows. */
export function image(
  gt: { box: number[]; label: number; difficult?: boolean }[],
  dets: { box: number[]; label: number; score: number }[],
): ImageResult {
  return {
    groundTruth: {
      boxes: Float32Array.from(gt.flatMap((g) => g.box)),
      labels: Int32Array.from(gt.map((g) => g.label)),
      difficult: Uint8Array.from(gt.map((g) => (g.difficult ? 1 : 0))),
    },
    detections: {
      boxes: Float32Array.from(dets.flatMap((d) => d.box)),
      labels: Int32Array.from(dets.map((d) => d.label)),
      scores: Float32Array.from(dets.map((d) => d.score)),
    },
  };
}

/** The ground truth of `images` given back as detections (score 1 - 0.01 * index): a perfect detector. */
export function perfect(images: ImageResult[]): ImageResult[] {
  return images.map(({ groundTruth: gt }) => ({
    groundTruth: gt,
    detections: {
      boxes: Float32Array.from(gt.boxes),
      labels: Int32Array.from(gt.labels),
      scores: Float32Array.from(gt.labels, (_, i) => 1 - 0.01 * i),
    },
  }));
}
