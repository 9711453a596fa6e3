// What a network costs: parameters (trainable, and batch-norm buffers apart), multiply-accumulates of one
// forward pass and of one training step counted on its graph (every Conv and MatMul node, from the shapes the
// builder inferred), and the number of priors. `ssd models` prints these.
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
  /** Multiply-accumulates of one training step of one image (forward and backward), in units of 10^9. */
  trainGmac: number;
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

/** A Conv or MatMul node of a training step: its forward multiply-accumulates and which of its first two operands
 *  (input and weight) need a gradient, each costing as many multiply-accumulates again. */
export interface TrainingProduct {
  node: GraphNode;
  macs: number;
  gradients: [boolean, boolean];
}

/**
 * The products of a training step of graph `g`: every Conv and MatMul node, its operands needing a gradient being
 * those that depend on a trainable parameter (a convolution's weight; its input, except where that comes from the
 * graph's inputs alone, as the first layer's image does).
 */
export function trainingProducts(g: Graph, trainable: ReadonlySet<string>): TrainingProduct[] {
  const needsGrad = new Set(trainable);
  const products: TrainingProduct[] = [];
  for (const node of g.nodes) {
    if (node.inputs.some((i) => needsGrad.has(i))) for (const o of node.outputs) needsGrad.add(o);
    const macs = nodeMacs(g, node);
    if (macs > 0) products.push({ node, macs, gradients: [needsGrad.has(node.inputs[0]!), needsGrad.has(node.inputs[1]!)] });
  }
  return products;
}

/** The forward graph of one image of `network`, with placeholder weights (only its shapes are meant to be read),
 *  and the names of its trainable parameters (batch-norm buffers left out). */
export function shapeGraph(network: SSDNetwork): { graph: Graph; trainable: Set<string> } {
  const specs = network.parameters();
  // Only the shapes matter here, and initialising large models would take seconds.
  const graph = new Graph('stats');
  const { width, height } = network.inputSize;
  network.build(new BuildContext(graph, placeholderWeights(specs)), graph.input('images', 'float32', [1, 3, height, width]));
  return { graph, trainable: new Set(specs.filter((s) => !s.buffer).map((s) => s.name)) };
}

/** Parameters, GMAC per image (forward, and a training step) and priors of `network`. */
export function modelStats(network: SSDNetwork): ModelStats {
  let parameters = 0, buffers = 0;
  for (const s of network.parameters()) {
    const n = product(s.shape);
    if (s.buffer) buffers += n;
    else parameters += n;
  }
  const { graph, trainable } = shapeGraph(network);
  const trainMacs = trainingProducts(graph, trainable).reduce((a, p) => a + p.macs * (1 + p.gradients.filter(Boolean).length), 0);
  return { parameters, buffers, gmac: graphMacs(graph) / 1e9, trainGmac: trainMacs / 1e9, priors: network.priorCount, inputSize: { ...network.inputSize }, featureMaps: [...network.priors.featureMapSizes] };
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
