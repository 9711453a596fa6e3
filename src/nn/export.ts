// Exports a model as a standard ONNX file for other runtimes (Python's onnxruntime, onnxruntime-web, ...):
// the network with its weights as initializers and a dynamic batch, optionally followed by the detection
// post-processing (postprocess-graph.ts) so that the file's outputs are final boxes, labels and scores. A model
// that runs an ONNX file (an int8 model from `ssd quantize`) exports that file's network, with post-processing
// appended the same way.
import { generatePriors } from '../boxes/priors.js';
import { Graph, ONNX, OPSET, type onnx } from '../graph/index.js';
import { decodeModel, GraphEditor } from '../graph/onnx-edit.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import type { ModelConfig } from './config.js';
import { BuildContext, type Weights } from './layers.js';
import type { SSDNetwork } from './ssd.js';
import { appendPostprocess, type PostprocessOptions } from './postprocess-graph.js';

/** What export needs of a model (an `SSD` has all of it): its config, and its network as weights or as ONNX. */
export interface ExportableModel {
  readonly config: ModelConfig;
  readonly network: SSDNetwork;
  /** The float32 weights (not read when `onnx` is given). */
  readonly weights: Weights;
  /** The model's raw network as an ONNX file (input `images`, outputs `locs` and `scores`), when it runs one. */
  readonly onnx?: { readonly bytes: Uint8Array; readonly precision: 'int8' | 'float32' } | undefined;
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
/** The metadata key saying how the file's numbers are stored: 'int8' (ssd quantize); absent for float32. */
export const ONNX_PRECISION_KEY = 'ssd.precision';

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
 *
 * A model that runs an ONNX file keeps that file's network as it is (its batch dimension too) and metadata.
 */
export function exportOnnx(model: ExportableModel, options: ExportOptions = {}): Uint8Array {
  if (options.batch !== undefined && !(Number.isInteger(options.batch) && options.batch >= 1)) throw new Error(`exportOnnx: batch ${options.batch} must be a whole number >= 1`);
  if (model.onnx) {
    // A copy: the caller may transfer its buffer to a worker (ThreadedPredictor does) or change it.
    if (!options.withPostprocess) return new Uint8Array(model.onnx.bytes);
    const proto = decodeModel(model.onnx.bytes, 'exportOnnx');
    appendPostprocessTo(proto, model.config, options);
    setMetadata(proto, model.config, 'detections');
    return ONNX.ModelProto.encode(proto).finish();
  }
  const { width, height } = model.config.inputSize;
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
  writeFileAtomic(file, bytes);
  return bytes.byteLength;
}

const DOC = {
  raw: 'SSD network: images (N,3,H,W) normalised -> locs (N,P,4) offsets from the priors, scores (N,P,K) logits',
  detections: 'SSD detector: images (N,3,H,W) normalised -> boxes (N,k,4) fractional xyxy, labels (N,k), scores (N,k), num_detections (N)',
};

/** Sets the config and output kind in a model's metadata, keeping its other entries. */
function setMetadata(proto: onnx.IModelProto, config: ModelConfig, kind: 'raw' | 'detections'): void {
  const mine = new Set([ONNX_CONFIG_KEY, ONNX_OUTPUTS_KEY]);
  proto.metadataProps = [
    { key: ONNX_CONFIG_KEY, value: JSON.stringify(config) },
    { key: ONNX_OUTPUTS_KEY, value: kind },
    ...(proto.metadataProps ?? []).filter((p) => !mine.has(p.key ?? '')),
  ];
  proto.docString = DOC[kind];
}

function finish(proto: onnx.ModelProto, model: ExportableModel, kind: 'raw' | 'detections'): Uint8Array {
  setMetadata(proto, model.config, kind);
  if (proto.opsetImport?.[0]?.version !== OPSET) throw new Error(`exportOnnx: unexpected opset ${proto.opsetImport?.[0]?.version}`);
  return ONNX.ModelProto.encode(proto).finish();
}

/**
 * Appends post-processing to a raw network's ModelProto (outputs `locs` and `scores`): the post-processing graph
 * is built on its own, its tensors renamed under `postprocess/`, and joined to the network, whose `scores`
 * becomes `raw_scores` so that the detector's `scores` output can take the name.
 */
function appendPostprocessTo(proto: onnx.IModelProto, config: ModelConfig, options: PostprocessOptions): void {
  const net = new GraphEditor(proto.graph!);
  const outputs = proto.graph!.output ?? [];
  const locsInfo = outputs.find((o) => o.name === 'locs');
  const scoresInfo = outputs.find((o) => o.name === 'scores');
  if (!locsInfo || !scoresInfo) throw new Error(`exportOnnx: the model's network has outputs ${outputs.map((o) => `'${o.name}'`).join(', ')}; post-processing needs 'locs' and 'scores'`);
  const rawScores = net.fresh('raw_scores');
  net.rename('scores', rawScores);
  const priors = generatePriors(config.priors);
  const P = priors.length / 4;
  const K = config.classNames.length;
  const post = new Graph('postprocess');
  const locs = post.input('locs_in', 'float32', ['N', P, 4]);
  const scores = post.input('scores_in', 'float32', ['N', P, K]);
  const out = appendPostprocess(post, locs, scores, priors, config.variances, options);
  post.output(out.boxes, 'boxes');
  post.output(out.labels, 'labels');
  post.output(out.scores, 'scores');
  post.output(out.count, 'num_detections');
  const p = post.toModelProto().graph!;
  const inputs = (p.input ?? []).filter((v) => v.name !== 'locs_in' && v.name !== 'scores_in');
  const finalNames = new Set(['boxes', 'labels', 'scores', 'num_detections', ...inputs.map((v) => v.name!)]);
  const renamed = (t: string): string => (t === '' || finalNames.has(t) ? t : t === 'locs_in' ? 'locs' : t === 'scores_in' ? rawScores : `postprocess/${t}`);
  for (const t of p.initializer ?? []) net.setInitializer({ ...t, name: renamed(t.name!) });
  for (const n of p.node ?? []) net.addNode({ ...n, name: `postprocess/${n.name}`, input: (n.input ?? []).map(renamed), output: (n.output ?? []).map(renamed) });
  net.graph.input = [...(net.graph.input ?? []), ...inputs];
  net.graph.output = p.output ?? [];
  net.finish();
}
