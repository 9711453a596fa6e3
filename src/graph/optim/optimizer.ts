// The optimizer contract (tinygrad's Optimizer, for training graphs): an optimizer keeps state buffers per
// parameter, updates them inside the training graph from the gradient, and names a step direction d; the
// parameter then moves p <- p - lr * multiplier(group) * d, either in the graph (a self-contained training graph)
// or in place by the training session. SGD and AdamW are small implementations of it.
import type { Graph } from '../builder.js';
import type { Tensor } from '../types.js';

/** What an optimizer adds to the training graph for one parameter. */
export interface ParameterUpdate {
  /** The new value of each state buffer, in the order of {@link Optimizer.state}. */
  state: Tensor[];
  /** The step direction d (p <- p - lr * multiplier * d); may be one of `state`. */
  direction: Tensor;
}

/** An optimizer as part of a training graph. */
export interface Optimizer {
  /** A name for messages and checkpoints ('sgd', 'adamw'). */
  readonly name: string;
  /** The state buffers every parameter has, by suffix (e.g. ['momentum']); each starts at zero. */
  readonly state: readonly string[];
  /** Scalar inputs the update reads, by name, besides the state (e.g. bias corrections). Default none. */
  readonly scalars?: readonly string[];
  /** The scalars' values at 1-based step `t` (the first step is 1). */
  scalarValues?(t: number): Record<string, number>;
  /**
   * Adds the update of parameter values `p` to `g`: from their gradient (after any clipping), their current state
   * tensors and the scalar inputs, the new state and the step direction. Updates are elementwise, so `p` may be one
   * parameter or several of the same group laid end to end (as training graphs with `flattenBelow` update small
   * parameters).
   */
  update(g: Graph, p: Tensor, grad: Tensor, state: readonly Tensor[], context: UpdateContext): ParameterUpdate;
}

/** What an update knows besides the tensors. */
export interface UpdateContext {
  /** The optimizer group of the parameters (e.g. 'weight', 'bias'). */
  group: string;
  /** The optimizer's scalar inputs by name (see {@link Optimizer.scalars}). */
  scalars: Readonly<Record<string, Tensor>>;
}

/** The graph input of a parameter's state buffer, e.g. 'conv1.weight.momentum'. */
export const stateName = (param: string, state: string): string => `${param}.${state}`;
/** The graph output holding the next value of an input (a state buffer or, in a self-contained graph, a parameter). */
export const nextName = (name: string): string => `${name}.next`;
/** The graph output of a parameter's step direction, when it is not one of its state buffers. */
export const directionName = (param: string): string => `${param}.direction`;
