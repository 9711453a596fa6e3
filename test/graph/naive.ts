// Straightforward loop implementations of a few ops, written from their definitions, to check ORT's results
// on graphs the builder makes. Row-major NCHW throughout.

/** Deterministic pseudo-random numbers in [-1, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r() * scale;
  return out;
}

export interface Conv {
  stride: [number, number];
  pad: [number, number, number, number];
  dilation: [number, number];
  groups: number;
}

/** Direct convolution. x [N,C,H,W], w [O, C/g, kh, kw], b [O]. */
export function conv2d(x: Float32Array, xs: number[], w: Float32Array, ws: number[], b: Float32Array | null, o: Conv): { data: Float32Array; dims: number[] } {
  const [n, c, h, wd] = xs as [number, number, number, number];
  const [oc, cg, kh, kw] = ws as [number, number, number, number];
  const ho = Math.floor((h + o.pad[0] + o.pad[2] - o.dilation[0] * (kh - 1) - 1) / o.stride[0]) + 1;
  const wo = Math.floor((wd + o.pad[1] + o.pad[3] - o.dilation[1] * (kw - 1) - 1) / o.stride[1]) + 1;
  const out = new Float32Array(n * oc * ho * wo);
  const ocg = oc / o.groups;
  for (let b0 = 0; b0 < n; b0++)
    for (let co = 0; co < oc; co++) {
      const g = Math.floor(co / ocg);
      for (let y = 0; y < ho; y++)
        for (let xx = 0; xx < wo; xx++) {
          let s = b ? b[co]! : 0;
          for (let ci = 0; ci < cg; ci++)
            for (let ky = 0; ky < kh; ky++)
              for (let kx = 0; kx < kw; kx++) {
                const iy = y * o.stride[0] - o.pad[0] + ky * o.dilation[0];
                const ix = xx * o.stride[1] - o.pad[1] + kx * o.dilation[1];
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                s += x[((b0 * c + g * cg + ci) * h + iy) * wd + ix]! * w[((co * cg + ci) * kh + ky) * kw + kx]!;
              }
          out[((b0 * oc + co) * ho + y) * wo + xx] = s;
        }
    }
  return { data: out, dims: [n, oc, ho, wo] };
}

/** Max pooling with PyTorch's ceil-mode rule; padding counts as -Infinity. */
export function maxPool(x: Float32Array, xs: number[], k: number, s: number, p: number, ceil: boolean): { data: Float32Array; dims: number[] } {
  const [n, c, h, w] = xs as [number, number, number, number];
  const size = (d: number) => {
    let o = (ceil ? Math.ceil((d + 2 * p - k) / s) : Math.floor((d + 2 * p - k) / s)) + 1;
    if (ceil && (o - 1) * s >= d + p) o--;
    return o;
  };
  const ho = size(h);
  const wo = size(w);
  const out = new Float32Array(n * c * ho * wo);
  for (let i = 0; i < n * c; i++)
    for (let y = 0; y < ho; y++)
      for (let xx = 0; xx < wo; xx++) {
        let m = -Infinity;
        for (let ky = 0; ky < k; ky++)
          for (let kx = 0; kx < k; kx++) {
            const iy = y * s - p + ky;
            const ix = xx * s - p + kx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            m = Math.max(m, x[(i * h + iy) * w + ix]!);
          }
        out[(i * ho + y) * wo + xx] = m;
      }
  return { data: out, dims: [n, c, ho, wo] };
}

export function relu(x: Float32Array): Float32Array {
  return x.map((v) => Math.max(v, 0));
}

/** Max |a - b| / (1 + |b|) over all elements. */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  return m;
}
