// SSD detection post-processing as ONNX ops, appended to the network's graph so that an exported model gives
// final detections: softmax, decode against the priors (constants in the graph), per-class score threshold and
// ONNX NonMaxSuppression, then the top k over all classes. It mirrors DetectionPostprocessor (src/boxes/detect.ts):
//   - a class's box is a candidate when its probability is > minScore (NonMaxSuppression's score_threshold is
//     strict too);
//   - within a class, a box is dropped when its IoU with a kept higher-scored box is > maxOverlap (ONNX's
//     iou_threshold, also strict);
//   - the top k by score over all classes are kept.
// One difference of the runtime's NMS: it never suppresses a box of zero area (our NMS would, at IoU 0 it does not
// either, so they agree).
import type { Graph, Tensor } from '../graph/index.js';
import type { Variances } from '../boxes/coder.js';

/** The thresholds baked into the exported graph (see `overridable` to make them run-time inputs). */
export interface PostprocessOptions {
  /** Keep a class's box only when its probability is above this. Default 0.2 (display; 0.01 for evaluation). */
  minScore?: number;
  /** NMS: drop a box whose IoU with a kept higher-scored box of its class is above this. Default 0.45. */
  maxOverlap?: number;
  /** Keep at most this many detections per image over all classes. Default 200. */
  topK?: number;
  /** Class indices (1..nClasses-1) never reported; baked into the graph. Default none. */
  suppress?: readonly number[];
  /** Make `min_score` (float32 [1]), `max_overlap` (float32 [1]) and `top_k` (int64 [1]) graph inputs that every run
   *  feeds, instead of constants. (Not optional inputs with defaults: onnxruntime's JavaScript APIs refuse feeds
   *  for inputs that have an initializer.) Default false: the values above are constants. */
  overridable?: boolean;
}

/** The graph inputs of an `overridable` post-processing, and their types. */
export const POSTPROCESS_INPUTS = {
  min_score: { dtype: 'float32', shape: [1] },
  max_overlap: { dtype: 'float32', shape: [1] },
  top_k: { dtype: 'int64', shape: [1] },
} as const;

/** The tensors post-processing adds. Detections are padded to `top_k` per image; `count` says how many are real. */
export interface PostprocessOutputs {
  /** (N, k, 4) float32 `[xmin, ymin, xmax, ymax]`, fractions of the image (not clipped), zeros past `count`. */
  boxes: Tensor;
  /** (N, k) int64 class indices 1..nClasses-1, 0 past `count`. */
  labels: Tensor;
  /** (N, k) float32 class probabilities, decreasing, 0 past `count`. */
  scores: Tensor;
  /** (N) int64 number of detections per image. */
  count: Tensor;
}

/**
 * Appends post-processing to `g`.
 * @param locs (N, P, 4) offsets `[g_cx, g_cy, g_w, g_h]` from the priors
 * @param logits (N, P, K) raw class scores, class 0 background
 * @param priorsCxcy the P priors as `[cx, cy, w, h]` rows (length 4P)
 */
export function appendPostprocess(
  g: Graph,
  locs: Tensor,
  logits: Tensor,
  priorsCxcy: Float32Array,
  variances: Variances,
  options: PostprocessOptions = {},
): PostprocessOutputs {
  const P = priorsCxcy.length / 4;
  const K = logits.shape[2];
  if (typeof K !== 'number' || K < 2) throw new Error(`postprocess: scores must be (N, P, K) with a static K >= 2, got [${logits.shape}]`);
  if (locs.shape[1] !== P || logits.shape[1] !== P) throw new Error(`postprocess: ${P} priors, but locs [${locs.shape}] and scores [${logits.shape}]`);
  const minScore = options.minScore ?? 0.2;
  const maxOverlap = options.maxOverlap ?? 0.45;
  const topK = options.topK ?? 200;
  if (!(minScore >= 0 && minScore < 1)) throw new Error(`postprocess: minScore ${minScore} must be in [0, 1)`);
  if (!(maxOverlap >= 0 && maxOverlap <= 1)) throw new Error(`postprocess: maxOverlap ${maxOverlap} must be in [0, 1]`);
  if (!Number.isInteger(topK) || topK < 1) throw new Error(`postprocess: topK ${topK} must be an integer >= 1`);
  const C = K - 1; // object classes
  const N = locs.shape[0]!;

  // Decoded corner boxes (N, P, 4), float32 in the same order of operations as BoxCoder.decodeAt.
  const column = (i: number) => {
    const c = new Float32Array(P);
    for (let p = 0; p < P; p++) c[p] = priorsCxcy[4 * p + i]!;
    return g.constant(c, { shape: [P, 1] });
  };
  const [pcx, pcy, pw, ph] = [0, 1, 2, 3].map(column) as [Tensor, Tensor, Tensor, Tensor];
  const [lx, ly, lw, lh] = g.split(locs, [1, 1, 1, 1], 2) as [Tensor, Tensor, Tensor, Tensor];
  const centerScale = 1 / variances.center, sizeScale = 1 / variances.size;
  const cx = g.add(g.div(g.mul(lx, pw), centerScale), pcx);
  const cy = g.add(g.div(g.mul(ly, ph), centerScale), pcy);
  const hw = g.div(g.mul(g.exp(g.div(lw, sizeScale)), pw), 2);
  const hh = g.div(g.mul(g.exp(g.div(lh, sizeScale)), ph), 2);
  const boxes = g.concat([g.sub(cx, hw), g.sub(cy, hh), g.add(cx, hw), g.add(cy, hh)], 2);

  // Object-class probabilities as NonMaxSuppression wants them: (N, C, P).
  let probs = g.transpose(g.slice(g.softmax(logits, 2), [1], [K], [2]), [0, 2, 1]);
  if (options.suppress?.length) {
    const mask = new Float32Array(C).fill(1);
    for (const c of options.suppress) {
      if (!Number.isInteger(c) || c < 1 || c >= K) throw new Error(`postprocess: suppress holds class ${c}, outside 1..${K - 1}`);
      mask[c - 1] = 0;
    }
    probs = g.mul(probs, g.constant(mask, { shape: [C, 1] }));
  }

  const overridable = options.overridable ?? false;
  const param = (name: keyof typeof POSTPROCESS_INPUTS, value: Float32Array | BigInt64Array): Tensor => {
    const spec = POSTPROCESS_INPUTS[name];
    return overridable ? g.input(name, spec.dtype, [...spec.shape]) : g.constant(value, { dtype: spec.dtype, shape: [...spec.shape] });
  };
  const minScoreIn = param('min_score', Float32Array.of(minScore));
  const maxOverlapIn = param('max_overlap', Float32Array.of(maxOverlap));
  const topKIn = param('top_k', BigInt64Array.of(BigInt(topK)));
  const S = 'selected';
  // Per-class cap: no class can place more than top_k boxes in the final top k.
  const perClass = g.minimum(topKIn, P);
  const nmsInputs = [boxes, probs, perClass, maxOverlapIn, minScoreIn];
  const [selected] = g.custom('NonMaxSuppression', nmsInputs, { center_point_box: { type: 'int', value: 0 } }, [{ dtype: 'int64', shape: [S, 3] }]) as [Tensor];
  const selScores = g.custom('GatherND', [probs, selected], {}, [{ dtype: 'float32', shape: [S] }])[0]!;

  // Scatter the kept scores into a dense (N, C*P) map at class*P + prior, then take the top k per image.
  const [b, c, p] = g.split(selected, [1, 1, 1], 1) as [Tensor, Tensor, Tensor];
  const flat = g.add(g.mul(c, P), p);
  const dense = g.scatterND(g.zerosLike(g.reshape(probs, [0, -1])), g.concat([b, flat], 1), selScores);
  const k = g.minimum(topKIn, C * P);
  const top = g.topK(dense, k, 1);
  const valid = g.greater(top.values, 0);
  const cls = g.div(top.indices, P);
  const prior = g.sub(top.indices, g.mul(cls, P));
  const labels = g.where(valid, g.add(cls, 1), 0);
  const picked = g.custom('GatherND', [boxes, g.unsqueeze(prior, [2])], { batch_dims: { type: 'int', value: 1 } }, [{ dtype: 'float32', shape: [N, top.values.shape[1]!, 4] }])[0]!;
  const outBoxes = g.where(g.unsqueeze(valid, [2]), picked, 0);
  const count = g.reduceSum(g.cast(valid, 'int64'), [1]);
  return {
    boxes: outBoxes,
    labels,
    scores: top.values,
    count,
  };
}
