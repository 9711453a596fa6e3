// The best prior of a box without trying every prior. A prior config lays, on each map, one grid of equal boxes per
// shape (scale and aspect ratio): generatePriors gives every position of a shape the same width and height, and
// centres that grow with the column (row). For such a grid the overlap with a box along x depends only on how far
// the prior's centre is from the box's centre, and never grows with that distance; so does the overlap along y,
// and the IoU grows with the product of the two. The best prior of a shape is therefore at one of the two centres
// nearest the box's centre in x times one of the two nearest in y: 4 candidates a shape instead of every position.
// Where several positions overlap the box equally in exact arithmetic (a prior inside the box along an axis, or the
// box inside the prior), float32 rounding decides between them; those positions are all tried, for the shapes
// within rounding of the best, so the result is the IoU and prior that trying every prior gives (as the Matcher
// computes IoU: float32, the first prior on ties).
import { iouOfCorners } from './iou.js';
import { cxcyToXy } from './convert.js';
import { generatePriors, priorsPerLocation, type PriorConfig } from './priors.js';

/** How far beyond a plateau of equal overlap to look for positions that rounding may favour (fractions). */
const MARGIN = 1e-5;
/** Shapes whose best candidate is within this relative distance of the best are searched over their plateaus. */
const RELATIVE_TOLERANCE = 2e-3;

/** One map's grid: its first prior, side, priors per position and the centres of its columns and rows. */
interface MapGrid {
  offset: number;
  side: number;
  perPosition: number;
  cx: Float32Array;
  cy: Float32Array;
}

/** The first index i with values[i] >= v (values non-decreasing); values.length when there is none. */
function lowerBound(values: Float32Array, v: number): number {
  let lo = 0, hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (values[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first index i with values[i] > v (values non-decreasing); values.length when there is none. */
function upperBound(values: Float32Array, v: number): number {
  let lo = 0, hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (values[mid]! <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The priors of a config, arranged to find the best prior of a box quickly (see the file header). Holds scratch
 * buffers, like the Matcher: one grid serves one caller at a time.
 */
export class PriorGrid {
  /** The priors as `[cx, cy, w, h]` rows (generatePriors). */
  readonly cxcy: Float32Array;
  /** The priors as `[xmin, ymin, xmax, ymax]` rows (the corners the Matcher uses). */
  readonly xy: Float32Array;
  /** Number of priors. */
  readonly count: number;
  private readonly maps: MapGrid[] = [];
  private readonly shapeBest: Float64Array;
  /** Per map, the two nearest columns and the two nearest rows of the box being searched. */
  private readonly near: Int32Array;
  /** The best IoU and prior of the box being searched. */
  private top = 0;
  private topPrior = -1;

  constructor(readonly config: PriorConfig) {
    this.cxcy = generatePriors(config);
    this.xy = cxcyToXy(this.cxcy);
    this.count = this.cxcy.length / 4;
    const per = priorsPerLocation(config);
    let offset = 0;
    config.featureMapSizes.forEach((side, k) => {
      const a = per[k]!;
      const cx = new Float32Array(side), cy = new Float32Array(side);
      for (let j = 0; j < side; j++) cx[j] = this.cxcy[4 * (offset + j * a)]!;
      for (let i = 0; i < side; i++) cy[i] = this.cxcy[4 * (offset + i * side * a) + 1]!;
      this.maps.push({ offset, side, perPosition: a, cx, cy });
      offset += side * side * a;
    });
    this.shapeBest = new Float64Array(per.reduce((s, a) => s + a, 0));
    this.near = new Int32Array(4 * per.length);
  }

  /** The map (0-based) prior `p` lies on. */
  mapOf(p: number): number {
    let k = 0;
    while (k + 1 < this.maps.length && this.maps[k + 1]!.offset <= p) k++;
    return k;
  }

  /** The first prior of map `k` and how many it has. */
  mapRange(k: number): { offset: number; count: number } {
    const m = this.maps[k]!;
    return { offset: m.offset, count: m.side * m.side * m.perPosition };
  }

  /**
   * The prior of largest IoU with the box `[x1, y1, x2, y2]` (fractions of the image) and that IoU, as trying every
   * prior with the Matcher's float32 IoU gives them: the first prior on ties; prior 0 and IoU 0 when none overlaps.
   */
  best(x1: number, y1: number, x2: number, y2: number): { prior: number; iou: number } {
    this.top = 0;
    this.topPrior = -1;
    const mx = (x1 + x2) / 2, my = (y1 + y2) / 2;
    const near = this.near;
    let shape = 0;
    for (let k = 0; k < this.maps.length; k++) {
      const g = this.maps[k]!;
      nearest(g.cx, mx, near, 4 * k);
      nearest(g.cy, my, near, 4 * k + 2);
      for (let s = 0; s < g.perPosition; s++, shape++) {
        let top = 0;
        for (let a = 4 * k + 2; a < 4 * k + 4; a++) {
          const i = near[a]!;
          if (i < 0) continue;
          for (let b = 4 * k; b < 4 * k + 2; b++) {
            const j = near[b]!;
            if (j >= 0) top = Math.max(top, this.consider(g.offset + (i * g.side + j) * g.perPosition + s, x1, y1, x2, y2));
          }
        }
        this.shapeBest[shape] = top;
      }
    }
    if (this.top > 0) {
      // Plateaus: positions whose overlap equals the candidates' in exact arithmetic, for the shapes near the best.
      const floor = this.top - RELATIVE_TOLERANCE * this.top - 1e-7;
      const ow = x2 - x1, oh = y2 - y1, xy = this.xy;
      shape = 0;
      for (let k = 0; k < this.maps.length; k++) {
        const g = this.maps[k]!;
        for (let s = 0; s < g.perPosition; s++, shape++) {
          if (this.shapeBest[shape]! < floor) continue;
          const q = 4 * (g.offset + s);
          const halfX = Math.abs(xy[q + 2]! - xy[q]! - ow) / 2 + MARGIN;
          const halfY = Math.abs(xy[q + 3]! - xy[q + 1]! - oh) / 2 + MARGIN;
          // Along each axis the plateau and the two nearest centres (one may be off the plateau while the other
          // axis is on one): one run of columns (rows) around the box's centre.
          const j0 = Math.min(lowerBound(g.cx, mx - halfX), firstOf(near, 4 * k)), j1 = Math.max(upperBound(g.cx, mx + halfX), lastOf(near, 4 * k) + 1);
          const i0 = Math.min(lowerBound(g.cy, my - halfY), firstOf(near, 4 * k + 2)), i1 = Math.max(upperBound(g.cy, my + halfY), lastOf(near, 4 * k + 2) + 1);
          for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) this.consider(g.offset + (i * g.side + j) * g.perPosition + s, x1, y1, x2, y2);
        }
      }
    }
    return this.topPrior < 0 ? { prior: 0, iou: 0 } : { prior: this.topPrior, iou: this.top };
  }

  /** IoU of prior `p` with the box; keeps the best so far (the first prior on ties). */
  private consider(p: number, x1: number, y1: number, x2: number, y2: number): number {
    const q = 4 * p, xy = this.xy;
    const v = iouOfCorners(xy[q]!, xy[q + 1]!, xy[q + 2]!, xy[q + 3]!, x1, y1, x2, y2);
    if (v > this.top || (v === this.top && v > 0 && p < this.topPrior)) {
      this.top = v;
      this.topPrior = p;
    }
    return v;
  }
}

/**
 * Writes into out[at], out[at + 1] the centres nearest `m` from below and from above (-1 where there is none): the
 * first of the run of equal centres before `m` (centres clamped to the image repeat, and the first of equal priors
 * wins ties), and the first centre at or after it.
 */
function nearest(c: Float32Array, m: number, out: Int32Array, at: number): void {
  const after = lowerBound(c, m);
  out[at] = after > 0 ? lowerBound(c, c[after - 1]!) : -1;
  out[at + 1] = after < c.length ? after : -1;
}

/** The smaller of the two indices nearest() wrote (at least one is there). */
function firstOf(near: Int32Array, at: number): number {
  return near[at]! >= 0 ? near[at]! : near[at + 1]!;
}

/** The larger of the two. */
function lastOf(near: Int32Array, at: number): number {
  return near[at + 1]! >= 0 ? near[at + 1]! : near[at]!;
}
