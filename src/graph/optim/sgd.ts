// Stochastic gradient descent with momentum, PyTorch's torch.optim.SGD semantics (dampening 0, no Nesterov).
import type { Graph } from '../builder.js';
import type { Tensor } from '../types.js';
import type { Optimizer, ParameterUpdate } from './optimizer.js';

/** Options of {@link SGD}. */
export interface SGDOptions {
  /** Momentum factor, e.g. 0.9. Default 0. */
  momentum?: number;
  /** L2 weight decay added to every parameter's gradient (grad += weightDecay * param), e.g. 5e-4. Default 0. */
  weightDecay?: number;
}

/**
 * Per parameter p with gradient g: d = g + weightDecay * p; buf = momentum * buf + d; p -= lr * multiplier * buf.
 * PyTorch sets buf = d on the first step: the same as a zero buffer, which is how buffers start here. Unlike
 * PyTorch, a parameter the loss does not depend on gets a zero gradient, so weight decay still moves it.
 */
export class SGD implements Optimizer {
  readonly name = 'sgd';
  readonly state = ['momentum'] as const;
  readonly momentum: number;
  readonly weightDecay: number;

  constructor(options: SGDOptions = {}) {
    this.momentum = options.momentum ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    if (!(this.momentum >= 0 && this.momentum < 1)) throw new Error(`SGD: momentum must be in [0, 1), got ${this.momentum}`);
    if (!(this.weightDecay >= 0)) throw new Error(`SGD: weightDecay must be >= 0, got ${this.weightDecay}`);
  }

  update(g: Graph, p: Tensor, grad: Tensor, [buf]: readonly Tensor[]): ParameterUpdate {
    const d = this.weightDecay ? g.add(grad, g.mul(p, this.weightDecay)) : grad;
    const next = this.momentum ? g.add(g.mul(buf!, this.momentum), d) : g.identity(d);
    return { state: [next], direction: next };
  }
}
