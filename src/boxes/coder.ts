// Encoding boxes as offsets from priors (what SSD's localisation head predicts) and back:
//   g_cx = (cx - p_cx) / (p_w * v_center),  g_w = ln(w / p_w) / v_size   (same for y, h)
// with variances v_center = 0.1, v_size = 0.2 by default (the tutorial's "/ (p_w / 10)" and "* 5").
// Arithmetic is float32 step by step in the reference's order of operations.
import { cxcyToXy } from './convert.js';
import { validateBoxesCxcy, validateBoxesXy, validateBoxArrayLength } from './validate.js';

const f = Math.fround;

/** Variances of the offset encoding (torchvision's box-coder weights are their inverses: 10, 10, 5, 5). */
export interface Variances {
  /** Divides centre offsets by prior size times this. Default 0.1. */
  center: number;
  /** Divides log size ratios by this. Default 0.2. */
  size: number;
}

/** Options of {@link BoxCoder}. */
export interface BoxCoderOptions {
  /** Default `{ center: 0.1, size: 0.2 }`. */
  variances?: Variances;
}

/**
 * Encodes `[xmin, ymin, xmax, ymax]` boxes as `[g_cx, g_cy, g_w, g_h]` offsets against a fixed
 * set of priors, and decodes offsets back to corner boxes. All arrays are Float32Array rows of 4.
 */
export class BoxCoder {
  /** The priors as `[cx, cy, w, h]` rows (length 4 * priorCount). */
  readonly priorsCxcy: Float32Array;
  /** The same priors as `[xmin, ymin, xmax, ymax]` rows. */
  readonly priorsXy: Float32Array;
  readonly priorCount: number;
  readonly variances: Readonly<Variances>;
  // 1/variance (10 and 5 by default): dividing by p_w/10 rather than multiplying by p_w*0.1
  // keeps the reference's float32 rounding.
  private readonly centerScale: number;
  private readonly sizeScale: number;

  /** @param priorsCxcy priors as `[cx, cy, w, h]` rows, e.g. from `generatePriors`. */
  constructor(priorsCxcy: Float32Array, options: BoxCoderOptions = {}) {
    validateBoxesCxcy(priorsCxcy, 'prior');
    const variances = options.variances ?? { center: 0.1, size: 0.2 };
    for (const key of ['center', 'size'] as const) {
      const v = variances[key];
      if (!(v > 0) || !Number.isFinite(v)) throw new Error(`BoxCoder: variances.${key} = ${v}, must be a finite number > 0`);
    }
    this.priorsCxcy = priorsCxcy;
    this.priorsXy = cxcyToXy(priorsCxcy);
    this.priorCount = priorsCxcy.length / 4;
    this.variances = Object.freeze({ center: variances.center, size: variances.size });
    this.centerScale = 1 / variances.center;
    this.sizeScale = 1 / variances.size;
  }

  /**
   * Encodes box `(cx, cy, w, h)` against prior `p`, writing 4 values at `out[o..o+3]`.
   * No validation: the inner step of {@link encode} and the matcher.
   */
  encodeCxcyAt(cx: number, cy: number, w: number, h: number, p: number, out: Float32Array, o: number): void {
    const pr = this.priorsCxcy;
    const q = 4 * p;
    const pw = pr[q + 2], ph = pr[q + 3];
    out[o] = f(cx - pr[q]) / f(pw / this.centerScale);
    out[o + 1] = f(cy - pr[q + 1]) / f(ph / this.centerScale);
    out[o + 2] = f(Math.log(f(w / pw))) * this.sizeScale;
    out[o + 3] = f(Math.log(f(h / ph))) * this.sizeScale;
  }

  /**
   * Encodes corner boxes (n x 4) as offsets (n x 4). Box k is encoded against prior
   * `priorIndex[k]`, or against prior k when `priorIndex` is omitted (then n must equal priorCount).
   * Boxes need positive width and height (the encoding takes their logarithm).
   */
  encode(boxesXy: Float32Array, priorIndex?: Int32Array, out?: Float32Array): Float32Array {
    validateBoxesXy(boxesXy, { positiveSize: true });
    const n = boxesXy.length / 4;
    this.checkPairing(n, priorIndex, out);
    const r = out ?? new Float32Array(4 * n);
    for (let k = 0; k < n; k++) {
      const o = 4 * k;
      const x1 = boxesXy[o], y1 = boxesXy[o + 1], x2 = boxesXy[o + 2], y2 = boxesXy[o + 3];
      this.encodeCxcyAt(f(x2 + x1) / 2, f(y2 + y1) / 2, f(x2 - x1), f(y2 - y1), priorIndex ? priorIndex[k] : k, r, o);
    }
    return r;
  }

  /**
   * Decodes offsets (n x 4) to `[xmin, ymin, xmax, ymax]` boxes (n x 4, fractions of the image, not
   * clipped). Row k is relative to prior `priorIndex[k]`, or prior k when `priorIndex` is omitted.
   */
  decode(offsets: Float32Array, priorIndex?: Int32Array, out?: Float32Array): Float32Array {
    validateBoxArrayLength(offsets.length, 'offsets');
    const n = offsets.length / 4;
    this.checkPairing(n, priorIndex, out);
    const r = out ?? new Float32Array(4 * n);
    for (let k = 0; k < n; k++) this.decodeAt(offsets, k, priorIndex ? priorIndex[k] : k, r, 4 * k);
    return r;
  }

  /** Decodes offsets row `k` against prior `p` into `out[o..o+3]` as corners. No validation. */
  decodeAt(offsets: Float32Array, k: number, p: number, out: Float32Array, o: number): void {
    const pr = this.priorsCxcy;
    const q = 4 * p, g = 4 * k;
    const pw = pr[q + 2], ph = pr[q + 3];
    const cx = f(f(f(offsets[g] * pw) / this.centerScale) + pr[q]);
    const cy = f(f(f(offsets[g + 1] * ph) / this.centerScale) + pr[q + 1]);
    const hw = f(f(f(Math.exp(f(offsets[g + 2] / this.sizeScale))) * pw) / 2);
    const hh = f(f(f(Math.exp(f(offsets[g + 3] / this.sizeScale))) * ph) / 2);
    out[o] = cx - hw;
    out[o + 1] = cy - hh;
    out[o + 2] = cx + hw;
    out[o + 3] = cy + hh;
  }

  private checkPairing(n: number, priorIndex: Int32Array | undefined, out: Float32Array | undefined): void {
    if (priorIndex === undefined) {
      if (n !== this.priorCount) throw new Error(`BoxCoder: ${n} boxes for ${this.priorCount} priors (pass priorIndex to pair boxes with chosen priors)`);
    } else {
      if (priorIndex.length !== n) throw new Error(`BoxCoder: priorIndex has ${priorIndex.length} entries for ${n} boxes`);
      for (let k = 0; k < n; k++) {
        const p = priorIndex[k];
        if (p < 0 || p >= this.priorCount) throw new Error(`BoxCoder: priorIndex[${k}] = ${p}, outside 0..${this.priorCount - 1}`);
      }
    }
    if (out !== undefined && out.length !== 4 * n) throw new Error(`BoxCoder: output has length ${out.length}, need ${4 * n}`);
  }
}
