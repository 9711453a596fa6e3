// The model family's architectures: prior counts, feature map sizes as the graphs compute them, output shapes
// (inferred at build time for every model; run on ONNX Runtime for the small ones), priors against the
// reference generators' formulas, and MobileNetV2 against torchvision's parameter count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generatePriors, priorCount, priorsPerLocation } from '../../../src/boxes/priors.js';
import { Graph, InferenceRunner } from '../../../src/graph/index.js';
import { BuildContext, initWeights } from '../../../src/nn/layers.js';
import { NormState } from '../../../src/nn/batch-norm.js';
import { modelStats } from '../../../src/nn/stats.js';
import { MobileNetV2Features } from '../../../src/nn/models/mobilenetv2.js';
import { MODELS, modelConfig, buildNetwork } from '../../../src/nn/models/index.js';
import { SSD512_PRIORS, ssd512 } from '../../../src/nn/models/ssd512.js';
import { ssdliteMobileNetV2, ssdlitePriors } from '../../../src/nn/models/ssdlite.js';
import { ssdTiny } from '../../../src/nn/models/ssd-tiny.js';
import type { SSDNetwork } from '../../../src/nn/ssd.js';
import { VGG16Base } from '../../../src/nn/models/vgg.js';

const K = 6; // 5 object classes + background

/** Static shapes of the backbone's maps and of the network outputs, from the graph builder's shape inference. */
function shapes(net: SSDNetwork, batch = 2): { maps: number[][]; locs: readonly (number | string)[]; scores: readonly (number | string)[] } {
  const weights = new Map(net.parameters().map((s) => [s.name, new Float32Array(s.shape.reduce((a, b) => a * b, 1))]));
  const g = new Graph('shapes');
  const ctx = new BuildContext(g, weights);
  const images = g.input('images', 'float32', [batch, 3, net.inputSize.height, net.inputSize.width]);
  const features = net.backbone.build(ctx, images);
  const maps = features.map((t) => t.shape as number[]);
  const { locs, scores } = net.head.build(ctx, features);
  return { maps, locs: locs.shape, scores: scores.shape };
}

const expected: Array<{ name: string; net: () => SSDNetwork; priors: number; maps: number[] }> = [
  { name: 'ssd512', net: () => ssd512(K), priors: 24564, maps: [64, 32, 16, 8, 4, 2, 1] },
  { name: 'ssdlite320-mobilenetv2', net: () => ssdliteMobileNetV2(K), priors: 3234, maps: [20, 10, 5, 3, 2, 1] },
  { name: 'ssd-tiny', net: () => ssdTiny(K), priors: 3088, maps: [24, 12, 6, 4] },
  { name: 'ssd-tiny at 160 px', net: () => ssdTiny(K, { inputSize: 160 }), priors: 2136, maps: [20, 10, 5, 3] },
  { name: 'ssd-tiny at 128 px', net: () => ssdTiny(K, { inputSize: 128 }), priors: 1360, maps: [16, 8, 4, 2] },
];

for (const e of expected) {
  test(`${e.name}: ${e.priors} priors, maps ${e.maps.join(', ')}, outputs (N, P, 4) and (N, P, K)`, () => {
    const net = e.net();
    assert.equal(net.priorCount, e.priors);
    assert.equal(generatePriors(net.priors).length, 4 * e.priors);
    const s = shapes(net);
    // The maps the graph computes are the prior config's maps, with the channels the head expects.
    assert.deepEqual(s.maps.map((m) => m[2]), e.maps);
    assert.deepEqual(s.maps.map((m) => m[3]), e.maps);
    assert.deepEqual(s.maps.map((m) => m[1]), net.head.maps.map((m) => m.channels));
    assert.deepEqual(s.locs, [2, e.priors, 4]);
    assert.deepEqual(s.scores, [2, e.priors, K]);
  });
}

test('every registered model builds from its config with the prior count its priors make', () => {
  for (const name of MODELS.keys()) {
    const config = modelConfig(name, ['a', 'b']);
    const net = buildNetwork(config);
    assert.equal(net.priorCount, priorCount(config.priors), name);
    assert.equal(net.nClasses, 3, name);
    assert.deepEqual(net.head.maps.map((m) => m.priorsPerPosition), priorsPerLocation(config.priors), name);
  }
});

test('ssd-tiny and a narrow ssdlite run on ONNX Runtime with the shapes the builder inferred', async () => {
  for (const net of [ssdTiny(K, { inputSize: 96 }), ssdliteMobileNetV2(K, { width: 0.25, inputSize: 128 })]) {
    const weights = initWeights(net.parameters(), 3);
    const { graph } = net.forwardGraph(weights);
    const runner = await InferenceRunner.create(graph, new Map([...weights].filter(([k]) => graph.parameters.some((p) => p.name === k))), { threads: 1 });
    const n = 2, { width, height } = net.inputSize;
    const images = new Float32Array(n * 3 * width * height).map((_, i) => Math.sin(i * 0.37));
    const out = await runner.run({ images: { data: images, dims: [n, 3, height, width], dtype: 'float32' } });
    await runner.release();
    assert.deepEqual(out.locs!.dims, [n, net.priorCount, 4]);
    assert.deepEqual(out.scores!.dims, [n, net.priorCount, K]);
    assert.ok(out.scores!.data.every((v) => Number.isFinite(v as number)));
  }
});

/** ssd.pytorch's PriorBox (min/max sizes in pixels, steps in pixels), written out independently. */
function ssdPytorchPriors(size: number, maps: number[], steps: number[], minSizes: number[], maxSizes: number[], ratios: number[][]): Float64Array {
  const out: number[] = [];
  maps.forEach((f, k) => {
    for (let i = 0; i < f; i++)
      for (let j = 0; j < f; j++) {
        const fk = size / steps[k]!;
        const cx = (j + 0.5) / fk, cy = (i + 0.5) / fk;
        const s = minSizes[k]! / size;
        out.push(cx, cy, s, s);
        const s2 = Math.sqrt(s * (maxSizes[k]! / size));
        out.push(cx, cy, s2, s2);
        for (const r of ratios[k]!) out.push(cx, cy, s * Math.sqrt(r), s / Math.sqrt(r), cx, cy, s / Math.sqrt(r), s * Math.sqrt(r));
      }
  });
  return Float64Array.from(out, (v) => Math.min(1, Math.max(0, v)));
}

test('SSD512 priors equal ssd.pytorch PriorBox for the SSD512 configuration (24564 boxes)', () => {
  const mins = [35.84, 76.8, 153.6, 230.4, 307.2, 384.0, 460.8];
  const maxs = [76.8, 153.6, 230.4, 307.2, 384.0, 460.8, 537.65];
  const ref = ssdPytorchPriors(512, [64, 32, 16, 8, 4, 2, 1], [8, 16, 32, 64, 128, 256, 512], mins, maxs, [[2], [2, 3], [2, 3], [2, 3], [2, 3], [2], [2]]);
  const ours = generatePriors(SSD512_PRIORS);
  assert.equal(ours.length, ref.length);
  assert.equal(ref.length / 4, 24564);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - ref[i]!));
  assert.ok(worst < 1e-6, `largest difference ${worst}`);
});

test('SSDLite priors equal torchvision DefaultBoxGenerator([[2, 3]] * 6, 0.2, 0.95) at 320 px', () => {
  const m = 6;
  const scales = [...Array.from({ length: m }, (_, k) => 0.2 + ((0.95 - 0.2) * k) / (m - 1)), 1];
  const maps = [20, 10, 5, 3, 2, 1];
  const ref: number[] = [];
  maps.forEach((f, k) => {
    const sk = scales[k]!, sk1 = Math.sqrt(sk * scales[k + 1]!);
    const wh: Array<[number, number]> = [[sk, sk], [sk1, sk1]];
    for (const r of [2, 3]) wh.push([sk * Math.sqrt(r), sk / Math.sqrt(r)], [sk / Math.sqrt(r), sk * Math.sqrt(r)]);
    for (let i = 0; i < f; i++) for (let j = 0; j < f; j++) for (const [w, h] of wh) ref.push((j + 0.5) / f, (i + 0.5) / f, Math.min(1, w), Math.min(1, h));
  });
  const ours = generatePriors(ssdlitePriors(320));
  assert.equal(ours.length, ref.length);
  assert.equal(ref.length / 4, 3234);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - ref[i]!));
  assert.ok(worst < 1e-6, `largest difference ${worst}`);
});

test('MobileNetV2 features: torchvision parameter count, names, residual blocks, C4 split', () => {
  const f = new MobileNetV2Features(new NormState(), 1, 'features');
  const trainable = f.parameters().filter((p) => !p.buffer);
  // torchvision.models.mobilenet_v2().features: sum(p.numel() for p in parameters()) = 2,223,872.
  assert.equal(trainable.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0), 2_223_872);
  assert.equal(trainable[0]!.name, 'features.0.0.weight');
  assert.equal(trainable.at(-1)!.name, 'features.18.1.bias');
  assert.ok(f.parameters().some((p) => p.name === 'features.1.conv.1.weight')); // t = 1: dw, project, BN
  assert.ok(f.parameters().some((p) => p.name === 'features.2.conv.3.running_var')); // t = 6: expand, dw, project, BN
  // Residual where stride 1 and channels equal: the n - 1 repeats of each stage, 0+1+2+3+2+2+0.
  assert.equal(f.blocks.filter((b) => b.residual).length, 10);
  for (const b of f.blocks) assert.equal(b.residual, b.stride === 1 && b.inChannels === b.outChannels);
  assert.equal(f.c4Index, 13); // features.14, the first 160-channel block
  assert.equal(f.blocks[f.c4Index]!.hidden, 576);
  // The width multiplier scales channels to multiples of 8 and keeps the 1280-channel last layer.
  const half = new MobileNetV2Features(new NormState(), 0.5);
  assert.equal(half.outChannels, 1280);
  assert.ok(half.blocks.every((b) => b.outChannels % 8 === 0));
  assert.equal(half.blocks[0]!.outChannels, 8);
});

test('SSD512 at width 1 has the VGG-16 base of SSD300 (names and shapes)', () => {
  const ours = ssd512(21).backbone.parameters().filter((p) => p.name.startsWith('base.'));
  const vgg = new VGG16Base('base').parameters();
  assert.deepEqual(ours.map((p) => [p.name, p.shape]), vgg.map((p) => [p.name, p.shape]));
});

test('model stats: parameters split from buffers, GMAC counted on the graph equals the layer formula', () => {
  const net = ssdTiny(K, { inputSize: 160 });
  const s = modelStats(net);
  const all = net.parameters().reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
  assert.equal(s.parameters + s.buffers, all);
  assert.equal(s.buffers, 2 * net.parameters().filter((p) => p.name.endsWith('.running_mean')).reduce((a, p) => a + p.shape[0]!, 0));
  // Sum over the convolutions of H_out * W_out * C_out * (C_in / groups) * k * k, with the map sides worked out
  // by hand for 160 px: 80, 40, 20, 20, 10, 10, 10, 5, 5, 3 and the head on 20, 10, 5, 3.
  const convs: Array<[number, number, number, number]> = [
    [80, 16, 3, 3], [40, 32, 16, 3], [20, 64, 32, 3], [20, 64, 64, 3], [10, 128, 64, 3], [10, 128, 128, 3],
    [10, 64, 128, 1], [5, 128, 64, 3], [5, 64, 128, 1], [3, 128, 64, 3],
  ];
  let macs = convs.reduce((a, [h, co, ci, k]) => a + h * h * co * ci * k * k, 0);
  const heads: Array<[number, number]> = [[20, 64], [10, 128], [5, 128], [3, 128]];
  for (const [h, c] of heads) macs += h * h * 4 * (4 + K) * c * 9;
  assert.ok(Math.abs(s.gmac * 1e9 - macs) < 1, `${s.gmac * 1e9} vs ${macs}`);
  // A training step: every product three times (forward, input and weight gradients) except the first layer's,
  // whose input is the image and needs no gradient.
  const train = 3 * macs - 80 * 80 * 16 * 3 * 9;
  assert.ok(Math.abs(s.trainGmac * 1e9 - train) < 1, `${s.trainGmac * 1e9} vs ${train}`);
  assert.equal(s.priors, 2136);
});
