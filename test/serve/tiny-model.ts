// A small, fast SSD for tests of detect, export and serve: the library's real SSDHead, prior layout (SSD300's
// 8732 priors), preprocessing and post-processing, on a narrow 7-conv backbone instead of VGG-16, so one image
// runs in milliseconds instead of seconds. Preparation and post-processing are the SSD class's own (they depend
// only on the config); only the network differs.
import type { Tensor } from '../../src/graph/index.js';
import { InferenceRunner } from '../../src/graph/index.js';
import { priorsPerLocation } from '../../src/boxes/priors.js';
import type { ModelConfig } from '../../src/nn/config.js';
import { modelConfig } from '../../src/nn/models/index.js';
import { SSDHead } from '../../src/nn/heads.js';
import { Conv2d, initWeights, maxPool, type BuildContext, type Weights } from '../../src/nn/layers.js';
import { SSD, type DetectOptions, type Detection, type ImageInput, type PreparedImage } from '../../src/nn/model.js';
import type { FeatureMapInfo } from '../../src/nn/heads.js';
import { SSDNetwork, type Backbone } from '../../src/nn/ssd.js';

/** 300x300 input -> maps of 38, 19, 10, 5, 3 and 1 cells, 16 channels each. */
class TinyBackbone implements Backbone {
  readonly maps: readonly FeatureMapInfo[] = ['m38', 'm19', 'm10', 'm5', 'm3', 'm1'].map((name) => ({ name, channels: 16 }));
  private readonly stem = [new Conv2d('tiny.c1', 3, 8, { kernel: 3, stride: 2, pad: 1 }), new Conv2d('tiny.c2', 8, 16, { kernel: 3, stride: 2, pad: 1 })];
  private readonly down = [
    new Conv2d('tiny.d19', 16, 16, { kernel: 3, stride: 2, pad: 1 }),
    new Conv2d('tiny.d10', 16, 16, { kernel: 3, stride: 2, pad: 1 }),
    new Conv2d('tiny.d5', 16, 16, { kernel: 3, stride: 2, pad: 1 }),
    new Conv2d('tiny.d3', 16, 16, { kernel: 3 }),
    new Conv2d('tiny.d1', 16, 16, { kernel: 3 }),
  ];

  parameters() {
    return [...this.stem, ...this.down].flatMap((c) => c.parameters());
  }

  build(ctx: BuildContext, images: Tensor): Tensor[] {
    let x = images;
    for (const c of this.stem) x = ctx.g.relu(c.build(ctx, x));
    x = maxPool(ctx, x, { kernel: 2, stride: 2, ceilMode: true }); // 75 -> 38
    const out = [x];
    for (const c of this.down) out.push((x = ctx.g.relu(c.build(ctx, x))));
    return out;
  }
}

/** What detect, export and serve need of a model; an `SSD` and a {@link TinyDetector} both have it. */
export class TinyDetector {
  readonly config: ModelConfig;
  readonly network: SSDNetwork;
  readonly weights: Weights;
  /** Batch sizes the network has run, in order (tests of batching read it). */
  readonly batches: number[] = [];
  private readonly helper: SSD;
  private runner: Promise<InferenceRunner> | undefined;

  constructor(seed = 3) {
    this.config = modelConfig('ssd300');
    const backbone = new TinyBackbone();
    const per = priorsPerLocation(this.config.priors);
    const head = new SSDHead(backbone.maps.map((m, i) => ({ name: m.name, channels: m.channels, priorsPerPosition: per[i]! })), this.config.classNames.length);
    this.network = new SSDNetwork({ architecture: 'tiny-test', backbone, head, priors: this.config.priors, inputSize: this.config.inputSize });
    const w = initWeights(this.network.parameters(), seed);
    // Sharpen the class logits so that random weights give confident (and so testable) detections.
    for (const [k, v] of w) if (k.includes('.cl_') && k.endsWith('.weight')) for (let i = 0; i < v.length; i++) v[i] *= 2;
    this.weights = w;
    // The SSD class prepares images and post-processes outputs from the config alone; borrow that.
    this.helper = SSD.create(this.config, { weights: undefined, seed: 0 });
  }

  prepare(image: ImageInput): Promise<PreparedImage> {
    return this.helper.prepare(image);
  }

  async predict(images: Float32Array, batch: number): Promise<{ locs: Float32Array; scores: Float32Array }> {
    this.runner ??= InferenceRunner.create(this.network.forwardGraph(this.weights).graph, new Map(this.weights), { threads: 1 });
    this.batches.push(batch);
    const out = await (await this.runner).run({ images: { data: images, dims: [batch, 3, 300, 300], dtype: 'float32' } });
    return { locs: out.locs!.data as Float32Array, scores: out.scores!.data as Float32Array };
  }

  postprocess(locs: Float32Array, scores: Float32Array, width: number, height: number, options: DetectOptions = {}): Detection[] {
    return this.helper.postprocess(locs, scores, width, height, options);
  }

  async detect(image: ImageInput, options: DetectOptions = {}): Promise<Detection[]> {
    const p = await this.prepare(image);
    const { locs, scores } = await this.predict(p.data, 1);
    return this.postprocess(locs, scores, p.width, p.height, options);
  }

  async dispose(): Promise<void> {
    const r = this.runner;
    this.runner = undefined;
    if (r) await (await r).release();
  }
}
