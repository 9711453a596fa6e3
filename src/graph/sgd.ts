// SGD with momentum as part of the training graph: one ORT run computes the loss, the gradients and the
// updated parameters and momentum buffers.
import type { Graph } from './builder.js';
import { gradients, type GradientOptions } from './autodiff.js';
import type { Parameter, Tensor } from './types.js';

/** Optimizer settings (PyTorch's torch.optim.SGD semantics, dampening 0, no Nesterov). */
export interface SgdOptions {
  /** Momentum factor, e.g. 0.9. */
  momentum: number;
  /** L2 weight decay added to every parameter's gradient (grad += weightDecay * param), e.g. 5e-4. */
  weightDecay: number;
  /** Learning-rate multiplier per parameter group (default 1 for a group not listed), e.g. { weight: 1, bias: 2 }. */
  lrMultipliers?: Record<string, number>;
  /** Clip the global L2 norm of all gradients to this before the update (torch.nn.utils.clip_grad_norm_). */
  clipGradNorm?: number;
  /** Autodiff settings (the Conv weight-gradient formulation). */
  gradients?: GradientOptions;
  /**
   * Where the step p -= lr * multiplier * buf happens. 'graph' (default): the graph takes 'lr' and declares
   * '<param>.next', a self-contained training graph. 'caller': the graph declares only the new momentum buffers
   * and the caller steps the parameters; TrainingSession does so in place, which keeps one copy of the
   * parameters instead of two.
   */
  parameterStep?: 'graph' | 'caller';
}

/** Names the training graph uses for a parameter's state. */
export const momentumName = (param: string): string => `${param}.momentum`;
export const nextName = (name: string): string => `${name}.next`;
/** The base learning rate input (float32 scalar). */
export const LR_INPUT = 'lr';
/** The global gradient norm output (before clipping), declared when clipGradNorm is set. */
export const GRAD_NORM_OUTPUT = 'grad_norm';

/**
 * Builds the training graph from a forward graph `g` whose scalar `loss` depends on its parameters. `g` itself
 * is not changed. Inputs: g's inputs, 'lr' (float32 scalar, the base rate; groups multiply it), every parameter
 * (under its name) and its momentum buffer ('<param>.momentum'). Outputs: g's outputs, '<param>.next' and
 * '<param>.momentum.next' (and 'grad_norm' when clipping). Serialise it with { parameters: 'inputs' }.
 * With parameterStep 'caller' there is no 'lr' input and no '<param>.next' output.
 *
 * Update, per parameter p with gradient g (after optional clipping), as PyTorch:
 *   d = g + weightDecay * p;  buf = momentum * buf + d;  p = p - lr * multiplier(group) * buf
 * (PyTorch sets buf = d on the first step: the same as a zero buffer, which is how buffers start here).
 * Unlike PyTorch, a parameter the loss does not depend on gets a zero gradient, so weight decay still moves it.
 */
export function buildTrainingGraph(g: Graph, loss: Tensor, opts: SgdOptions): Graph {
  if (!g.outputs.length) throw new Error(`buildTrainingGraph: graph '${g.name}' declares no outputs (declare the loss as one)`);
  const params = g.parameters;
  if (!params.length) throw new Error(`buildTrainingGraph: graph '${g.name}' has no parameters`);
  if (g.tensor(LR_INPUT)) throw new Error(`buildTrainingGraph: graph '${g.name}' already has a tensor named '${LR_INPUT}'`);
  const t = g.clone(`${g.name}-train`);
  const stepInGraph = (opts.parameterStep ?? 'graph') === 'graph';
  const lr = stepInGraph ? t.input(LR_INPUT, 'float32', []) : null;
  const grads = gradients(t, loss, params, opts.gradients);

  let scale: Tensor | null = null;
  if (opts.clipGradNorm !== undefined) {
    if (!(opts.clipGradNorm > 0)) throw new Error(`buildTrainingGraph: clipGradNorm must be positive, got ${opts.clipGradNorm}`);
    const squares = params.map((p) => {
      const gr = grads.get(p.name)!;
      return t.reduceSum(t.reshape(t.mul(gr, gr), [-1]), [0], true);
    });
    const norm = t.sqrt(t.reduceSum(squares.length > 1 ? t.concat(squares, 0) : squares[0]!, [0]));
    t.output(norm, GRAD_NORM_OUTPUT);
    // torch: coef = max_norm / (total_norm + 1e-6), applied when below 1.
    scale = t.minimum(t.div(opts.clipGradNorm, t.add(norm, 1e-6)), 1);
  }

  const multipliers = opts.lrMultipliers ?? {};
  for (const p of params as readonly Parameter[]) {
    let d = grads.get(p.name)!;
    if (scale) d = t.mul(d, scale);
    if (opts.weightDecay) d = t.add(d, t.mul(p, opts.weightDecay));
    const buf = t.input(momentumName(p.name), 'float32', [...(p.shape as number[])]);
    const shape = [...p.shape];
    // The updated buffer and parameter are produced under their output names (no Identity copies).
    const bufNext = opts.momentum
      ? t.custom('Add', [t.mul(buf, opts.momentum), d], {}, [{ dtype: 'float32', shape, name: nextName(momentumName(p.name)) }])[0]!
      : t.custom('Identity', [d], {}, [{ dtype: 'float32', shape, name: nextName(momentumName(p.name)) }])[0]!;
    t.output(bufNext, nextName(momentumName(p.name)));
    if (!lr) continue;
    const mult = multipliers[p.group] ?? 1;
    const step = t.mul(bufNext, mult === 1 ? lr : t.mul(lr, mult));
    const pNext = t.custom('Sub', [p, step], {}, [{ dtype: 'float32', shape, name: nextName(p.name) }])[0]!;
    t.output(pNext, nextName(p.name));
  }
  return t;
}
