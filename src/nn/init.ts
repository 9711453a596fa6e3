// Initial values of parameters: a seeded PRNG and the usual initialisation rules, so that a model built
// from scratch with the same seed has the same weights on every machine.

/** How a parameter starts: Xavier/Glorot uniform, He/Kaiming uniform (ReLU gain), zeros, or a constant. */
export type Init =
  | { kind: 'xavier-uniform' }
  | { kind: 'he-uniform' }
  | { kind: 'zeros' }
  | { kind: 'constant'; value: number };

/**
 * A small, fast, seeded PRNG (SplitMix32-style: a Weyl sequence through a 32-bit avalanche).
 * Not cryptographic; the same seed gives the same stream everywhere.
 */
export class Rng {
  private state: number;

  constructor(seed = 0) {
    this.state = seed >>> 0;
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let x = this.state;
    x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
    x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
    return (x ^ (x >>> 16)) >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextUint32() / 2 ** 32;
  }

  /** Fills `out` with uniform values in [-bound, bound). */
  fillUniform(out: Float32Array, bound: number): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = bound * (2 * this.next() - 1);
    return out;
  }
}

/**
 * Fan-in and fan-out of a weight as PyTorch counts them: shape (out, in, ...kernel) gives
 * fanIn = in * prod(kernel) and fanOut = out * prod(kernel); a 1-D tensor counts as (out).
 */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) return { fanIn: shape[0] ?? 1, fanOut: shape[0] ?? 1 };
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1]! * receptive, fanOut: shape[0]! * receptive };
}

/** A fresh tensor of `shape` initialised by `init`, drawing from `rng`. */
export function initialValue(shape: readonly number[], init: Init, rng: Rng): Float32Array {
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const { fanIn, fanOut } = fans(shape);
  switch (init.kind) {
    case 'zeros':
      return out;
    case 'constant':
      return out.fill(init.value);
    case 'xavier-uniform': // torch.nn.init.xavier_uniform_, gain 1
      return rng.fillUniform(out, Math.sqrt(6 / (fanIn + fanOut)));
    case 'he-uniform': // torch.nn.init.kaiming_uniform_ for ReLU: gain sqrt(2), bound sqrt(6 / fanIn)
      return rng.fillUniform(out, Math.sqrt(6 / fanIn));
  }
}
