// The MultiBox loss of SSD, as graph ops, so that one ONNX Runtime session runs forward, loss and backward.
// Matching (which prior answers for which object) is done beforehand in TypeScript, per image, by
// src/boxes/match.ts, and fed in as targets; the graph only scores the predictions against them.
import type { Graph, Tensor } from '../graph/index.js';

/**
 * The localisation loss over the positive priors' 4 offsets d = predicted - target:
 * - 'l1-mean': mean |d| over the 4*n_pos values. What the tutorial's code computes (nn.L1Loss(), although its
 *   text says Smooth L1), and what reproduces the reference loss_value (37.060882 vs 37.060879); the default.
 * - 'smooth-l1-mean': mean Smooth L1 (beta 1) over the 4*n_pos values.
 * - 'smooth-l1-sum': sum of Smooth L1 divided by n_pos, as in the paper and torchvision.
 */
export type LocLossKind = 'l1-mean' | 'smooth-l1-mean' | 'smooth-l1-sum';

/** Options of {@link multiboxLoss}. */
export interface MultiBoxLossOptions {
  /** Hard negatives kept per positive, per image. Default 3. */
  negPosRatio?: number;
  /** Weight of the localisation loss. Default 1. */
  alpha?: number;
  /** Default 'l1-mean' (the reference). */
  locLoss?: LocLossKind;
}

/** Matched targets, as graph inputs. */
export interface MultiBoxTargets {
  /** (N, P) int64: class per prior, 0 = background. */
  classes: Tensor;
  /** (N, P, 4) float32: the matched box encoded against each prior (ignored where the class is 0). */
  offsets: Tensor;
}

/** The loss terms (all float32 scalars). */
export interface MultiBoxLossTerms {
  /** conf + alpha * loc. */
  loss: Tensor;
  /** Cross-entropy over positives and hard negatives, divided by the batch's positives. */
  conf: Tensor;
  /** The localisation loss of the chosen kind. */
  loc: Tensor;
  /** Number of positive priors in the batch (float32). */
  positives: Tensor;
}

/**
 * Adds the MultiBox loss to `g`.
 * @param locs (N, P, 4) predicted offsets; @param scores (N, P, K) raw logits; P must be static.
 *
 * positives: priors whose target class is not 0. Per image, the 3*n_pos negatives with the highest
 * cross-entropy are the hard negatives (positives never count as negatives). Their ranks are found with TopK
 * on a detached copy and turned into a 0/1 mask, so the gradient flows through the chosen CE values only.
 * conf = (sum of CE over positives and hard negatives) / n_pos_total.
 *
 * An image with no objects has n_pos = 0: it contributes no positives, no hard negatives (3 * 0) and so
 * nothing to the loss. A batch with no positives at all divides by max(n_pos_total, 1): the loss is 0 and
 * finite, with zero gradients (the reference would divide 0 by 0).
 */
export function multiboxLoss(g: Graph, locs: Tensor, scores: Tensor, targets: MultiBoxTargets, options: MultiBoxLossOptions = {}): MultiBoxLossTerms {
  const ratio = options.negPosRatio ?? 3;
  const alpha = options.alpha ?? 1;
  const kind = options.locLoss ?? 'l1-mean';
  const P = scores.shape[1];
  if (typeof P !== 'number') throw new Error(`multiboxLoss: the number of priors (scores dimension 1) must be static, got '${P}'`);
  if (!(ratio >= 0)) throw new Error(`multiboxLoss: negPosRatio must be >= 0, got ${ratio}`);

  // Masks from the targets (no gradient: they depend on inputs only).
  const classesF = g.cast(targets.classes, 'float32'); // (N, P)
  const zero = g.constant(0);
  const posF = g.cast(g.greater(classesF, zero), 'float32'); // (N, P)
  const negF = g.cast(g.equal(classesF, zero), 'float32');
  const nPos = g.reduceSum(posF, [1], true); // (N, 1)
  const positives = g.reduceSum(posF, [0, 1], false);
  const denom = g.clip(positives, 1); // max(n_pos_total, 1)

  // Localisation loss over positives.
  const absDiff = g.abs(g.sub(locs, targets.offsets)); // (N, P, 4)
  let perValue = absDiff;
  if (kind !== 'l1-mean') {
    // Smooth L1 (beta 1) without a branch: m = min(|d|, 1); 0.5 m^2 + (|d| - m).
    const m = g.clip(absDiff, undefined, 1);
    perValue = g.add(g.mul(g.mul(m, m), 0.5), g.sub(absDiff, m));
  }
  const locSum = g.reduceSum(g.mul(perValue, g.reshape(posF, [0, -1, 1])), [0, 1, 2], false);
  const loc = kind === 'smooth-l1-sum' ? g.div(locSum, denom) : g.div(locSum, g.mul(denom, 4));

  // Cross-entropy per prior: -log softmax(scores)[class].
  const logProb = g.logSoftmax(scores, 2);
  const picked = g.gatherElements(logProb, g.reshape(targets.classes, [0, -1, 1]), 2); // (N, P, 1)
  const ce = g.neg(g.reshape(picked, [0, -1])); // (N, P)

  // Hard negatives: rank the negatives' CE (positives set to 0, so they rank last) per image, keep rank < 3 n_pos.
  const negCe = g.mul(g.detach(ce), negF);
  const order = g.topK(negCe, P, 1, true).indices; // (N, P): prior index at each rank
  const ranks = g.constant(Float32Array.from({ length: P }, (_, i) => i), { shape: [1, P] });
  const keepSorted = g.cast(g.less(ranks, g.mul(nPos, ratio)), 'float32'); // (N, P), in rank order
  const hard = g.scatterElements(g.mul(negF, 0), order, keepSorted, 1); // back to prior order
  const hardNeg = g.mul(hard, negF); // positives never count as negatives
  const confSum = g.reduceSum(g.mul(ce, g.add(posF, hardNeg)), [0, 1], false);
  const conf = g.div(confSum, denom);

  const loss = alpha === 1 ? g.add(conf, loc) : g.add(conf, g.mul(loc, alpha));
  return { loss, conf, loc, positives };
}
