// exp(x) for x <= 0, about 4x faster than Math.exp in V8 and within 1e-12 relative of it: the softmax
// of detection takes one exp per prior and class (183k for SSD300 with 21 classes), and Math.exp
// was half of the post-processing time (2.2 ms of 4.4 ms per image, measured on the bench input).
// Method: x = (64k + j) ln2/64 + r with |r| <= ln2/128; exp(x) = 2^k * 2^(j/64) * poly(r).

const STEPS = 64;
const INV_STEP = STEPS / Math.LN2;
const STEP = Math.LN2 / STEPS;
const FRACTION = new Float64Array(STEPS).map((_, j) => Math.pow(2, j / STEPS));
const MIN_EXPONENT = -1080;
const POWER = new Float64Array(1 - MIN_EXPONENT).map((_, i) => Math.pow(2, i + MIN_EXPONENT));

/** exp(x) for x <= 0 (returns 0 below -745, where exp underflows anyway). */
export function expNonPositive(x: number): number {
  if (!(x >= -745)) return 0;
  const k = Math.floor(x * INV_STEP + 0.5);
  const r = x - k * STEP;
  const p = 1 + r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24))));
  return FRACTION[k & (STEPS - 1)] * p * POWER[(k >> 6) - MIN_EXPONENT];
}
