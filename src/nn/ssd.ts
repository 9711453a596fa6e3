// An SSD network assembled from parts, torchvision style: a backbone that turns images into feature maps, a
// head that predicts box offsets and class scores on every map, and the prior config those predictions are
// relative to. SSD300, SSD512 or an SSDLite are the same class with other parts (see zoo.ts).
import { Graph, type Tensor } from '../graph/index.js';
import { priorCount, priorsPerLocation, type PriorConfig } from '../boxes/priors.js';
import type { SSDHead } from './heads.js';
import { BuildContext, type HasParameters, type ParameterSpec, type Weights } from './layers.js';
import { multiboxLoss, type MultiBoxLossOptions, type MultiBoxLossTerms } from './loss.js';

/** A feature map a backbone hands to the head. */
export interface FeatureMapInfo {
  name: string;
  channels: number;
}

/** Images in, feature maps out (largest first, as the priors are laid out). */
export interface Backbone extends HasParameters {
  /** The maps `build` returns, in order. */
  readonly maps: readonly FeatureMapInfo[];
  /** images (N, 3, H, W) -> one (N, C_i, H_i, W_i) tensor per entry of `maps`. */
  build(ctx: BuildContext, images: Tensor): Tensor[];
}

/** The parts of an SSD. */
export interface SSDParts {
  backbone: Backbone;
  head: SSDHead;
  priors: PriorConfig;
  /** Input size in pixels. */
  inputSize: { width: number; height: number };
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
  readonly backbone: Backbone;
  readonly head: SSDHead;
  readonly priors: PriorConfig;
  readonly inputSize: { width: number; height: number };
  /** Number of priors P (8732 for SSD300). */
  readonly priorCount: number;

  constructor(parts: SSDParts) {
    this.backbone = parts.backbone;
    this.head = parts.head;
    this.priors = parts.priors;
    this.inputSize = parts.inputSize;
    const maps = parts.backbone.maps;
    const per = priorsPerLocation(parts.priors);
    if (per.length !== maps.length || per.length !== parts.head.maps.length) {
      throw new Error(`SSDNetwork: the backbone gives ${maps.length} maps, the head predicts on ${parts.head.maps.length}, the priors cover ${per.length}`);
    }
    parts.head.maps.forEach((m, i) => {
      if (m.channels !== maps[i]!.channels) throw new Error(`SSDNetwork: head map ${i} (${m.name}) takes ${m.channels} channels, the backbone gives ${maps[i]!.channels}`);
      if (m.priorsPerPosition !== per[i]) throw new Error(`SSDNetwork: head map ${i} (${m.name}) predicts ${m.priorsPerPosition} priors per position, the prior config has ${per[i]}`);
    });
    this.priorCount = priorCount(parts.priors);
  }

  /** Number of classes K, background included. */
  get nClasses(): number {
    return this.head.nClasses;
  }

  /** Backbone parameters, then head parameters (SSD300: the reference state_dict order). */
  parameters(): ParameterSpec[] {
    return [...this.backbone.parameters(), ...this.head.parameters()];
  }

  /** Adds the network to `ctx.g`: images (N, 3, H, W) -> locs (N, P, 4), scores (N, P, K). */
  build(ctx: BuildContext, images: Tensor): { locs: Tensor; scores: Tensor } {
    // Declare every parameter first, so the graph lists them in state_dict order, not in order of first use.
    for (const spec of this.parameters()) ctx.param(spec);
    return this.head.build(ctx, this.backbone.build(ctx, images));
  }

  /**
   * A graph of the forward pass with these weights: input 'images' (batch dimension 'N' symbolic unless
   * `batch` is given), outputs 'locs' and 'scores'.
   */
  forwardGraph(weights: Weights, options: { batch?: number; name?: string } = {}): ForwardGraph {
    const graph = new Graph(options.name ?? 'ssd');
    const images = graph.input('images', 'float32', [options.batch ?? 'N', 3, this.inputSize.height, this.inputSize.width]);
    const { locs, scores } = this.build(new BuildContext(graph, weights), images);
    graph.output(locs, 'locs');
    graph.output(scores, 'scores');
    return { graph, images, locs, scores };
  }

  /**
   * A graph of forward pass and MultiBox loss: inputs 'images', 'true_classes' (N, P) int64 and 'true_offsets'
   * (N, P, 4) (see targets.ts); outputs 'loss', 'conf_loss', 'loc_loss', 'positives' (scalars). 'locs' and
   * 'scores' are not outputs, so a training session does not copy them out.
   */
  lossGraph(weights: Weights, options: { batch?: number; name?: string; loss?: MultiBoxLossOptions } = {}): LossGraph {
    const graph = new Graph(options.name ?? 'ssd-loss');
    const n = options.batch ?? 'N';
    const images = graph.input('images', 'float32', [n, 3, this.inputSize.height, this.inputSize.width]);
    const classes = graph.input('true_classes', 'int64', [n, this.priorCount]);
    const offsets = graph.input('true_offsets', 'float32', [n, this.priorCount, 4]);
    const { locs, scores } = this.build(new BuildContext(graph, weights), images);
    const terms = graph.scope('loss', () => multiboxLoss(graph, locs, scores, { classes, offsets }, options.loss));
    graph.output(terms.loss, 'loss');
    graph.output(terms.conf, 'conf_loss');
    graph.output(terms.loc, 'loc_loss');
    graph.output(terms.positives, 'positives');
    return { graph, images, locs, scores, classes, offsets, terms };
  }
}
