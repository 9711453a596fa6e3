// A training step as one graph: the forward graph's loss, its gradients (src/graph/autodiff.ts), optional clipping
// by global norm, and an optimizer's update (src/graph/optim/), so one ONNX Runtime run does the whole step.
import type { Graph } from './builder.js';
import { gradients, type GradientOptions } from './autodiff.js';
import { directionName, nextName, stateName, type Optimizer } from './optim/optimizer.js';
import type { Parameter, Tensor } from './types.js';

/** Options of {@link buildTrainingGraph}. */
export interface TrainingGraphOptions {
  optimizer: Optimizer;
  /** Learning-rate multiplier per parameter group (default 1 for a group not listed), e.g. { weight: 1, bias: 2 }. */
  lrMultipliers?: Record<string, number>;
  /** Clip the global L2 norm of all gradients to this before the update (torch.nn.utils.clip_grad_norm_). */
  clipGradNorm?: number;
  /** Autodiff settings (the convolution gradient formulations). */
  gradients?: GradientOptions;
  /**
   * Where the parameter step p -= lr * multiplier * direction happens. 'graph' (default): the graph takes 'lr' and
   * declares '<param>.next', a self-contained training graph for any runtime. 'caller': the graph declares only
   * the new optimizer state and the directions, and the caller steps the parameters; TrainingSession does so in
   * place, which keeps one copy of the parameters instead of two.
   */
  parameterStep?: 'graph' | 'caller';
}

/** The base learning rate input (float32 scalar), in a graph that steps its parameters itself. */
export const LR_INPUT = 'lr';
/** The global gradient norm output (before clipping), declared when clipGradNorm is set. */
export const GRAD_NORM_OUTPUT = 'grad_norm';

/** Where a parameter's update lives in a training graph. */
export interface ParameterOutputs {
  /** The graph outputs of the new state buffers, in the optimizer's state order. */
  state: string[];
  /** The graph output of the step direction (one of `state` when the optimizer steps along a state buffer). */
  direction: string;
}

/**
 * Builds the training graph from a forward graph `g` whose scalar `loss` depends on its parameters; `g` itself
 * is not changed. Inputs: g's inputs, every parameter (under its name), every state buffer
 * ('<param>.<state>', e.g. 'conv.weight.momentum'), the optimizer's scalars and, with parameterStep 'graph', 'lr'.
 * Outputs: g's outputs, '<param>.<state>.next' for each state buffer, '<param>.direction' where the direction is not
 * a state buffer, '<param>.next' with parameterStep 'graph', and 'grad_norm' when clipping. The new state is
 * written by the node that computes it (no copy), so a caller may bind it to the input's own buffer.
 * Serialise it with { parameters: 'inputs' }.
 */
export function buildTrainingGraph(g: Graph, loss: Tensor, opts: TrainingGraphOptions): Graph {
  return buildTrainingGraphWithOutputs(g, loss, opts).graph;
}

/** {@link buildTrainingGraph}, also saying which outputs hold each parameter's update. */
export function buildTrainingGraphWithOutputs(g: Graph, loss: Tensor, opts: TrainingGraphOptions): { graph: Graph; outputs: Map<string, ParameterOutputs> } {
  if (!g.outputs.length) throw new Error(`buildTrainingGraph: graph '${g.name}' declares no outputs (declare the loss as one)`);
  const params = g.parameters as readonly Parameter[];
  if (!params.length) throw new Error(`buildTrainingGraph: graph '${g.name}' has no parameters`);
  const { optimizer } = opts;
  for (const name of [LR_INPUT, ...(optimizer.scalars ?? [])]) if (g.tensor(name)) throw new Error(`buildTrainingGraph: graph '${g.name}' already has a tensor named '${name}'`);
  const t = g.clone(`${g.name}-train`);
  const stepInGraph = (opts.parameterStep ?? 'graph') === 'graph';
  const lr = stepInGraph ? t.input(LR_INPUT, 'float32', []) : null;
  const scalars: Record<string, Tensor> = {};
  for (const name of optimizer.scalars ?? []) scalars[name] = t.input(name, 'float32', []);
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
  const outputs = new Map<string, ParameterOutputs>();
  for (const p of params) {
    const grad = scale ? t.mul(grads.get(p.name)!, scale) : grads.get(p.name)!;
    const state = optimizer.state.map((s) => t.input(stateName(p.name, s), 'float32', [...(p.shape as number[])]));
    const update = optimizer.update(t, p, grad, state, scalars);
    // The new state under its output names, written by the nodes that compute it.
    const renamed = update.state.map((s, i) => t.outputRenamed(s, nextName(stateName(p.name, optimizer.state[i]!))));
    const along = update.state.indexOf(update.direction);
    const direction = along >= 0 ? renamed[along]! : t.outputRenamed(update.direction, directionName(p.name));
    outputs.set(p.name, { state: renamed.map((s) => s.name), direction: direction.name });
    if (!lr) continue;
    const mult = multipliers[p.group] ?? 1;
    const step = t.mul(direction, mult === 1 ? lr : t.mul(lr, mult));
    t.outputRenamed(t.sub(p, step), nextName(p.name));
  }
  return { graph: t, outputs };
}
