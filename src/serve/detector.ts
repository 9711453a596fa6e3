// What `ssd detect`, `ssd serve` and ONNX export need of a model. An `SSD` (src/nn/model.ts) has all of it; the
// split between prepare, predict and postprocess is what lets the server run many requests as one batch.
import type { ExportableModel } from '../nn/export.js';
import type { DetectOptions, Detection, ImageInput, PreparedImage } from '../nn/model.js';

export type { DetectOptions, Detection, ImageInput, PreparedImage };

/** A detector split into its three stages. */
export interface Detector extends ExportableModel {
  /** Decodes (EXIF orientation applied), resizes and normalises one image: (3, H, W) float32 at the input size. */
  prepare(image: ImageInput): Promise<PreparedImage>;
  /** Runs the network on `batch` prepared images laid end to end: locs (N, P, 4), scores (N, P, K) logits. */
  predict(images: Float32Array, batch: number): Promise<{ locs: Float32Array; scores: Float32Array }>;
  /** One image's raw outputs -> detections in pixels of a `width` x `height` image. */
  postprocess(locs: Float32Array, scores: Float32Array, width: number, height: number, options?: DetectOptions): Detection[];
}
