// Comparisons shared by the nn tests.

/** ||a - b|| / ||b|| (L2, accumulated in float64). */
export function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relativeL2: lengths ${a.length} and ${b.length} differ`);
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    const e = a[i]! - b[i]!;
    d += e * e;
    n += b[i]! * b[i]!;
  }
  return Math.sqrt(d) / Math.sqrt(n);
}

/** L2 norm, accumulated in float64. */
export function l2(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}

/** Relative difference |a - b| / |b|. */
export function relDiff(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}
