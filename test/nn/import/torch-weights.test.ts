// PyTorch weights into our parameter names, on the small files of scripts/make-torch-fixtures.py. Those files keep
// the real key names with channel counts shrunk by tiny(c) = max(2, c // 128); values are start + step * arange.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { manifest } from '../../fixtures/reference.js';
import {
  decimate,
  detectSource,
  importTorchWeights,
  loadPretrainedBase,
  ssd300ParameterShapes,
  TORCHVISION_COCO_CLASSES,
} from '../../../src/nn/import/index.js';
import { loadTorchFile } from '../../../src/io/torch/load.js';
import type { TorchTensor } from '../../../src/io/torch/tensor.js';
import { readSafetensors } from '../../../src/io/safetensors.js';
import { generatePriors } from '../../../src/boxes/priors.js';
import { writeImported } from '../../../src/nn/import/index.js';
import { ssd300 } from '../../../src/nn/models/ssd300.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'torch');
const fixture = (name: string) => join(dir, name);
const tiny = (c: number) => Math.max(2, c >> 7);

function close(actual: number, expected: number, what: string, rel = 2e-6): void {
  assert.ok(Math.abs(actual - expected) <= rel * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
}

test('ssd300ParameterShapes(21) is the reference state_dict: 71 names and shapes in order', () => {
  const reference = manifest.state_dict as Array<{ key: string; shape: number[] }>;
  const ours = ssd300ParameterShapes(21);
  assert.equal(ours.length, 71);
  assert.deepEqual(
    ours.map((p) => [p.name, p.shape]),
    reference.map((r) => [r.key, r.shape]),
  );
});

test('decimate keeps every m-th index per dimension, as the tutorial does', () => {
  // values[i] = i over shape (8, 2, 7, 7); steps [4, -, 3, 3] keep filters 0, 4 and taps 0, 3, 6.
  const values = Float32Array.from({ length: 8 * 2 * 7 * 7 }, (_, i) => i);
  const d = decimate(values, [8, 2, 7, 7], [4, null, 3, 3]);
  assert.deepEqual(d.shape, [2, 2, 3, 3]);
  // out[1][1][2][0] = in[4][1][6][0] = 4*98 + 49 + 6*7 + 0
  assert.equal(d.data[((1 * 2 + 1) * 3 + 2) * 3 + 0], 483);
  assert.deepEqual([...d.data.slice(0, 9)], [0, 3, 6, 21, 24, 27, 42, 45, 48]);
  // fc7-style: (8, 8, 1, 1) every 4th in and out.
  const fc7 = decimate(Float32Array.from({ length: 64 }, (_, i) => i), [8, 8, 1, 1], [4, 4, null, null]);
  assert.deepEqual(fc7.shape, [2, 2, 1, 1]);
  assert.deepEqual([...fc7.data], [0, 4, 32, 36]);
  // Real sizes: a dimension of 4096 with step 4 keeps 1024; 7 with step 3 keeps 3.
  assert.deepEqual(decimate(new Float32Array(4096), [4096], [4]).shape, [1024]);
});

test('tutorial checkpoint (legacy and zip) and the plain state_dicts import to the same 71 tensors', () => {
  const tutorial = importTorchWeights(fixture('tutorial_checkpoint_legacy.pth.tar'), { channels: tiny });
  assert.equal(tutorial.source, 'tutorial');
  assert.equal(tutorial.epoch, 12);
  assert.ok(tutorial.notes.some((n) => n.includes("'optimizer' (torch.optim.sgd.SGD) is not imported")));
  assert.equal(tutorial.weights.size, 71);
  assert.deepEqual([...tutorial.weights.keys()], ssd300ParameterShapes(3, tiny).map((p) => p.name));
  assert.deepEqual(tutorial.config.classNames, ['background', 'class1', 'class2']);
  assert.equal(tutorial.priorsName, 'ssd300');
  assert.deepEqual(tutorial.config.normalization, { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
  // Values: tensor i of the state_dict was filled with i + 0.001 * arange, then one SGD step with zero gradient
  // scaled it by (1 - lr * 5e-4): lr 1e-3 for weights, 2e-3 for biases.
  let i = 0;
  for (const [name, data] of tutorial.weights) {
    const decay = 1 - (name.endsWith('.bias') ? 2e-3 : 1e-3) * 5e-4;
    if (name === 'rescale_factors') close(data[0]!, 20 * decay, name);
    else {
      close(data[0]!, i * decay, `${name}[0]`);
      close(data[data.length - 1]!, (i + 0.001 * (data.length - 1)) * decay, `${name}[last]`);
    }
    i++;
  }
  for (const other of ['tutorial_checkpoint_zip.pth.tar', 'ssd300_state_dict_zip.pth', 'ssd300_state_dict_legacy.pth']) {
    const r = importTorchWeights(fixture(other), { channels: tiny });
    assert.equal(r.source, other.startsWith('tutorial') ? 'tutorial' : 'state-dict', other);
    for (const [name, data] of tutorial.weights) assert.deepEqual(r.weights.get(name), data, `${other}: ${name}`);
  }
});

test("torchvision's vgg16: convs copied, fc6/fc7 decimated into conv6/conv7, fc8 reported unused", () => {
  const r = importTorchWeights(fixture('vgg16_tiny.pth'), { channels: tiny });
  assert.equal(r.source, 'vgg16');
  assert.equal(r.weights.size, 30);
  assert.ok([...r.weights.keys()].every((k) => k.startsWith('base.')));
  assert.deepEqual(r.unused.map((u) => u.name), ['classifier.6.weight', 'classifier.6.bias']);
  // features.N.weight was filled with N + 0.01 * arange: conv1_1 is features.0, conv3_3 features.14, conv5_3 features.28.
  assert.equal(r.weights.get('base.conv1_1.weight')![0], 0);
  close(r.weights.get('base.conv3_3.weight')![1]!, 14.01, 'conv3_3');
  close(r.weights.get('base.conv5_3.weight')![0]!, 28, 'conv5_3');
  close(r.weights.get('base.conv5_3.bias')![1]!, -27.99, 'conv5_3 bias');
  // fc6: (32, 4*7*7) filled with 0.01 * arange -> conv6 (8, 4, 3, 3): conv6[o,c,i,j] = fc6[4o, c*49 + 3i*7 + 3j].
  assert.deepEqual(r.shapes.get('base.conv6.weight'), [8, 4, 3, 3]);
  const w6 = r.weights.get('base.conv6.weight')!;
  close(w6[((1 * 4 + 2) * 3 + 1) * 3 + 2]!, 9.09, 'conv6[1,2,1,2] = fc6[4, 98 + 21 + 6]'); // 0.01 * (4*196 + 98 + 21 + 6)
  close(w6[((7 * 4 + 3) * 3 + 2) * 3 + 2]!, 56.83, 'conv6[7,3,2,2] = fc6[28, 147 + 42 + 6]'); // 0.01 * (28*196 + 195)
  // fc6 bias = 100 + 0.01 * arange(32) -> every 4th.
  const b6 = r.weights.get('base.conv6.bias')!;
  for (let o = 0; o < 8; o++) close(b6[o]!, 100 + 0.04 * o, `conv6.bias[${o}]`);
  // fc7 (32, 32) = -1 + 0.01 * arange -> conv7 (8, 8, 1, 1): conv7[o, i] = fc7[4o, 4i].
  assert.deepEqual(r.shapes.get('base.conv7.weight'), [8, 8, 1, 1]);
  close(r.weights.get('base.conv7.weight')![1 * 8 + 2]!, 0.36, 'conv7[1,2] = fc7[4, 8]');
  close(r.weights.get('base.conv7.bias')![3]!, 200.12, 'conv7.bias[3] = fc7.bias[12]');
});

test("torchvision's ssd300_vgg16: every tensor lands on its SSD300 counterpart", () => {
  const file = fixture('ssd300_vgg16_tiny.pth');
  const r = importTorchWeights(file, { channels: tiny });
  assert.equal(r.source, 'torchvision-ssd300');
  assert.equal(r.weights.size, 71);
  const source = loadTorchFile(file).root as Map<string, TorchTensor>;
  // torchvision's layout (torchvision/models/detection/ssd.py, SSDFeatureExtractorVGG and SSDHead).
  const pairs: Array<[string, string]> = [];
  const conv = (from: string, to: string) => pairs.push([`${from}.weight`, `${to}.weight`], [`${from}.bias`, `${to}.bias`]);
  const base = ['conv1_1', 'conv1_2', 'conv2_1', 'conv2_2', 'conv3_1', 'conv3_2', 'conv3_3', 'conv4_1', 'conv4_2', 'conv4_3'];
  [0, 2, 5, 7, 10, 12, 14, 17, 19, 21].forEach((idx, i) => conv(`backbone.features.${idx}`, `base.${base[i]}`));
  conv('backbone.extra.0.1', 'base.conv5_1');
  conv('backbone.extra.0.3', 'base.conv5_2');
  conv('backbone.extra.0.5', 'base.conv5_3');
  conv('backbone.extra.0.7.1', 'base.conv6');
  conv('backbone.extra.0.7.3', 'base.conv7');
  for (let b = 1; b <= 4; b++) {
    conv(`backbone.extra.${b}.0`, `aux_convs.conv${b + 7}_1`);
    conv(`backbone.extra.${b}.2`, `aux_convs.conv${b + 7}_2`);
  }
  ['conv4_3', 'conv7', 'conv8_2', 'conv9_2', 'conv10_2', 'conv11_2'].forEach((m, k) => {
    conv(`head.regression_head.module_list.${k}`, `pred_convs.loc_${m}`);
    conv(`head.classification_head.module_list.${k}`, `pred_convs.cl_${m}`);
  });
  assert.equal(pairs.length, 70);
  for (const [from, to] of pairs) assert.deepEqual(r.weights.get(to), source.get(from)!.data, `${from} -> ${to}`);
  // scale_weight (4,) becomes rescale_factors (1, 4, 1, 1).
  assert.deepEqual(r.shapes.get('rescale_factors'), [1, 4, 1, 1]);
  assert.deepEqual([...r.weights.get('rescale_factors')!], [20, 20, 20, 20]);

  // Its config: torchvision's normalisation (x*255 - [123, 117, 104]) and priors.
  assert.equal(r.priorsName, 'torchvision-ssd300');
  r.config.normalization.mean.forEach((m, c) => close(m * 255, [123, 117, 104][c]!, 'mean * 255', 1e-4));
  r.config.normalization.std.forEach((s) => close(s, 1 / 255, 'std'));
  assert.deepEqual(r.postprocess, { minScore: 0.01, maxOverlap: 0.45, topK: 200 });
});

test("torchvision's priors: the config reproduces DefaultBoxGenerator's boxes", () => {
  const r = importTorchWeights(fixture('ssd300_vgg16_tiny.pth'), { channels: tiny });
  const sample = JSON.parse(readFileSync(fixture('torchvision_priors_sample.json'), 'utf8')) as { count: number; indices: number[]; cxcywh: number[][] };
  const priors = generatePriors(r.config.priors);
  assert.equal(priors.length / 4, sample.count);
  let compared = 0;
  sample.indices.forEach((i, row) => {
    const want = sample.cxcywh[row]!;
    // torchvision does not clamp centres (the 10x10 map's last row and column sit at 1.0133): clipCenters: false.
    for (let c = 0; c < 4; c++) close(priors[4 * i + c]!, want[c]!, `prior ${i}[${c}]`, 1e-6);
    compared++;
  });
  assert.equal(compared, sample.indices.length);
  assert.equal(r.config.priors.clipCenters, false);
});

test('full-size torchvision ssd300_vgg16: 91 COCO classes, real shapes, written as a model file', () => {
  const r = importTorchWeights(fixture('ssd300_vgg16_full_deflated.pth'));
  assert.equal(r.config.classNames.length, 91);
  assert.deepEqual(r.config.classNames, [...TORCHVISION_COCO_CLASSES]);
  assert.equal(r.config.classNames[1], 'person');
  assert.equal(r.config.classNames[12], 'N/A');
  assert.deepEqual(r.shapes.get('pred_convs.cl_conv7.weight'), [6 * 91, 1024, 3, 3]);
  // Tensor k of the file (deflated zip entries, real shapes) is filled with k / 100.
  const keys = [...(loadTorchFile(fixture('ssd300_vgg16_tiny.pth')).root as Map<string, TorchTensor>).keys()];
  assert.equal(keys[27], 'backbone.extra.0.7.1.weight');
  const conv6 = r.weights.get('base.conv6.weight')!;
  assert.equal(conv6.length, 1024 * 512 * 9);
  assert.ok(conv6.every((v) => v === Math.fround(27 / 100)));
  assert.ok(r.weights.get('pred_convs.loc_conv11_2.bias')!.every((v) => v === Math.fround(keys.indexOf('head.regression_head.module_list.5.bias') / 100)));
  const dir = mkdtempSync(join(tmpdir(), 'ssd-import-'));
  try {
    const out = join(dir, 'coco.safetensors');
    writeImported(r, out);
    const file = readSafetensors(out);
    assert.equal(file.tensors.size, 71);
    assert.deepEqual(file.tensors.get('base.conv6.weight')!.data, r.weights.get('base.conv6.weight'));
    const config = JSON.parse(file.metadata['ssd.config']!);
    assert.equal(config.classNames.length, 91);
    assert.deepEqual(config.priors.scales, [0.07, 0.15, 0.33, 0.51, 0.69, 0.87]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the vgg16 import writes a base-only file that loadPretrainedBase reads back', () => {
  const r = importTorchWeights(fixture('vgg16_tiny.pth'), { channels: tiny });
  const dir = mkdtempSync(join(tmpdir(), 'ssd-import-'));
  try {
    const out = join(dir, 'vgg16-base.safetensors');
    writeImported(r, out, { source: 'vgg16_tiny.pth' });
    const file = readSafetensors(out);
    assert.equal(file.metadata['ssd.kind'], 'ssd300-vgg16-base');
    assert.equal(file.metadata['ssd.source'], 'vgg16_tiny.pth');
    const base = loadPretrainedBase(out, ssd300(21, { channels: tiny }));
    assert.equal(base.size, 30);
    for (const [k, v] of r.weights) assert.deepEqual(base.get(k), v, k);
    // Straight from the .pth as well.
    const direct = loadPretrainedBase(fixture('vgg16_tiny.pth'), ssd300(21, { channels: tiny }));
    assert.deepEqual(direct.get('base.conv6.weight'), r.weights.get('base.conv6.weight'));
    // A full-size network's base is not in a tiny file, and the error says which tensors.
    assert.throws(() => loadPretrainedBase(out, ssd300(21)), /pretrained base '.*vgg16-base\.safetensors': 'base\.conv1_1\.weight' has shape \[2,3,3,3\], needs \[64,3,3,3\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mismatches are reported by name, nothing is skipped silently', () => {
  // The tiny file against the real SSD300 shapes: every conv mismatches, each named.
  assert.throws(() => importTorchWeights(fixture('ssd300_state_dict_zip.pth')), (e: Error) => {
    assert.match(e.message, /as state-dict: \d+ problems: /);
    assert.match(e.message, /'base\.conv1_1\.weight' has shape \[2,3,3,3\], SSD300 with 3 classes needs \[64,3,3,3\]/);
    return true;
  });
  // The wrong --from: every tensor is unexpected and every parameter missing.
  assert.throws(() => importTorchWeights(fixture('ssd300_state_dict_zip.pth'), { from: 'torchvision-ssd300', channels: tiny }), (e: Error) => {
    assert.match(e.message, /unexpected tensor 'rescale_factors' \[1,4,1,1\] \(not part of torchvision's ssd300_vgg16\)/);
    assert.match(e.message, /missing parameter 'base\.conv1_1\.weight'/);
    return true;
  });
  assert.throws(() => importTorchWeights(fixture('ssd300_vgg16_tiny.pth'), { from: 'vgg16', channels: tiny }), /unexpected tensor 'backbone\.scale_weight'/);
  assert.throws(() => importTorchWeights(fixture('unknown_state_dict.pth')), /cannot tell what kind of weights these are \(first keys: encoder\.weight, encoder\.bias\); pass --from/);
  assert.throws(() => importTorchWeights(fixture('tensors_zip.pth')), /neither a state_dict nor a checkpoint/);
  assert.throws(() => importTorchWeights(fixture('ssd300_state_dict_zip.pth'), { channels: tiny, classNames: ['cat'] }), /1 class names given, the head predicts 2 classes/);
  // Hostile files stop at the unpickler.
  assert.throws(() => importTorchWeights(fixture('hostile_os_system.pth')), /refusing global 'posix\.system'/);
});

test('detectSource tells the five kinds apart by their keys', () => {
  assert.equal(detectSource(['features.0.0.weight', 'features.0.1.running_var', 'features.1.conv.0.0.weight', 'classifier.1.weight'], false), 'mobilenet-v2');
  assert.equal(detectSource(['backbone.scale_weight', 'backbone.features.0.weight'], false), 'torchvision-ssd300');
  assert.equal(detectSource(['features.0.weight', 'classifier.0.weight'], false), 'vgg16');
  assert.equal(detectSource(['rescale_factors', 'base.conv1_1.weight'], false), 'state-dict');
  assert.equal(detectSource(['rescale_factors', 'base.conv1_1.weight'], true), 'tutorial');
  assert.equal(detectSource(['encoder.weight'], false), undefined);
});
