// AdamW (Loshchilov & Hutter), PyTorch's torch.optim.AdamW semantics: decoupled weight decay, bias-corrected
// moments.
import type { Graph } from '../builder.js';
import type { Tensor } from '../types.js';
import type { Optimizer, ParameterUpdate, UpdateContext } from './optimizer.js';

/** Options of {@link AdamW}; defaults as torch.optim.AdamW. */
export interface AdamWOptions {
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  epsilon?: number;
  /** Decoupled weight decay, applied to the parameter groups in `decayGroups`. Default 0.01. */
  weightDecay?: number;
  /** The groups weight decay applies to. Default ['weight'] (conv kernels and batch-norm scales, not biases). */
  decayGroups?: readonly string[];
}

/**
 * Per parameter p with gradient g at step t: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 * p -= lr * ((m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + weightDecay * p).
 */
export class AdamW implements Optimizer {
  readonly name = 'adamw';
  readonly state = ['adam_m', 'adam_v'] as const;
  readonly scalars = ['adam_bias_correction1', 'adam_bias_correction2_sqrt'] as const;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  readonly decayGroups: readonly string[];

  constructor(options: AdamWOptions = {}) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    this.decayGroups = options.decayGroups ?? ['weight'];
    for (const [k, v] of [['beta1', this.beta1], ['beta2', this.beta2]] as const) if (!(v >= 0 && v < 1)) throw new Error(`AdamW: ${k} must be in [0, 1), got ${v}`);
    if (!(this.epsilon > 0)) throw new Error(`AdamW: epsilon must be > 0, got ${this.epsilon}`);
    if (!(this.weightDecay >= 0)) throw new Error(`AdamW: weightDecay must be >= 0, got ${this.weightDecay}`);
  }

  scalarValues(t: number): Record<string, number> {
    return { adam_bias_correction1: 1 - this.beta1 ** t, adam_bias_correction2_sqrt: Math.sqrt(1 - this.beta2 ** t) };
  }

  update(g: Graph, p: Tensor, grad: Tensor, [m, v]: readonly Tensor[], { group, scalars: s }: UpdateContext): ParameterUpdate {
    const m1 = g.add(g.mul(m!, this.beta1), g.mul(grad, 1 - this.beta1));
    const v1 = g.add(g.mul(v!, this.beta2), g.mul(g.mul(grad, grad), 1 - this.beta2));
    const denominator = g.add(g.div(g.sqrt(v1), s.adam_bias_correction2_sqrt!), this.epsilon);
    let direction = g.div(g.div(m1, s.adam_bias_correction1!), denominator);
    if (this.weightDecay > 0 && this.decayGroups.includes(group)) direction = g.add(direction, g.mul(p, this.weightDecay));
    return { state: [m1, v1], direction };
  }
}
