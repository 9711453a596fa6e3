// What a network costs: parameters (trainable, and batch-norm buffers apart), multiply-accumulates of one
// forward pass counted on its graph (every Conv and MatMul node, from the shapes the builder inferred), and
// the number of priors. `ssd models` prints these.
import { Graph, type GraphNode } from '../graph/index.js';
import { BuildContext, placeholderWeights } from './layers.js';
import { MODELS } from './models/index.js';
import type { SSDNetwork } from './ssd.js';

/** The size and cost of a network. */
export interface ModelStats {
  /** Trainable parameters. */
  parameters: number;
  /** Batch-norm running statistics (stored in model files, not trained). */
  buffers: number;
  /** Multiply-accumulates of one forward pass of one image, in units of 10^9 (convolutions and matrix products). */
  gmac: number;
  /** Priors (predictions per image). */
  priors: number;
  /** Input size in pixels. */
  inputSize: { width: number; height: number };
  /** Feature maps the head predicts on: side x side. */
  featureMaps: number[];
}

const product = (xs: readonly (number | string)[]): number => xs.reduce<number>((a, d) => a * (typeof d === 'number' ? d : 1), 1);

/** Multiply-accumulates of one node (0 for nodes that do not multiply-accumulate). */
function nodeMacs(g: Graph, node: GraphNode): number {
  if (node.op === 'Conv') {
    const w = g.tensor(node.inputs[1]!)!.shape; // (Cout, Cin/groups, kh, kw)
    const y = g.tensor(node.outputs[0]!)!.shape; // (N, Cout, Ho, Wo)
    return product(y) * product(w.slice(1));
  }
  if (node.op === 'MatMul') {
    const a = g.tensor(node.inputs[0]!)!.shape;
    const y = g.tensor(node.outputs[0]!)!.shape;
    return product(y) * (a[a.length - 1] as number);
  }
  return 0;
}

/** Multiply-accumulates of a graph's Conv and MatMul nodes (symbolic dimensions count as 1). */
export function graphMacs(g: Graph): number {
  let macs = 0;
  for (const node of g.nodes) macs += nodeMacs(g, node);
  return macs;
}

/** Parameters, GMAC per image and priors of `network` (its forward graph is built with placeholder weights). */
export function modelStats(network: SSDNetwork): ModelStats {
  const specs = network.parameters();
  let parameters = 0, buffers = 0;
  for (const s of specs) {
    const n = product(s.shape);
    if (s.buffer) buffers += n;
    else parameters += n;
  }
  // Only the shapes matter here, and initialising large models would take seconds.
  const weights = placeholderWeights(specs);
  const g = new Graph('stats');
  const { width, height } = network.inputSize;
  network.build(new BuildContext(g, weights), g.input('images', 'float32', [1, 3, height, width]));
  return { parameters, buffers, gmac: graphMacs(g) / 1e9, priors: network.priorCount, inputSize: { ...network.inputSize }, featureMaps: [...network.priors.featureMapSizes] };
}

/** One model of the family with its statistics. */
export interface FamilyRow extends ModelStats {
  name: string;
  summary: string;
}

/** Every model of the family (`ssd models`) with its statistics for `classes` object classes. */
export function familyStats(classes = 20): FamilyRow[] {
  return [...MODELS.values()].map((e) => ({ name: e.name, summary: e.summary, ...modelStats(e.build(classes + 1)) }));
}
