// Greedy non-maximum suppression and the score sort it needs.
import { validateBoxesXy } from './validate.js';

const f = Math.fround;
const bits = new Uint32Array(1);
const bitsAsFloat = new Float32Array(bits.buffer);

/**
 * Sorts `idx[0..n)` (indices into `scores`) by decreasing score, stably: equal scores keep their
 * order in `idx`. `keys` is scratch of length >= n. Scores in [0, 1] (probabilities) take a fast path: the
 * float32 bit pattern and the position are packed into one float64 key and sorted natively.
 */
export function sortByScoreDesc(scores: Float32Array, idx: Int32Array, n: number, keys: Float64Array): void {
  // Positive float32 bit patterns order like their values; scores <= 1 have patterns < 2^30, so with
  // positions < 2^23 the packed key stays below 2^53 and is exact.
  let fast = n <= 1 << 23;
  for (let k = 0; k < n && fast; k++) {
    const s = scores[idx[k]];
    if (!(s >= 0 && s <= 1)) fast = false;
  }
  if (!fast) {
    const sorted = Array.from(idx.subarray(0, n)).sort((a, b) => scores[b] - scores[a]); // stable
    idx.set(sorted);
    return;
  }
  const m = 8388608; // 2^23
  for (let k = 0; k < n; k++) {
    bitsAsFloat[0] = scores[idx[k]] + 0; // + 0 turns -0 into +0
    keys[k] = bits[0] * m + (m - 1 - k);
  }
  keys.subarray(0, n).sort();
  // Ascending keys -> the idx values they came from (idx still unchanged), then reverse into idx.
  for (let k = 0; k < n; k++) keys[k] = idx[m - 1 - (keys[k] % m)];
  for (let k = 0; k < n; k++) idx[k] = keys[n - 1 - k];
}

/**
 * Greedy NMS over candidates already sorted by decreasing score. `order[0..n)` are row indices into
 * `boxesXy` (`[xmin, ymin, xmax, ymax]` rows). A candidate is dropped when its IoU with a kept,
 * higher-scored candidate exceeds `maxOverlap` (suppressed candidates suppress nothing).
 * Writes the kept row indices, in order, to `keep` and returns how many. `scratch` (length >= 4n)
 * holds the kept boxes contiguously. Stops once `maxKeep` candidates are kept (the rest could not
 * be kept ahead of them). No validation: the inner step of detection.
 */
export function nmsSorted(
  boxesXy: Float32Array, order: Int32Array, n: number, maxOverlap: number, keep: Int32Array, scratch: Float32Array,
  maxKeep = n,
): number {
  const thr = f(maxOverlap);
  let kept = 0;
  for (let k = 0; k < n && kept < maxKeep; k++) {
    const q = 4 * order[k];
    const x1 = boxesXy[q], y1 = boxesXy[q + 1], x2 = boxesXy[q + 2], y2 = boxesXy[q + 3];
    const area = f(f(x2 - x1) * f(y2 - y1));
    let suppressed = false;
    // iouOfCorners inlined, with the cheap disjointness tests first: most kept boxes miss.
    for (let o = 0, end = 4 * kept; o < end; o += 4) {
      const kx1 = scratch[o], kx2 = scratch[o + 2];
      const w = f((kx2 < x2 ? kx2 : x2) - (kx1 > x1 ? kx1 : x1));
      if (w <= 0) continue;
      const ky1 = scratch[o + 1], ky2 = scratch[o + 3];
      const h = f((ky2 < y2 ? ky2 : y2) - (ky1 > y1 ? ky1 : y1));
      if (h <= 0) continue;
      const inter = f(w * h);
      const union = f(f(f(f(kx2 - kx1) * f(ky2 - ky1)) + area) - inter);
      if (union > 0 && f(inter / union) > thr) {
        suppressed = true;
        break;
      }
    }
    if (suppressed) continue;
    const o = 4 * kept;
    scratch[o] = x1;
    scratch[o + 1] = y1;
    scratch[o + 2] = x2;
    scratch[o + 3] = y2;
    keep[kept++] = order[k];
  }
  return kept;
}

/**
 * Greedy NMS of one set of boxes (like torchvision.ops.nms): `boxesXy` (n x 4 corners), `scores`
 * (n). Returns the indices of the kept boxes by decreasing score. Boxes with IoU > `maxOverlap`
 * with a higher-scored kept box are dropped.
 */
export function nms(boxesXy: Float32Array, scores: Float32Array, maxOverlap: number): Int32Array {
  validateBoxesXy(boxesXy);
  const n = boxesXy.length / 4;
  if (scores.length !== n) throw new Error(`nms: ${scores.length} scores for ${n} boxes`);
  for (let i = 0; i < n; i++) if (Number.isNaN(scores[i])) throw new Error(`nms: score ${i} is NaN`);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  sortByScoreDesc(scores, order, n, new Float64Array(n));
  const keep = new Int32Array(n);
  const kept = nmsSorted(boxesXy, order, n, maxOverlap, keep, new Float32Array(4 * n));
  return keep.slice(0, kept);
}
