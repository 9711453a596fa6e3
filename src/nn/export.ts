// Exports a model as a standard ONNX file for other runtimes (Python's onnxruntime, onnxruntime-web, ...):
// the network with its weights as initializers and a dynamic batch, optionally followed by the detection
// post-processing (src/io/postprocess-graph.ts) so that the file's outputs are final boxes, labels and scores.
import { writeFileSync, renameSync } from 'node:fs';
import { generatePriors } from '../boxes/priors.js';
import { Graph, ONNX, OPSET, type onnx } from '../graph/index.js';
import type { ModelConfig } from './config.js';
import { BuildContext, type Weights } from './layers.js';
import type { SSDNetwork } from './ssd.js';
import { appendPostprocess, type PostprocessOptions } from './postprocess-graph.js';

/** What export needs of a model (an `SSD` has all three). */
export interface ExportableModel {
  readonly config: ModelConfig;
  readonly network: SSDNetwork;
  readonly weights: Weights;
}

/** Options of {@link exportOnnx}. */
export interface ExportOptions extends PostprocessOptions {
  /** Append detection post-processing (softmax, decode, NMS, top-k). Default false: raw `locs` and `scores`. */
  withPostprocess?: boolean;
  /** A fixed batch size; default a symbolic batch dimension 'N' (any batch at run time). */
  batch?: number;
}

/** The metadata key (ONNX metadata_props) holding the model config as JSON, as in our model files. */
export const ONNX_CONFIG_KEY = 'ssd.config';
/** The metadata key saying which outputs the file has: 'raw' or 'detections'. */
export const ONNX_OUTPUTS_KEY = 'ssd.outputs';

/**
 * The model as ONNX bytes (opset 18, IR 8; ops all within what onnxruntime's CPU and WebAssembly backends run).
 *
 * Input `images`: float32 (N, 3, H, W) at the model's input size, RGB scaled to [0, 1] then normalised with the
 * config's mean and std (stored with the class names in the metadata under `ssd.config`).
 *
 * Outputs without post-processing: `locs` (N, P, 4) offsets from the priors and `scores` (N, P, K) logits.
 * With post-processing: `boxes` (N, k, 4) float32 `[xmin, ymin, xmax, ymax]` as fractions of the image, `labels`
 * (N, k) int64 class indices, `scores` (N, k) float32 probabilities sorted decreasing, `num_detections` (N) int64;
 * rows past `num_detections` are zeros. With `overridable`, the thresholds are inputs fed at every run instead of
 * constants: `min_score` float32 [1], `max_overlap` float32 [1], `top_k` int64 [1].
 */
export function exportOnnx(model: ExportableModel, options: ExportOptions = {}): Uint8Array {
  const { width, height } = model.config.inputSize;
  if (options.batch !== undefined && !(Number.isInteger(options.batch) && options.batch >= 1)) throw new Error(`exportOnnx: batch ${options.batch} must be a whole number >= 1`);
  const g = new Graph(`ssd-ts ${model.config.architecture}`);
  const images = g.input('images', 'float32', [options.batch ?? 'N', 3, height, width]);
  const { locs, scores } = model.network.build(new BuildContext(g, model.weights), images);
  if (options.withPostprocess) {
    const post = appendPostprocess(g, locs, scores, generatePriors(model.config.priors), model.config.variances, options);
    g.output(post.boxes, 'boxes');
    g.output(post.labels, 'labels');
    g.output(post.scores, 'scores');
    g.output(post.count, 'num_detections');
  } else {
    g.output(locs, 'locs');
    g.output(scores, 'scores');
  }
  return finish(g.toModelProto(), model, options.withPostprocess ? 'detections' : 'raw');
}

/** Writes {@link exportOnnx}'s bytes to `file` atomically; returns the byte count. */
export function exportOnnxFile(model: ExportableModel, file: string, options: ExportOptions = {}): number {
  const bytes = exportOnnx(model, options);
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, file);
  return bytes.byteLength;
}

function finish(proto: onnx.ModelProto, model: ExportableModel, kind: 'raw' | 'detections'): Uint8Array {
  proto.metadataProps = [
    { key: ONNX_CONFIG_KEY, value: JSON.stringify(model.config) },
    { key: ONNX_OUTPUTS_KEY, value: kind },
  ];
  proto.docString =
    kind === 'raw'
      ? 'SSD network: images (N,3,H,W) normalised -> locs (N,P,4) offsets from the priors, scores (N,P,K) logits'
      : 'SSD detector: images (N,3,H,W) normalised -> boxes (N,k,4) fractional xyxy, labels (N,k), scores (N,k), num_detections (N)';
  if (proto.opsetImport?.[0]?.version !== OPSET) throw new Error(`exportOnnx: unexpected opset ${proto.opsetImport?.[0]?.version}`);
  return ONNX.ModelProto.encode(proto).finish();
}
