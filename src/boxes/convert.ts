// Corner <-> centre box formats, in float32 arithmetic (every step rounded with Math.fround) so the
// results match a float32 reference bit for bit.
import { validateBoxesXy, validateBoxArrayLength } from './validate.js';

const f = Math.fround;

function output(n: number, out: Float32Array | undefined, what: string): Float32Array {
  if (out === undefined) return new Float32Array(n);
  if (out.length !== n) throw new Error(`${what}: output has length ${out.length}, need ${n}`);
  return out;
}

/**
 * `[xmin, ymin, xmax, ymax]` rows to `[cx, cy, w, h]` rows (length 4*n each). Writes into `out`
 * when given (it may be `xy` itself). Throws on a box with xmax < xmin, ymax < ymin or NaN.
 */
export function xyToCxcy(xy: Float32Array, out?: Float32Array): Float32Array {
  validateBoxesXy(xy);
  const r = output(xy.length, out, 'xyToCxcy');
  for (let o = 0; o < xy.length; o += 4) {
    const x1 = xy[o], y1 = xy[o + 1], x2 = xy[o + 2], y2 = xy[o + 3];
    r[o] = f(x2 + x1) / 2;
    r[o + 1] = f(y2 + y1) / 2;
    r[o + 2] = x2 - x1;
    r[o + 3] = y2 - y1;
  }
  return r;
}

/** `[cx, cy, w, h]` rows to `[xmin, ymin, xmax, ymax]` rows. Writes into `out` when given (may be `cxcy`). */
export function cxcyToXy(cxcy: Float32Array, out?: Float32Array): Float32Array {
  validateBoxArrayLength(cxcy.length, 'cxcyToXy');
  const r = output(cxcy.length, out, 'cxcyToXy');
  for (let o = 0; o < cxcy.length; o += 4) {
    const cx = cxcy[o], cy = cxcy[o + 1];
    const hw = f(cxcy[o + 2] / 2), hh = f(cxcy[o + 3] / 2);
    r[o] = cx - hw;
    r[o + 1] = cy - hh;
    r[o + 2] = cx + hw;
    r[o + 3] = cy + hh;
  }
  return r;
}
