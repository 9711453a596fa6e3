// What calibration learns of each activation tensor, and the three ways of turning it into a quantization range:
// - 'minmax': the smallest and largest value seen over all calibration images;
// - 'percentile': the range that holds all but the (1 - p) tail of |x| (p = 99.999% by default), so that a
//   few outliers do not stretch the 256 levels over a range almost nothing uses;
// - 'entropy': the clipping threshold whose quantized distribution is closest to the real one in
//   Kullback-Leibler divergence (TensorRT's calibration; ONNX Runtime's 'Entropy').
// Both histogram methods look at |x| over [0, max |x|] (pass 2, once pass 1 has found the extremes), then clip the
// observed [min, max] to [-t, t]: a ReLU output (min 0) keeps its floor and has its top chosen. Exact zeros are
// left out of the histograms: every range represents 0 exactly, and the half of a ReLU output that is zero would
// otherwise be a spike in the first bin that the entropy method can only match by clipping everything else.

/** How a tensor's quantization range is chosen. */
export type RangeMethod = 'minmax' | 'percentile' | 'entropy';

export const RANGE_METHODS: readonly RangeMethod[] = ['minmax', 'percentile', 'entropy'];

/** Histogram bins over [0, max |x|]. */
export const HISTOGRAM_BINS = 2048;

/** At most this many values of one tensor per image go into its histogram (an even stride over the tensor). */
export const HISTOGRAM_SAMPLES = 1 << 20;

/** The statistics of one tensor over the calibration images. */
export class TensorObserver {
  min = Infinity;
  max = -Infinity;
  private hist: Float64Array | undefined;
  private binWidth = 0;

  /** Pass 1: the extremes. */
  observeRange(x: Float32Array): void {
    let lo = this.min, hi = this.max;
    let nan = false;
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      if (v !== v) nan = true; // NaN fails both comparisons above
    }
    if (nan) throw new Error('calibration: the network gave NaN');
    this.min = lo;
    this.max = hi;
  }

  /** The largest |x| seen in pass 1. */
  get absMax(): number {
    return Math.max(Math.abs(this.min), Math.abs(this.max));
  }

  /** Pass 2: |x| into the histogram over [0, absMax] (a strided sample of large tensors). */
  observeHistogram(x: Float32Array): void {
    if (!this.hist) {
      if (!(this.absMax < Infinity)) throw new Error('calibration: a histogram needs the range pass first');
      this.hist = new Float64Array(HISTOGRAM_BINS);
      this.binWidth = this.absMax / HISTOGRAM_BINS;
    }
    const hist = this.hist;
    if (this.binWidth === 0) return;
    const inv = 1 / this.binWidth;
    const stride = Math.max(1, Math.floor(x.length / HISTOGRAM_SAMPLES));
    const weight = stride; // each sample stands for `stride` values
    for (let i = 0; i < x.length; i += stride) {
      const v = x[i]!;
      if (v === 0) continue;
      hist[Math.min(HISTOGRAM_BINS - 1, Math.floor(Math.abs(v) * inv))]! += weight;
    }
  }

  /** The histogram of |x| and its bin width (after pass 2). */
  histogram(): { counts: Float64Array; binWidth: number } {
    if (!this.hist) throw new Error('calibration: no histogram was collected');
    if (!this.hist.some((c) => c > 0)) this.hist[0] = 1; // all zeros: any range will do
    return { counts: this.hist, binWidth: this.binWidth };
  }

  /** The range [lo, hi] the method chooses. `percentile` in (0, 100]. */
  range(method: RangeMethod, percentile = 99.999): [number, number] {
    if (!(this.min <= this.max)) throw new Error('calibration: no values were observed');
    if (method === 'minmax' || this.absMax === 0) return [this.min, this.max];
    const { counts, binWidth } = this.histogram();
    const t = method === 'percentile' ? percentileThreshold(counts, binWidth, percentile) : entropyThreshold(counts, binWidth, this.min >= 0 ? 255 : 128);
    return [Math.max(this.min, -t), Math.min(this.max, t)];
  }
}

/** The |x| below which `percentile`% of the histogram's mass lies (upper edge of the bin that reaches it). */
export function percentileThreshold(counts: Float64Array, binWidth: number, percentile: number): number {
  if (!(percentile > 0 && percentile <= 100)) throw new Error(`percentile ${percentile} must be in (0, 100]`);
  let total = 0;
  for (const c of counts) total += c;
  const target = (total * percentile) / 100;
  let acc = 0;
  for (let i = 0; i < counts.length; i++) {
    acc += counts[i]!;
    if (acc >= target) return (i + 1) * binWidth;
  }
  return counts.length * binWidth;
}

/**
 * The clipping threshold of least KL divergence between the histogram clipped at it (outliers added to the last
 * bin) and that distribution quantized to `levels` levels and expanded back over the bins that held values.
 */
export function entropyThreshold(counts: Float64Array, binWidth: number, levels: number): number {
  const B = counts.length;
  if (B <= levels) return B * binWidth;
  let best = Infinity;
  let bestBins = B;
  const p = new Float64Array(B);
  const q = new Float64Array(B);
  let tail = 0;
  for (let i = levels; i < B; i++) tail += counts[i]!;
  for (let i = levels; i <= B; i++) {
    // p: the first i bins, everything beyond folded into the last.
    for (let j = 0; j < i; j++) p[j] = counts[j]!;
    p[i - 1]! += tail;
    if (i < B) tail -= counts[i]!;
    // q: i bins merged into `levels` groups, each group's mass spread evenly over its bins that held values.
    const perGroup = i / levels;
    for (let k = 0; k < levels; k++) {
      const start = Math.floor(k * perGroup);
      const end = k === levels - 1 ? i : Math.floor((k + 1) * perGroup);
      let mass = 0, nonzero = 0;
      for (let j = start; j < end; j++) {
        mass += counts[j]!;
        if (counts[j]! > 0) nonzero++;
      }
      for (let j = start; j < end; j++) q[j] = counts[j]! > 0 ? mass / nonzero : 0;
    }
    const kl = klDivergence(p, q, i);
    if (kl < best) {
      best = kl;
      bestBins = i;
    }
  }
  return (bestBins + 0.5) * binWidth;
}

/**
 * KL(p || q) over the first n entries, each normalised to sum 1. Where q has no mass it gets a little (1e-4, taken
 * evenly from its other entries, as MXNet's and ONNX Runtime's calibrations smooth it), so that clipping off mass
 * costs much but not infinitely.
 */
function klDivergence(p: Float64Array, q: Float64Array, n: number): number {
  let sp = 0, sq = 0, zeros = 0;
  for (let j = 0; j < n; j++) {
    sp += p[j]!;
    sq += q[j]!;
    if (q[j] === 0) zeros++;
  }
  if (sp === 0 || sq === 0 || zeros === n) return Infinity;
  const eps = 1e-4;
  const take = (eps * zeros) / (n - zeros);
  let kl = 0;
  for (let j = 0; j < n; j++) {
    const a = p[j]! / sp;
    if (a === 0) continue;
    const b = q[j] === 0 ? eps : Math.max(q[j]! / sq - take, eps);
    kl += a * Math.log(a / b);
  }
  return kl;
}
