// Jaccard overlap (intersection over union) of corner boxes, in float32 arithmetic in the same
// order of operations as the PyTorch reference, so threshold decisions (IoU >= 0.5) agree exactly.
import { validateBoxesXy } from './validate.js';

const f = Math.fround;

/**
 * IoU of two boxes given by their corners. Returns 0 when the union is empty (two zero-area boxes),
 * so the result is always in [0, 1] for well-formed boxes.
 */
export function iouOfCorners(
  ax1: number, ay1: number, ax2: number, ay2: number,
  bx1: number, by1: number, bx2: number, by2: number,
): number {
  const w = f((ax2 < bx2 ? ax2 : bx2) - (ax1 > bx1 ? ax1 : bx1));
  const h = f((ay2 < by2 ? ay2 : by2) - (ay1 > by1 ? ay1 : by1));
  if (w <= 0 || h <= 0) return 0;
  const inter = f(w * h);
  const union = f(f(f(f(ax2 - ax1) * f(ay2 - ay1)) + f(f(bx2 - bx1) * f(by2 - by1))) - inter);
  return union > 0 ? f(inter / union) : 0;
}

/** IoU of box `i` of `a` and box `j` of `b` (both `[xmin, ymin, xmax, ymax]` rows). No validation: hot-path helper.
 *  An inverted box (xmax < xmin or ymax < ymin) overlaps nothing: its IoU is 0 (mAP counts such a detection as a
 *  false positive). */
export function boxIou(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number): number {
  const p = 4 * i, q = 4 * j;
  return iouOfCorners(a[p], a[p + 1], a[p + 2], a[p + 3], b[q], b[q + 1], b[q + 2], b[q + 3]);
}

/**
 * Jaccard overlap matrix: `out[i * nb + j]` = IoU(a_i, b_j), for `a` (na x 4) and `b` (nb x 4)
 * `[xmin, ymin, xmax, ymax]` boxes. `out` (length na*nb) is allocated when not given. Throws on a box
 * with xmax < xmin, ymax < ymin or NaN, naming it.
 */
export function iouMatrix(a: Float32Array, b: Float32Array, out?: Float32Array): Float32Array {
  validateBoxesXy(a, { what: 'first set' });
  validateBoxesXy(b, { what: 'second set' });
  const na = a.length / 4, nb = b.length / 4;
  if (out !== undefined && out.length !== na * nb) throw new Error(`iouMatrix: output has length ${out.length}, need ${na} x ${nb} = ${na * nb}`);
  const r = out ?? new Float32Array(na * nb);
  for (let i = 0; i < na; i++) {
    const p = 4 * i;
    const ax1 = a[p], ay1 = a[p + 1], ax2 = a[p + 2], ay2 = a[p + 3];
    const row = i * nb;
    for (let j = 0; j < nb; j++) {
      const q = 4 * j;
      r[row + j] = iouOfCorners(ax1, ay1, ax2, ay2, b[q], b[q + 1], b[q + 2], b[q + 3]);
    }
  }
  return r;
}
