// Reverse-mode autodiff over a Graph: walk the nodes between the parameters and the loss in reverse
// topological order, apply each node's rule from the gradient table, accumulate with Add.
import type { Graph } from './builder.js';
import type { ConvGradientOptions } from './grad-context.js';
import { checkGradShape, ruleFor } from './gradients.js';
import type { Tensor } from './types.js';
import { fmtShape } from './types.js';

/** Settings of the reverse walk: the formulations of the convolution gradients. */
export type GradientOptions = ConvGradientOptions;

/** The scope of a node's gradient: its own scope (the name up to the last '/') followed by 'grad'. */
function gradScope(nodeName: string): string {
  const slash = nodeName.lastIndexOf('/');
  return slash < 0 ? 'grad' : `${nodeName.slice(0, slash)}/grad`;
}

/**
 * Adds to `g` the gradient of the scalar `loss` with respect to each of `wrt`; returns name -> gradient
 * (same shape and dtype as the tensor; zeros for a tensor the loss does not depend on).
 * Throws at build time, naming the op, if an op without a gradient rule lies on a path from `wrt` to `loss`.
 */
export function gradients(g: Graph, loss: Tensor, wrt: readonly Tensor[], opts: GradientOptions = {}): Map<string, Tensor> {
  g.entry('gradients', loss);
  if (loss.shape.some((d) => d !== 1)) throw new Error(`gradients: loss '${loss.name}' must be a scalar, got shape ${fmtShape(loss.shape)}`);
  if (loss.dtype !== 'float32' && loss.dtype !== 'float64') throw new Error(`gradients: loss '${loss.name}' must be float, got ${loss.dtype}`);
  for (const t of wrt) g.entry('gradients', t);

  // Forward: which tensors depend (differentiably) on wrt. Walk is over the nodes existing now.
  const nodes = g.nodes.slice();
  const reached = new Set(wrt.map((t) => t.name));
  const from = new Map<string, string>(); // tensor -> a wrt name it depends on (for error messages)
  for (const t of wrt) from.set(t.name, t.name);
  for (const node of nodes) {
    const src = node.inputs.find((i) => i && reached.has(i));
    if (src === undefined || ruleFor(node) === null) continue;
    for (const o of node.outputs) {
      if (!o) continue;
      reached.add(o);
      from.set(o, from.get(src)!);
    }
  }
  // Backward: which tensors the loss depends on differentiably (not through a no-gradient op).
  const toLoss = new Set([loss.name]);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i]!;
    if (ruleFor(node) === null) continue;
    if (node.outputs.some((o) => o && toLoss.has(o))) for (const inp of node.inputs) if (inp) toLoss.add(inp);
  }

  const grads = new Map<string, Tensor>();
  const accumulate = (name: string, grad: Tensor) => {
    const prev = grads.get(name);
    grads.set(name, prev ? g.add(prev, grad) : grad);
  };
  grads.set(loss.name, g.constant(loss.dtype === 'float64' ? new Float64Array([1]) : new Float32Array([1]), { shape: [...(loss.shape as number[])], dtype: loss.dtype }));

  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = g.nodes[i]!; // re-read: a rule may have added an output to an earlier node
    const onPath = node.outputs.some((o) => o && toLoss.has(o) && reached.has(o));
    if (!onPath) continue;
    const rule = ruleFor(node);
    if (rule === undefined) {
      const src = node.inputs.find((n) => n && reached.has(n))!;
      throw new Error(`gradients: op ${node.op} (node '${node.name}') has no gradient rule, and it lies on the path from '${from.get(src)}' to the loss '${loss.name}'`);
    }
    if (rule === null) continue;
    const outGrads = node.outputs.map((o) => (o ? grads.get(o) ?? null : null));
    if (outGrads.every((t) => t === null)) continue;
    const inputs = node.inputs.map((n) => (n ? g.tensor(n)! : null));
    const outputs = node.outputs.map((n) => g.tensor(n)!);
    // The gradient's nodes are named under the forward node's scope: `layer/Conv_12` -> `layer/grad/Mul_345`.
    g.scope(gradScope(node.name), () => {
      const inGrads = rule({ g, node, nodeIndex: i, inputs, outputs, grads: outGrads, conv: opts });
      inputs.forEach((t, k) => {
        const d = inGrads[k];
        if (!t || !d || !reached.has(t.name)) return;
        checkGradShape(node, t, d);
        accumulate(t.name, d);
      });
    });
  }

  const result = new Map<string, Tensor>();
  for (const t of wrt) result.set(t.name, grads.get(t.name) ?? g.zerosLike(t));
  return result;
}
