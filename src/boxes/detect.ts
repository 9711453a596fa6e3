// Detection post-processing, as the SSD300 tutorial's detect_objects: softmax, decode, then per
// object class a score threshold and greedy NMS, then the top k over all classes.
import type { BoxCoder } from './coder.js';
import { expNonPositive } from './exp.js';
import { nmsSorted, sortByScoreDesc } from './nms.js';

/** Options of {@link DetectionPostprocessor.run}. */
export interface PostprocessOptions {
  /** Keep a class's box only when its score is above this. Default 0.01 (evaluation setting; 0.2 for display). */
  minScore?: number;
  /** Within a class, drop a box whose IoU with a kept higher-scored box is above this. Default 0.45. */
  maxOverlap?: number;
  /** Keep at most this many detections over all classes, the highest scored. Default 200. */
  topK?: number;
  /** Class indices to leave out (class 0, background, is always left out). Default none. */
  suppress?: number[];
  /** `'logits'` (default): raw class scores, softmax applied here; `'probabilities'`: already softmaxed. */
  scoreType?: 'logits' | 'probabilities';
}

/** The detections of one image, sorted by decreasing score. */
export interface DetectionArrays {
  /** `[xmin, ymin, xmax, ymax]` rows (length 4 * count), fractions of the image, not clipped to [0, 1]. */
  boxes: Float32Array;
  /** Class per detection (length count), 1..nClasses-1. */
  labels: Int32Array;
  /** Score per detection (length count), the class probability. */
  scores: Float32Array;
  count: number;
}

/**
 * Turns the network's raw outputs for one image into detections. Holds scratch buffers sized to
 * the priors and classes, so reuse one instance across images (not across concurrent workers).
 *
 * Unlike the tutorial, an image where nothing passes the threshold gives `count: 0`, not one
 * background box `[0, 0, 1, 1]` with score 0 and label 0.
 */
export class DetectionPostprocessor {
  readonly coder: BoxCoder;
  private probs = new Float32Array(0);
  private decoded: Float32Array;
  private buckets = new Int32Array(0);
  private bucketCount = new Int32Array(0);
  private keys = new Float64Array(0);
  private keep: Int32Array;
  private keptBoxes: Float32Array;
  private outPrior = new Int32Array(0);
  private outLabel = new Int32Array(0);
  private outScore = new Float32Array(0);
  private outOrder = new Int32Array(0);
  private column = new Float32Array(0);
  private exps = new Float64Array(0);
  private floorHeap = new Float32Array(0);

  constructor(coder: BoxCoder) {
    this.coder = coder;
    const n = coder.priorCount;
    this.decoded = new Float32Array(4 * n);
    this.keep = new Int32Array(n);
    this.keptBoxes = new Float32Array(4 * n);
  }

  /**
   * @param locs predicted offsets `[g_cx, g_cy, g_w, g_h]` per prior (length 4 * priorCount)
   * @param scores class scores per prior, row-major (length priorCount * nClasses, class 0 = background)
   */
  run(locs: Float32Array, scores: Float32Array, options: PostprocessOptions = {}): DetectionArrays {
    const nPriors = this.coder.priorCount;
    const minScore = Math.fround(options.minScore ?? 0.01);
    const maxOverlap = options.maxOverlap ?? 0.45;
    const topK = options.topK ?? 200;
    if (locs.length !== 4 * nPriors) throw new Error(`detect: locs has length ${locs.length}, need 4 x ${nPriors} priors = ${4 * nPriors}`);
    const nClasses = scores.length / nPriors;
    if (!Number.isInteger(nClasses) || nClasses < 2) {
      throw new Error(`detect: scores has length ${scores.length}, need ${nPriors} priors x nClasses (>= 2)`);
    }
    if (!(minScore >= 0 && minScore < 1)) throw new Error(`detect: minScore ${options.minScore} must be in [0, 1)`);
    if (!(maxOverlap >= 0 && maxOverlap <= 1)) throw new Error(`detect: maxOverlap ${maxOverlap} must be in [0, 1]`);
    if (!Number.isInteger(topK) || topK < 0) throw new Error(`detect: topK ${topK} must be an integer >= 0`);
    const skip = new Uint8Array(nClasses);
    skip[0] = 1;
    for (const c of options.suppress ?? []) {
      if (!Number.isInteger(c) || c < 0 || c >= nClasses) throw new Error(`detect: suppress holds class ${c}, outside 0..${nClasses - 1}`);
      skip[c] = 1;
    }
    this.ensure(nClasses, topK);

    if (topK === 0) return { boxes: new Float32Array(0), labels: new Int32Array(0), scores: new Float32Array(0), count: 0 };
    const total = this.collectAndSuppress(locs, scores, nClasses, skip, minScore, maxOverlap, topK, options.scoreType === 'probabilities');
    const classScores = this.outScore, decoded = this.decoded;

    // Top k over all classes, by decreasing score.
    const order = this.outOrder;
    for (let k = 0; k < total; k++) order[k] = k;
    sortByScoreDesc(classScores, order, total, this.keys);
    const count = Math.min(total, topK);
    const boxes = new Float32Array(4 * count), labels = new Int32Array(count), outScores = new Float32Array(count);
    for (let k = 0; k < count; k++) {
      const i = order[k];
      const p = this.outPrior[i];
      for (let e = 0; e < 4; e++) boxes[4 * k + e] = decoded[4 * p + e];
      labels[k] = this.outLabel[i];
      outScores[k] = classScores[i];
    }
    return { boxes, labels, scores: outScores, count };
  }

  /** {@link run} for a batch: `locs` (batch x priorCount x 4) and `scores` (batch x priorCount x nClasses). */
  runBatch(locs: Float32Array, scores: Float32Array, batchSize: number, options: PostprocessOptions = {}): DetectionArrays[] {
    const nPriors = this.coder.priorCount;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`detect: batchSize ${batchSize} must be an integer >= 1`);
    if (locs.length !== batchSize * 4 * nPriors) throw new Error(`detect: locs has length ${locs.length}, need ${batchSize} x ${nPriors} x 4`);
    const perImage = scores.length / batchSize;
    if (!Number.isInteger(perImage)) throw new Error(`detect: scores length ${scores.length} is not a multiple of batch size ${batchSize}`);
    const out: DetectionArrays[] = [];
    for (let i = 0; i < batchSize; i++) {
      out.push(this.run(locs.subarray(i * 4 * nPriors, (i + 1) * 4 * nPriors), scores.subarray(i * perImage, (i + 1) * perImage), options));
    }
    return out;
  }

  private ensure(nClasses: number, topK: number): void {
    const nPriors = this.coder.priorCount;
    const cells = nPriors * nClasses;
    if (this.probs.length !== cells) {
      this.probs = new Float32Array(cells);
      this.buckets = new Int32Array(cells);
      this.bucketCount = new Int32Array(nClasses);
      this.keys = new Float64Array(cells);
      this.outPrior = new Int32Array(cells);
      this.outLabel = new Int32Array(cells);
      this.outScore = new Float32Array(cells);
      this.outOrder = new Int32Array(cells);
      this.column = new Float32Array(nPriors);
      this.exps = new Float64Array(nClasses);
    }
    if (this.floorHeap.length < topK) this.floorHeap = new Float32Array(topK);
  }

  /**
   * Softmax, threshold, decode and per-class NMS. Fills outPrior/outLabel/outScore with the kept
   * detections (class by class, each by decreasing score) and returns how many.
   */
  private collectAndSuppress(
    locs: Float32Array, scores: Float32Array, nClasses: number, skip: Uint8Array,
    minScore: number, maxOverlap: number, topK: number, areProbabilities: boolean,
  ): number {
    const nPriors = this.coder.priorCount;
    const probs = this.probs, buckets = this.buckets, counts = this.bucketCount, decoded = this.decoded;
    const exps = this.exps;
    // A class probability is at most exp(logit - max logit), so a prior whose best object-class
    // logit is log(minScore) below its max logit cannot pass: its exps are not computed at all.
    // (The margin covers float32 rounding of the probability.)
    const logMin = minScore > 0 ? Math.log(minScore) - 1e-4 : -Infinity;
    counts.fill(0);
    for (let p = 0, row = 0; p < nPriors; p++, row += nClasses) {
      let any = false;
      if (areProbabilities) {
        for (let c = 1; c < nClasses; c++) {
          const s = scores[row + c];
          if (!(s >= 0 && s <= 1)) throw new Error(`detect: probability of prior ${p} class ${c} is ${s}, outside [0, 1]`);
          if (s > minScore && skip[c] === 0) {
            probs[row + c] = s;
            buckets[c * nPriors + counts[c]++] = p;
            any = true;
          }
        }
      } else {
        let max = -Infinity, maxObject = -Infinity, check = 0;
        for (let c = 0; c < nClasses; c++) {
          const l = scores[row + c];
          check += l;
          if (l > max) max = l;
          if (l > maxObject && skip[c] === 0) maxObject = l;
        }
        if (!Number.isFinite(check)) {
          throw new Error(`detect: scores of prior ${p} hold NaN or Infinity (${Array.from(scores.subarray(row, row + nClasses)).join(', ')})`);
        }
        if (maxObject - max < logMin) continue;
        let sum = 0;
        for (let c = 0; c < nClasses; c++) {
          const e = expNonPositive(scores[row + c] - max);
          exps[c] = e;
          sum += e;
        }
        // prob > minScore needs exps[c] > minScore * sum (up to rounding): divide only then.
        const need = minScore * sum * (1 - 1e-6);
        for (let c = 1; c < nClasses; c++) {
          if (skip[c] !== 0 || exps[c] <= need) continue;
          const prob = Math.fround(exps[c] / sum);
          if (prob > minScore) {
            probs[row + c] = prob;
            buckets[c * nPriors + counts[c]++] = p;
            any = true;
          }
        }
      }
      if (any) {
        this.coder.decodeAt(locs, p, p, decoded, 4 * p);
        const o = 4 * p;
        if (!Number.isFinite(decoded[o] + decoded[o + 1] + decoded[o + 2] + decoded[o + 3])) {
          throw new Error(`detect: offsets of prior ${p} (${Array.from(locs.subarray(o, o + 4)).join(', ')}) decode to a box with NaN or Infinity`);
        }
      }
    }

    // Per class: drop candidates that cannot reach the final top k, sort, NMS (at most topK kept).
    // floor: the topK-th best score kept by earlier classes; a later candidate at or below it would
    // rank after topK detections (earlier classes win ties), so it cannot be in the result.
    const floorHeap = this.floorHeap;
    let heapSize = 0;
    let total = 0;
    const column = this.column;
    for (let c = 1; c < nClasses; c++) {
      let n = counts[c];
      if (n === 0) continue;
      const order = buckets.subarray(c * nPriors, c * nPriors + n);
      const floor = heapSize === topK ? floorHeap[0] : -Infinity;
      let m = 0;
      for (let k = 0; k < n; k++) {
        const p = order[k];
        const s = probs[p * nClasses + c];
        if (s > floor) {
          column[p] = s;
          order[m++] = p;
        }
      }
      n = m;
      if (n === 0) continue;
      sortByScoreDesc(column, order, n, this.keys);
      const kept = nmsSorted(decoded, order, n, maxOverlap, this.keep, this.keptBoxes, topK);
      for (let k = 0; k < kept; k++) {
        const p = this.keep[k];
        const s = column[p];
        this.outPrior[total] = p;
        this.outLabel[total] = c;
        this.outScore[total] = s;
        total++;
        if (heapSize < topK) heapPush(floorHeap, heapSize++, s);
        else if (s > floorHeap[0]) heapReplaceMin(floorHeap, heapSize, s);
      }
    }
    return total;
  }
}

/** Adds v to the min-heap h[0..size). */
function heapPush(h: Float32Array, size: number, v: number): void {
  let i = size;
  h[i] = v;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (h[parent] <= h[i]) break;
    const t = h[parent]; h[parent] = h[i]; h[i] = t;
    i = parent;
  }
}

/** Replaces the minimum of the min-heap h[0..size) with v. */
function heapReplaceMin(h: Float32Array, size: number, v: number): void {
  h[0] = v;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1, r = l + 1;
    let smallest = i;
    if (l < size && h[l] < h[smallest]) smallest = l;
    if (r < size && h[r] < h[smallest]) smallest = r;
    if (smallest === i) return;
    const t = h[smallest]; h[smallest] = h[i]; h[i] = t;
    i = smallest;
  }
}

/**
 * One-off detection for one image: builds a {@link DetectionPostprocessor} for `coder` and runs it.
 * Prefer keeping a DetectionPostprocessor when processing many images (it reuses its buffers).
 */
export function detectObjects(coder: BoxCoder, locs: Float32Array, scores: Float32Array, options: PostprocessOptions = {}): DetectionArrays {
  return new DetectionPostprocessor(coder).run(locs, scores, options);
}
