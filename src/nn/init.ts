// Initial values of parameters: the usual initialisation rules, drawn from the library's seeded generator, so
// that a model built from scratch with the same seed has the same weights on every machine.
import type { Random } from '../data/random.js';

/** How a parameter starts: Xavier/Glorot uniform, He/Kaiming uniform (ReLU gain), zeros, or a constant. */
export type Init =
  | { kind: 'xavier-uniform' }
  | { kind: 'he-uniform' }
  | { kind: 'zeros' }
  | { kind: 'constant'; value: number };

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
export function initialValue(shape: readonly number[], init: Init, rng: Random): Float32Array {
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
