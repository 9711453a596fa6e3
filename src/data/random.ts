// The library's one seeded pseudo-random generator: initial weights, augmentation and scene generation
// all draw from it, so a fixed seed gives the same weights, images, boxes and scenes on every run and in
// every worker thread (Math.random is never used).

/**
 * mulberry32: a 32-bit state generator (Tommy Ettinger's), fast in JavaScript and good enough for
 * augmentation. The state is one uint32, so `state` can be saved and restored to resume a stream.
 */
export class Random {
  /** The generator's whole state (a uint32). Assign it to rewind or resume a stream. */
  state: number;

  /** Seeds the stream; any finite number works (it is folded to a uint32 via {@link hashSeed}). */
  constructor(seed: number) {
    this.state = hashSeed(seed);
  }

  /** A float in [0, 1) with 32 random bits. */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A float uniform in [lo, hi) (Python's random.uniform). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** An integer uniform in [lo, hi], both ends included (Python's random.randint). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** One element of a non-empty array, uniformly (Python's random.choice). */
  choice<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Random.choice: empty array');
    return items[Math.floor(this.next() * items.length)];
  }

  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const t = items[i];
      items[i] = items[j];
      items[j] = t;
    }
    return items;
  }

  /** Fills `out` with values uniform in [-bound, bound). */
  fillUniform(out: Float32Array, bound: number): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = bound * (2 * this.next() - 1);
    return out;
  }

  /** A sample of the standard normal distribution (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
}

function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Folds any finite number (integer or not, negative or large) into a well-mixed uint32 seed. */
export function hashSeed(seed: number): number {
  if (!Number.isFinite(seed)) throw new Error(`seed must be a finite number, got ${seed}`);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 4294967296) >>> 0;
  return mix32(lo ^ mix32(hi + 0x9e3779b9));
}

/**
 * Derives an independent seed from a base seed and a path of integers, e.g.
 * `deriveSeed(seed, epoch, sampleIndex)`: the same path always gives the same seed, so each sample
 * of each epoch has its own stream whichever worker thread draws it, in whatever order.
 */
export function deriveSeed(seed: number, ...path: number[]): number {
  let h = hashSeed(seed);
  for (const p of path) h = mix32((h ^ hashSeed(p)) + 0x9e3779b9);
  return h;
}
