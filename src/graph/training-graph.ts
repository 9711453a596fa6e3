// A training step as one graph: the forward graph's loss, its gradients (src/graph/autodiff.ts), optional clipping
// by global norm, and an optimizer's update (src/graph/optim/), so one ONNX Runtime run does the whole step.
import type { Graph } from './builder.js';
import { gradients, type GradientOptions } from './autodiff.js';
import { directionName, nextName, stateName, type Optimizer } from './optim/optimizer.js';
import { numel, type Parameter, type Tensor } from './types.js';

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
  /**
   * Update the parameters of fewer elements than this together: each run of at least 3 of them in one optimizer
   * group, with no larger parameter between them in the forward pass, gets one flat update (their gradients,
   * values and state laid end to end): a few large elementwise ops instead of many small ones. Default 0: one
   * update per parameter (measured: no faster a step for SSDLite, and a higher memory peak).
   */
  flattenBelow?: number;
}

/** The fewest small parameters updated together: shorter runs (SSD300's first layers) gain nothing measurable and
 *  change ONNX Runtime's schedule enough to raise the step's memory peak. */
const MIN_RUN = 3;

/** The base learning rate input (float32 scalar), in a graph that steps its parameters itself. */
export const LR_INPUT = 'lr';
/** The global gradient norm output (before clipping), declared when clipGradNorm is set. */
export const GRAD_NORM_OUTPUT = 'grad_norm';

/**
 * One update of a training graph: one parameter, or several small ones of the same group laid end to end. Its state
 * buffers and direction have `size` elements; member k's part is [offset, offset + length).
 */
export interface UpdateUnit {
  /** The graph inputs of the state buffers, in the optimizer's state order. */
  stateInputs: string[];
  /** The graph outputs of their new values, in the same order. */
  stateOutputs: string[];
  /** The graph output of the step direction (one of `stateOutputs` when the optimizer steps along a state buffer). */
  direction: string;
  /** The shape of the state and direction buffers: the parameter's, [size] where its last dimension is 1, or
   *  [size] for several. */
  shape: number[];
  size: number;
  members: Array<{ name: string; offset: number; length: number }>;
}

/**
 * Builds the training graph from a forward graph `g` whose scalar `loss` depends on its parameters; `g` itself
 * is not changed. Inputs: g's inputs, every parameter (under its name), every state buffer
 * ('<param>.<state>', e.g. 'conv.weight.momentum'; with `flattenBelow`, small parameters share flat ones named
 * '<group>.flat<k>.<state>' for the k-th run of them), the optimizer's scalars and, with parameterStep 'graph', 'lr'. Outputs: g's outputs,
 * '<state input>.next' for each state buffer, '<param>.direction' where the direction is not a state buffer,
 * '<param>.next' with parameterStep 'graph', and 'grad_norm' when clipping. The new state is written by the node
 * that computes it (no copy), so a caller may bind it to the input's own buffer.
 * Serialise it with { parameters: 'inputs' }.
 */
export function buildTrainingGraph(g: Graph, loss: Tensor, opts: TrainingGraphOptions): Graph {
  return buildTrainingGraphWithOutputs(g, loss, opts).graph;
}

/** {@link buildTrainingGraph}, also saying which inputs and outputs hold each update's state and direction. */
export function buildTrainingGraphWithOutputs(g: Graph, loss: Tensor, opts: TrainingGraphOptions): { graph: Graph; units: UpdateUnit[] } {
  if (!g.outputs.length) throw new Error(`buildTrainingGraph: graph '${g.name}' declares no outputs (declare the loss as one)`);
  const params = g.parameters as readonly Parameter[];
  if (!params.length) throw new Error(`buildTrainingGraph: graph '${g.name}' has no parameters`);
  const { optimizer } = opts;
  const stepInGraph = (opts.parameterStep ?? 'graph') === 'graph';
  const flattenBelow = stepInGraph ? 0 : (opts.flattenBelow ?? 0);
  for (const name of [LR_INPUT, ...(optimizer.scalars ?? [])]) if (g.tensor(name)) throw new Error(`buildTrainingGraph: graph '${g.name}' already has a tensor named '${name}'`);
  const t = g.clone(`${g.name}-train`);
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
  // ONNX Runtime's broadcasting kernels go one element at a time when the last dimension is 1, as in a 1x1 conv's
  // weight [Cout, Cin, 1, 1] times a scalar: such a parameter is updated as a flat vector (only such a one: reshaping
  // a graph input copies it).
  const size = (p: Parameter): number => numel(p.shape as number[]);
  const flatUpdate = (p: Parameter): boolean => p.shape[p.shape.length - 1] === 1;
  const updated = (p: Parameter, x: Tensor): Tensor => (flatUpdate(p) ? t.reshape(x, [-1]) : x);
  const gradOf = (p: Parameter): Tensor => {
    const grad = updated(p, grads.get(p.name)!);
    return scale ? t.mul(grad, scale) : grad;
  };

  // One update per large parameter; the small ones of each group together, in runs that a large parameter ends.
  // Updates follow the forward order of their parameters (a run at its first member): ONNX Runtime schedules the
  // graph from its outputs in order, and another order of the same updates can raise a step's memory peak.
  const firstUse = new Map<string, number>();
  g.nodes.forEach((node, i) => node.inputs.forEach((name) => firstUse.has(name) || firstUse.set(name, i)));
  const inForwardOrder = [...params].sort((a, b) => (firstUse.get(a.name) ?? Infinity) - (firstUse.get(b.name) ?? Infinity));
  const runOf = new Map<Parameter, Parameter[]>();
  const open = new Map<string, Parameter[]>();
  for (const p of inForwardOrder) {
    if (size(p) >= flattenBelow) {
      open.clear();
      continue;
    }
    const run = open.get(p.group) ?? [];
    open.set(p.group, run);
    run.push(p);
    runOf.set(p, run);
  }
  const plan: Parameter[][] = [];
  for (const p of inForwardOrder) {
    const run = runOf.get(p);
    if (!run || run.length < MIN_RUN) plan.push([p]);
    else if (run[0] === p) plan.push(run);
  }
  const units: UpdateUnit[] = [];
  const addUnit = (key: string, group: string, shape: number[], value: Tensor, grad: Tensor, members: UpdateUnit['members']): Tensor => {
    const stateInputs = optimizer.state.map((s) => stateName(key, s));
    const state = stateInputs.map((name) => t.input(name, 'float32', shape));
    const update = optimizer.update(t, value, grad, state, { group, scalars });
    // The new state under its output names, written by the nodes that compute it.
    const renamed = update.state.map((s, i) => t.outputRenamed(s, nextName(stateInputs[i]!)));
    const along = update.state.indexOf(update.direction);
    const direction = along >= 0 ? renamed[along]! : t.outputRenamed(update.direction, directionName(key));
    units.push({ stateInputs, stateOutputs: renamed.map((s) => s.name), direction: direction.name, shape, size: numel(shape), members });
    return direction;
  };
  const flat = (xs: Tensor[]): Tensor => t.concat(xs.map((x) => (x.shape.length === 1 ? x : t.reshape(x, [-1]))), 0);
  const multipliers = opts.lrMultipliers ?? {};
  let runIndex = 0;
  for (const members of plan) {
    const p = members[0]!;
    if (members.length > 1) {
      let offset = 0;
      const layout = members.map((m) => {
        const entry = { name: m.name, offset, length: size(m) };
        offset += entry.length;
        return entry;
      });
      addUnit(`${p.group}.flat${runIndex++}`, p.group, [offset], flat(members), flat(members.map(gradOf)), layout);
      continue;
    }
    const value = updated(p, p);
    const direction = addUnit(p.name, p.group, [...(value.shape as number[])], value, gradOf(p), [{ name: p.name, offset: 0, length: size(p) }]);
    if (!lr) continue;
    const mult = multipliers[p.group] ?? 1;
    const step = t.mul(direction, mult === 1 ? lr : t.mul(lr, mult));
    const next = t.sub(value, step);
    t.outputRenamed(value === p ? next : t.reshape(next, [...(p.shape as number[])]), nextName(p.name));
  }
  return { graph: t, units };
}
