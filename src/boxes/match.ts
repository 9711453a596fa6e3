// Matching priors to ground truth, exactly as the SSD300 tutorial's MultiBoxLoss does it:
//   1. IoU of every object with every prior;
//   2. each prior takes the object it overlaps most (first object on ties);
//   3. each object is forced onto the prior it overlaps most (first prior on ties), with overlap 1,
//      objects in order, so a later object wins a prior that two objects share;
//   4. priors whose overlap is below the threshold become background (class 0).
// The IoU matrix is never stored: one pass per object keeps each prior's best object and the
// object's best prior, so matching 50 objects to 8732 priors touches only O(priors) memory.
import type { BoxCoder } from './coder.js';
import { validateBoxesXy, validateLabels } from './validate.js';

const f = Math.fround;
const BLOCK = 16;

/** Options of {@link Matcher}. */
export interface MatcherOptions {
  /** A prior whose best IoU is below this is background. Default 0.5. */
  threshold?: number;
}

/** Per-prior training targets of one image. */
export interface MatchResult {
  /** Class per prior (length priorCount); 0 is background. */
  classes: Int32Array;
  /**
   * Offsets per prior (length 4 * priorCount): the matched object's box encoded against the prior,
   * `[g_cx, g_cy, g_w, g_h]`. Filled for every prior, also background ones (encoded against the
   * prior's best object), as the reference does; all zeros when the image has no objects.
   */
  offsets: Float32Array;
  /** Number of priors with a class other than background. */
  positives: number;
}

/** Where {@link Matcher.match} writes its result (e.g. views into a batch's target tensors). */
export interface MatchOutput {
  classes: Int32Array;
  offsets: Float32Array;
}

/**
 * Assigns ground-truth objects to priors. Holds scratch buffers sized to the priors, so one
 * Matcher should be reused across images (it is not safe to share between concurrent workers).
 */
export class Matcher {
  readonly coder: BoxCoder;
  readonly threshold: number;
  private readonly priorArea: Float32Array;
  private readonly bestOverlap: Float32Array;
  private readonly bestObject: Int32Array;
  // Bounding box of each run of BLOCK consecutive priors: an object that misses a block's box has
  // IoU 0 with all its priors, which changes nothing, so the block is skipped. Priors come in
  // spatial order (rows, columns), so most blocks of the fine maps are skipped for most objects.
  private readonly blockBox: Float32Array;
  // Per prior: the centre-offset denominators (p_w * v_center, p_h * v_center) and ln p_w, ln p_h.
  // Size offsets are (ln w - ln p_w) / v_size: one log per object instead of two per prior. This
  // skips the float32 rounding of w / p_w, so it may differ from BoxCoder.encode by a few float32
  // ulps (measured < 1e-5 on the reference targets).
  private readonly priorTerms: Float64Array;
  private objectBestPrior = new Int32Array(64);
  private objectTerms = new Float64Array(256);

  constructor(coder: BoxCoder, options: MatcherOptions = {}) {
    const threshold = options.threshold ?? 0.5;
    if (!(threshold >= 0 && threshold <= 1)) throw new Error(`Matcher: threshold ${threshold} must be in [0, 1]`);
    this.coder = coder;
    this.threshold = threshold;
    const n = coder.priorCount;
    const xy = coder.priorsXy;
    this.priorArea = new Float32Array(n);
    for (let p = 0; p < n; p++) this.priorArea[p] = f(xy[4 * p + 2] - xy[4 * p]) * f(xy[4 * p + 3] - xy[4 * p + 1]);
    this.bestOverlap = new Float32Array(n);
    this.bestObject = new Int32Array(n);
    const cxcy = coder.priorsCxcy;
    const centerScale = 1 / coder.variances.center;
    this.priorTerms = new Float64Array(4 * n);
    for (let p = 0; p < n; p++) {
      this.priorTerms[4 * p] = f(cxcy[4 * p + 2] / centerScale);
      this.priorTerms[4 * p + 1] = f(cxcy[4 * p + 3] / centerScale);
      this.priorTerms[4 * p + 2] = Math.log(cxcy[4 * p + 2]);
      this.priorTerms[4 * p + 3] = Math.log(cxcy[4 * p + 3]);
    }
    const nBlocks = Math.ceil(n / BLOCK);
    this.blockBox = new Float32Array(4 * nBlocks);
    for (let b = 0; b < nBlocks; b++) {
      let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
      for (let p = b * BLOCK; p < Math.min(n, (b + 1) * BLOCK); p++) {
        x1 = Math.min(x1, xy[4 * p]);
        y1 = Math.min(y1, xy[4 * p + 1]);
        x2 = Math.max(x2, xy[4 * p + 2]);
        y2 = Math.max(y2, xy[4 * p + 3]);
      }
      this.blockBox.set([x1, y1, x2, y2], 4 * b);
    }
  }

  /**
   * Matches one image's objects to the priors.
   * @param boxesXy ground truth `[xmin, ymin, xmax, ymax]` rows, fractions of the image (length 4*n, n may be 0)
   * @param labels class per object (length n), each >= 1
   * @param into optional output arrays (lengths priorCount and 4*priorCount); allocated when omitted
   */
  match(boxesXy: Float32Array, labels: ArrayLike<number>, into?: MatchOutput): MatchResult {
    validateBoxesXy(boxesXy, { fractional: true, positiveSize: true, what: 'ground truth' });
    const nObjects = boxesXy.length / 4;
    validateLabels(labels, nObjects);
    const nPriors = this.coder.priorCount;
    if (into && (into.classes.length !== nPriors || into.offsets.length !== 4 * nPriors)) {
      throw new Error(`Matcher: output arrays have lengths ${into.classes.length} and ${into.offsets.length}, need ${nPriors} and ${4 * nPriors}`);
    }
    const classes = into?.classes ?? new Int32Array(nPriors);
    const offsets = into?.offsets ?? new Float32Array(4 * nPriors);
    if (nObjects === 0) {
      classes.fill(0);
      offsets.fill(0);
      return { classes, offsets, positives: 0 };
    }

    if (this.objectBestPrior.length < nObjects) {
      this.objectBestPrior = new Int32Array(2 * nObjects);
      this.objectTerms = new Float64Array(8 * nObjects);
    }
    const bestOverlap = this.bestOverlap, bestObject = this.bestObject, objectBestPrior = this.objectBestPrior;
    const priorsXy = this.coder.priorsXy, priorArea = this.priorArea, blockBox = this.blockBox;
    // A prior that overlaps no object keeps object 0 and overlap 0 (the reference's argmax on ties).
    bestOverlap.fill(0);
    bestObject.fill(0);

    for (let j = 0; j < nObjects; j++) {
      const bx1 = boxesXy[4 * j], by1 = boxesXy[4 * j + 1], bx2 = boxesXy[4 * j + 2], by2 = boxesXy[4 * j + 3];
      const area = f(f(bx2 - bx1) * f(by2 - by1));
      let best = -1;
      let bestPrior = 0;
      for (let b = 0, bq = 0; b < blockBox.length; b += 4, bq += BLOCK) {
        if (blockBox[b] >= bx2 || blockBox[b + 2] <= bx1 || blockBox[b + 1] >= by2 || blockBox[b + 3] <= by1) continue;
        const end = bq + BLOCK < nPriors ? bq + BLOCK : nPriors;
        for (let p = bq, q = 4 * bq; p < end; p++, q += 4) {
          const px2 = priorsXy[q + 2], px1 = priorsXy[q];
          const w = f((px2 < bx2 ? px2 : bx2) - (px1 > bx1 ? px1 : bx1));
          if (w <= 0) continue;
          const py2 = priorsXy[q + 3], py1 = priorsXy[q + 1];
          const h = f((py2 < by2 ? py2 : by2) - (py1 > by1 ? py1 : by1));
          if (h <= 0) continue;
          const inter = f(w * h);
          const iou = f(inter / f(f(area + priorArea[p]) - inter));
          if (iou > best) {
            best = iou;
            bestPrior = p;
          }
          if (iou > bestOverlap[p]) {
            bestOverlap[p] = iou;
            bestObject[p] = j;
          }
        }
      }
      objectBestPrior[j] = bestPrior;
      const t = this.objectTerms;
      t[4 * j] = f(bx2 + bx1) / 2;
      t[4 * j + 1] = f(by2 + by1) / 2;
      t[4 * j + 2] = Math.log(f(bx2 - bx1));
      t[4 * j + 3] = Math.log(f(by2 - by1));
    }
    for (let j = 0; j < nObjects; j++) {
      bestObject[objectBestPrior[j]] = j;
      bestOverlap[objectBestPrior[j]] = 1;
    }

    const threshold = f(this.threshold);
    const t = this.objectTerms, pt = this.priorTerms, cxcy = this.coder.priorsCxcy;
    const sizeScale = 1 / this.coder.variances.size;
    let positives = 0;
    for (let p = 0; p < nPriors; p++) {
      const j = bestObject[p];
      if (bestOverlap[p] < threshold) classes[p] = 0;
      else {
        classes[p] = labels[j];
        positives++;
      }
      const o = 4 * p, q = 4 * j;
      offsets[o] = f(t[q] - cxcy[o]) / pt[o];
      offsets[o + 1] = f(t[q + 1] - cxcy[o + 1]) / pt[o + 1];
      offsets[o + 2] = (t[q + 2] - pt[o + 2]) * sizeScale;
      offsets[o + 3] = (t[q + 3] - pt[o + 3]) * sizeScale;
    }
    return { classes, offsets, positives };
  }
}
