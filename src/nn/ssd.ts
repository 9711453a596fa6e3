// The SSD network, assembled from parts as torchvision's `SSD`: a backbone that turns images into feature maps,
// a head that predicts box offsets and class scores on every map, the prior config those predictions are
// relative to, and - for networks with batch norm - the normalisation state its layers share. SSD300, SSD512,
// SSDLite and ssd-tiny are this class with other parts (src/nn/models/).
import { Graph, type Tensor } from '../graph/index.js';
import { priorCount, priorsPerLocation, type PriorConfig } from '../boxes/priors.js';
import type { NormMode, NormState } from './batch-norm.js';
import type { FeatureMapInfo, Head } from './heads.js';
import { BuildContext, placeholderWeights, type HasParameters, type ParameterSpec, type Weights } from './layers.js';
import { multiboxLoss, type MultiBoxLossOptions, type MultiBoxLossTerms } from './loss.js';

/** Images in, feature maps out (largest first, as the priors are laid out). */
export interface Backbone extends HasParameters {
  /** The maps `build` returns, in order. */
  readonly maps: readonly FeatureMapInfo[];
  /** images (N, 3, H, W) -> one (N, C_i, H_i, W_i) tensor per entry of `maps`. */
  build(ctx: BuildContext, images: Tensor): Tensor[];
}

/** The parts of an SSD. */
export interface SSDParts {
  /** The model's name in the family, e.g. 'ssd300' (what a model config's `architecture` says). */
  architecture: string;
  backbone: Backbone;
  head: Head;
  priors: PriorConfig;
  /** Input size in pixels. */
  inputSize: { width: number; height: number };
  /** The batch-norm state the backbone's and head's layers share; absent for networks without batch norm. */
  norm?: NormState;
}

/** Options of the graph-building methods. */
export interface GraphOptions {
  /** A fixed batch size; default a symbolic batch dimension 'N'. */
  batch?: number;
  /** The graph's name. */
  name?: string;
  /** How batch norm normalises (ignored without batch norm). Default 'eval' for forward graphs, 'train' for loss graphs. */
  norm?: NormMode;
}

/** The graph of a forward pass, with its input and outputs. */
export interface ForwardGraph {
  graph: Graph;
  /** Input 'images', float32 (N, 3, H, W), normalised. */
  images: Tensor;
  /** Output 'locs', (N, P, 4): offsets from the priors, `[g_cx, g_cy, g_w, g_h]`. */
  locs: Tensor;
  /** Output 'scores', (N, P, K): raw class logits (softmax not applied), class 0 = background. */
  scores: Tensor;
  /** In 'calibrate' mode: each batch-norm layer's batch mean and unbiased variance, in build order. */
  statistics: Array<{ name: string; mean: Tensor; variance: Tensor }>;
}

/** The graph of forward pass + MultiBox loss, what a training step differentiates. */
export interface LossGraph extends ForwardGraph {
  /** Input 'true_classes', int64 (N, P). */
  classes: Tensor;
  /** Input 'true_offsets', float32 (N, P, 4). */
  offsets: Tensor;
  /** The loss terms, declared as outputs 'loss', 'conf_loss', 'loc_loss', 'positives'. */
  terms: MultiBoxLossTerms;
}

/** An SSD detector network. */
export class SSDNetwork implements HasParameters {
  readonly architecture: string;
  readonly backbone: Backbone;
  readonly head: Head;
  readonly priors: PriorConfig;
  readonly inputSize: { width: number; height: number };
  readonly norm: NormState | undefined;
  /** Number of priors P (8732 for SSD300). */
  readonly priorCount: number;

  /** Checks that the parts fit: maps, channels and priors per position, and the maps' sides against the priors'. */
  constructor(parts: SSDParts) {
    this.architecture = parts.architecture;
    this.backbone = parts.backbone;
    this.head = parts.head;
    this.priors = parts.priors;
    this.inputSize = parts.inputSize;
    this.norm = parts.norm;
    const fail = (what: string): never => {
      throw new Error(`${parts.architecture}: ${what}`);
    };
    const maps = parts.backbone.maps;
    const per = priorsPerLocation(parts.priors);
    if (per.length !== maps.length || per.length !== parts.head.maps.length) {
      fail(`the backbone gives ${maps.length} maps, the head predicts on ${parts.head.maps.length}, the priors cover ${per.length}`);
    }
    parts.head.maps.forEach((m, i) => {
      if (m.channels !== maps[i]!.channels) fail(`head map ${i} (${m.name}) takes ${m.channels} channels, the backbone gives ${maps[i]!.channels}`);
      if (m.priorsPerPosition !== per[i]) fail(`head map ${i} (${m.name}) predicts ${m.priorsPerPosition} priors per position, the prior config has ${per[i]}`);
    });
    const sides = this.featureMapSides();
    const want = parts.priors.featureMapSizes;
    if (sides.some((s, i) => s !== want[i])) {
      fail(`the priors are laid on maps of [${want}], but at ${this.inputSize.width}x${this.inputSize.height} the network's maps are [${sides}]`);
    }
    this.priorCount = priorCount(parts.priors);
  }

  /** Number of classes K, background included. */
  get nClasses(): number {
    return this.head.nClasses;
  }

  /** True when the network has batch-norm layers (running statistics among its buffers). */
  get hasBatchNorm(): boolean {
    return this.norm !== undefined;
  }

  /** Every tensor of a model file: backbone then head (SSD300: the reference state_dict order), buffers included. */
  parameters(): ParameterSpec[] {
    return [...this.backbone.parameters(), ...this.head.parameters()];
  }

  /** The tensors an optimizer steps: {@link parameters} without the buffers. */
  trainableParameters(): ParameterSpec[] {
    return this.parameters().filter((p) => !p.buffer);
  }

  /**
   * Adds the network to `ctx.g`: images (N, 3, H, W) -> locs (N, P, 4), scores (N, P, K), with batch norm in
   * `mode`. Parameters are declared first, in state_dict order (not in order of first use); the buffers only in
   * 'eval' mode, the one that reads them.
   */
  build(ctx: BuildContext, images: Tensor, mode: NormMode = 'eval'): { locs: Tensor; scores: Tensor; statistics: ForwardGraph['statistics'] } {
    const norm = this.norm;
    const declared = mode === 'eval' || !norm ? this.parameters() : this.trainableParameters();
    for (const spec of declared) ctx.param(spec);
    if (!norm) return { ...this.head.build(ctx, this.backbone.build(ctx, images)), statistics: [] };
    const before = norm.mode;
    norm.mode = mode;
    norm.emitted.length = 0;
    try {
      const out = this.head.build(ctx, this.backbone.build(ctx, images));
      return { ...out, statistics: [...norm.emitted] };
    } finally {
      norm.mode = before;
      norm.emitted.length = 0;
    }
  }

  /**
   * A graph of the forward pass with these weights: input 'images', outputs 'locs' and 'scores' (and in
   * 'calibrate' mode the statistics, see {@link ForwardGraph}, not declared as outputs).
   */
  forwardGraph(weights: Weights, options: GraphOptions = {}): ForwardGraph {
    const graph = new Graph(options.name ?? this.architecture);
    const images = graph.input('images', 'float32', [options.batch ?? 'N', 3, this.inputSize.height, this.inputSize.width]);
    const { locs, scores, statistics } = this.build(new BuildContext(graph, weights), images, options.norm ?? 'eval');
    graph.output(locs, 'locs');
    graph.output(scores, 'scores');
    return { graph, images, locs, scores, statistics };
  }

  /**
   * A graph of forward pass and MultiBox loss (batch norm on batch statistics unless `norm` says otherwise):
   * inputs 'images', 'true_classes' (N, P) int64 and 'true_offsets' (N, P, 4) (see targets.ts); outputs 'loss',
   * 'conf_loss', 'loc_loss', 'positives' (scalars). 'locs' and 'scores' are not outputs, so a training session
   * does not copy them out.
   */
  lossGraph(weights: Weights, options: GraphOptions & { loss?: MultiBoxLossOptions } = {}): LossGraph {
    const graph = new Graph(options.name ?? `${this.architecture}-loss`);
    const n = options.batch ?? 'N';
    const images = graph.input('images', 'float32', [n, 3, this.inputSize.height, this.inputSize.width]);
    const classes = graph.input('true_classes', 'int64', [n, this.priorCount]);
    const offsets = graph.input('true_offsets', 'float32', [n, this.priorCount, 4]);
    const { locs, scores, statistics } = this.build(new BuildContext(graph, weights, true), images, options.norm ?? 'train');
    const terms = graph.scope('loss', () => multiboxLoss(graph, locs, scores, { classes, offsets }, options.loss));
    graph.output(terms.loss, 'loss');
    graph.output(terms.conf, 'conf_loss');
    graph.output(terms.loc, 'loc_loss');
    graph.output(terms.positives, 'positives');
    return { graph, images, locs, scores, statistics, classes, offsets, terms };
  }

  /** The side of each feature map at the network's input size, read off a graph built for shapes only. */
  private featureMapSides(): number[] {
    const g = new Graph('shapes');
    const { width, height } = this.inputSize;
    const ctx = new BuildContext(g, placeholderWeights(this.parameters()));
    for (const spec of this.parameters()) ctx.param(spec);
    const features = this.backbone.build(ctx, g.input('images', 'float32', [1, 3, height, width]));
    return features.map((f, i) => {
      const [h, w] = [f.shape[2], f.shape[3]];
      if (h !== w) throw new Error(`${this.architecture}: feature map ${i} is ${String(h)}x${String(w)}; priors need square maps`);
      return h as number;
    });
  }
}
