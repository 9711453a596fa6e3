// torchvision's ImageNet MobileNetV2 as SSDLite's pretrained base, on files PyTorch saved: scripts/make-mobilenet-
// fixtures.py built torchvision's own mobilenet_v2 at width 0.1 with random weights and measured batch-norm
// statistics, saved its state_dict in the zip and the legacy format, and computed what its `features` give on a
// fixed input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateShapesDataset } from '../../../src/data/synthetic.js';
import { Graph, InferenceRunner } from '../../../src/graph/index.js';
import { readSafetensors } from '../../../src/io/safetensors.js';
import { loadTorchFile } from '../../../src/io/torch/load.js';
import { TorchTensor } from '../../../src/io/torch/tensor.js';
import { convertMobileNetV2, importTorchWeights, loadPretrainedBase, mobilenetV2BaseShapes, readTorchTensors, writeImported } from '../../../src/nn/import/index.js';
import { BuildContext, initWeights } from '../../../src/nn/layers.js';
import { SSD } from '../../../src/nn/model.js';
import { modelConfig } from '../../../src/nn/models/index.js';
import { ssd300 } from '../../../src/nn/models/ssd300.js';
import { ssdliteMobileNetV2 } from '../../../src/nn/models/ssdlite.js';
import { ssdTiny } from '../../../src/nn/models/ssd-tiny.js';
import { resolveOptions } from '../../../src/train/options.js';
import type { TrainHook } from '../../../src/train/hooks.js';
import { train } from '../../../src/train/trainer.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'torch');
const fixture = (name: string) => join(dir, name);
const ZIP = fixture('mobilenet_v2_w0.1.pth');
const LEGACY = fixture('mobilenet_v2_w0.1_legacy.pth');
const WIDTH = 0.1;

/** The state_dict as PyTorch saved it, by torchvision's names. */
function stateDict(file: string): Map<string, TorchTensor> {
  const { root } = loadTorchFile(file);
  assert.ok(root instanceof Map);
  return root as Map<string, TorchTensor>;
}

test('both formats: every features tensor lands at backbone.features.* with its values, running statistics included', () => {
  const expected = mobilenetV2BaseShapes(WIDTH);
  const source = stateDict(ZIP);
  for (const file of [ZIP, LEGACY]) {
    const r = importTorchWeights(file, { width: WIDTH });
    assert.equal(r.source, 'mobilenet-v2');
    assert.equal(r.config.architecture, 'ssdlite320-mobilenetv2');
    assert.deepEqual(r.config.normalization, { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    // The network's own list, in its order: 52 convs, 52 batch norms x (weight, bias, running_mean, running_var).
    assert.deepEqual([...r.weights.keys()], expected.map((p) => p.name));
    assert.equal(r.weights.size, 52 + 52 * 4);
    assert.equal(expected.filter((p) => p.buffer).length, 104);
    for (const p of expected) {
      const t = source.get(p.name.slice('backbone.'.length));
      assert.ok(t, `${p.name} comes from the file`);
      assert.deepEqual(t.shape, p.shape, p.name);
      assert.deepEqual(r.weights.get(p.name), t.data, p.name);
    }
    // Every tensor of the file is mapped or listed as not imported, with the reason.
    const unused = r.unused.map((u) => u.name);
    assert.equal(unused.filter((n) => n.endsWith('.num_batches_tracked')).length, 52);
    assert.deepEqual(unused.filter((n) => n.startsWith('classifier.')), ['classifier.1.weight', 'classifier.1.bias']);
    assert.ok(r.unused.find((u) => u.name === 'classifier.1.weight')!.reason.includes('ImageNet classifier'));
    assert.equal(r.weights.size + r.unused.length, source.size);
  }
});

test("SSDLite's backbone on the imported weights computes torchvision's features forward (both maps SSDLite takes)", async () => {
  const net = ssdliteMobileNetV2(3, { width: WIDTH, inputSize: 64 });
  const weights = initWeights(net.parameters(), 1);
  for (const [k, v] of loadPretrainedBase(ZIP, net)) weights.set(k, v);
  const ref = stateDict(fixture('mobilenet_v2_w0.1_forward.pth'));
  const input = ref.get('input')!;
  const g = new Graph('features');
  const images = g.input('images', 'float32', [...input.shape]);
  const ctx = new BuildContext(g, weights);
  const [c4, last] = net.backbone.build(ctx, images); // batch norm in 'eval' mode: the running statistics
  g.output(c4!, 'c4_expansion');
  g.output(last!, 'features');
  const runner = await InferenceRunner.create(g, new Map(g.parameters.map((p) => [p.name, weights.get(p.name)!])), { threads: 1 });
  try {
    const out = await runner.run({ images: { data: input.data as Float32Array, dims: [...input.shape], dtype: 'float32' } });
    for (const name of ['c4_expansion', 'features']) {
      const want = ref.get(name)!;
      assert.deepEqual(out[name]!.dims, want.shape, name);
      const a = out[name]!.data as Float32Array, b = want.data as Float32Array;
      let worst = 0, scale = 0;
      for (let i = 0; i < b.length; i++) {
        worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
        scale = Math.max(scale, Math.abs(b[i]!));
      }
      // The fixture script measured that batch norm's epsilon alone (1e-3 instead of 1e-5) moves `features` by 3.0.
      assert.ok(worst <= 1e-4 * Math.max(1, scale), `${name}: max |diff| ${worst} (largest value ${scale})`);
    }
  } finally {
    await runner.release();
  }
});

test('wrong files are refused, naming the tensor or saying which file the model takes', () => {
  const full = ssdliteMobileNetV2(3);
  // Width 0.1 weights for a width-1 network: the first tensor that differs, by torchvision's name.
  assert.throws(() => loadPretrainedBase(ZIP, full), /pretrained base '.*mobilenet_v2_w0\.1\.pth' \(torchvision's mobilenet_v2 state_dict\): 'features\.0\.0\.weight' has shape \[8,3,3,3\], ssdlite320-mobilenetv2's backbone needs \[32,3,3,3\]/);
  assert.throws(() => importTorchWeights(ZIP), /import '.*' as mobilenet-v2: \d+ problems: 'features\.0\.0\.weight' has shape \[8,3,3,3\], SSDLite320-MobileNetV2's backbone at width 1 needs \[32,3,3,3\]/);
  // Another model's ImageNet file, both ways round.
  assert.throws(() => loadPretrainedBase(fixture('vgg16_tiny.pth'), full), /is ImageNet VGG-16 \(torchvision's vgg16\); ssdlite320-mobilenetv2 starts from ImageNet MobileNetV2 \(torchvision's mobilenet_v2\): torch\.save\(torchvision\.models\.mobilenet_v2\(weights='IMAGENET1K_V1'\)\.state_dict\(\), 'mobilenet_v2\.pth'\)/);
  assert.throws(() => loadPretrainedBase(ZIP, ssd300(21)), /is ImageNet MobileNetV2 \(torchvision's mobilenet_v2\); ssd300 starts from ImageNet VGG-16 \(torchvision's vgg16\): torch\.save\(torchvision\.models\.vgg16/);
  assert.throws(() => loadPretrainedBase(fixture('ssd300_state_dict_zip.pth'), full), /is an SSD300 state_dict, a whole detector/);
  assert.throws(() => loadPretrainedBase(ZIP, ssdTiny(3)), /ssd-tiny has no pretrained base \(ssd300 and ssd512 take ImageNet VGG-16 \(torchvision's vgg16\); ssdlite320-mobilenetv2 takes ImageNet MobileNetV2/);
  // A state_dict without its running statistics (model.named_parameters() saved instead), and one with a tensor
  // torchvision's mobilenet_v2 does not have: each named.
  const { tensors } = readTorchTensors(ZIP);
  const parametersOnly = new Map([...tensors].filter(([k]) => !k.includes('running_')));
  const r = convertMobileNetV2(parametersOnly, mobilenetV2BaseShapes(WIDTH), 'the backbone');
  assert.equal(r.problems.length, 104);
  assert.equal(r.problems[0], "missing tensor 'features.0.1.running_mean' [8] (the backbone's 'backbone.features.0.1.running_mean', a batch-norm running statistic)");
  const extra = new Map(tensors);
  extra.set('features.19.weight', tensors.get('features.18.0.weight')!);
  assert.deepEqual(convertMobileNetV2(extra, mobilenetV2BaseShapes(WIDTH), 'the backbone').problems, [
    "unexpected tensor 'features.19.weight' [1280,32,1,1] (the backbone has no 'backbone.features.19.weight'; not part of torchvision's mobilenet_v2 at this width)",
  ]);
  // train() says which models take a base, before any data is read.
  assert.throws(() => resolveOptions({ data: 'x', out: 'y', model: 'ssd-tiny', pretrainedBase: ZIP, evalEvery: 0 }), /train: ssd-tiny has no pretrained base \(ssd300 and ssd512 take ImageNet VGG-16/);
  assert.equal(resolveOptions({ data: 'x', out: 'y', model: 'ssdlite320-mobilenetv2', pretrainedBase: ZIP, evalEvery: 0 }).pretrainedBase, ZIP);
});

test('ssd import writes a base-only file that loadPretrainedBase reads back; an SSDLite model file serves too', async () => {
  const work = mkdtempSync(join(tmpdir(), 'ssd-mobilenet-'));
  try {
    const net = ssdliteMobileNetV2(3, { width: WIDTH, inputSize: 64 });
    const direct = loadPretrainedBase(ZIP, net);
    const out = join(work, 'mobilenet-base.safetensors');
    writeImported(importTorchWeights(LEGACY, { width: WIDTH }), out, { source: 'mobilenet_v2_w0.1_legacy.pth' });
    const file = readSafetensors(out);
    assert.equal(file.metadata['ssd.kind'], 'ssdlite320-mobilenetv2-base');
    assert.equal(file.tensors.size, 260);
    const fromFile = loadPretrainedBase(out, net);
    assert.deepEqual([...fromFile.keys()], [...direct.keys()]);
    for (const [k, v] of direct) assert.deepEqual(fromFile.get(k), v, k);
    assert.throws(() => loadPretrainedBase(out, ssd300(21)), /is a base-only file of ImageNet MobileNetV2 \(torchvision's mobilenet_v2\); ssd300 starts from ImageNet VGG-16/);
    // A whole SSDLite model file at the same width: its backbone.features tensors.
    const model = SSD.create(modelConfig('ssdlite320-mobilenetv2', ['a', 'b'], { width: WIDTH, inputSize: 64 }), { weights: new Map([...initWeights(net.parameters(), 2), ...direct]) });
    const modelFile = join(work, 'ssdlite.safetensors');
    model.save(modelFile);
    await model.dispose();
    for (const [k, v] of loadPretrainedBase(modelFile, net)) assert.deepEqual(v, direct.get(k), k);
    assert.throws(() => loadPretrainedBase(modelFile, ssd300(21)), /is a model file of ssdlite320-mobilenetv2, whose backbone is not ImageNet VGG-16/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('train() starts SSDLite from the .pth: the first step starts from the ImageNet backbone', async () => {
  const work = mkdtempSync(join(tmpdir(), 'ssd-mobilenet-train-'));
  try {
    const data = join(work, 'shapes');
    await generateShapesDataset(data, { images: 4, size: 64, seed: 3, splits: { train: 1, val: 0, test: 0 } });
    // The weights the session holds before its first step (batch-norm statistics apart, which the run re-estimates).
    let start: Map<string, Float32Array> | undefined;
    const seeStart: TrainHook = { beforeRun: (run) => void (start = run.session.parameters()) };
    await train({ data, split: 'train', out: join(work, 'run'), model: 'ssdlite320-mobilenetv2', width: WIDTH, inputSize: 64, pretrainedBase: LEGACY, iterations: 1, batch: 2, threads: 1, workers: 0, progress: false, report: false }, [seeStart]);
    assert.ok(start);
    const source = stateDict(ZIP);
    const trained = mobilenetV2BaseShapes(WIDTH).filter((p) => !p.buffer);
    assert.equal(trained.length, 52 + 52 * 2);
    for (const p of trained) assert.deepEqual(start.get(p.name), source.get(p.name.slice('backbone.'.length))!.data, p.name);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
