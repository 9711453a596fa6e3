// Model files and the library entry: save/load round trips bit-identically, bad files are refused with the
// reason, and detect() prepares images the way the network expects (RGB order, normalisation, EXIF orientation)
// and reports boxes in the original image's pixels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { SSD } from '../../src/nn/model.js';
import { VOC_CLASS_NAMES } from '../../src/data/voc.js';
import { modelConfig } from '../../src/nn/models/index.js';
import { encodeSafetensors } from '../../src/io/safetensors.js';
import { refF32, refI32 } from '../fixtures/reference.js';
import { recipeImage, recipeWeights } from './recipe.js';

const dir = mkdtempSync(join(tmpdir(), 'ssd-nn-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const weights = recipeWeights();
const model = SSD.create(modelConfig('ssd300'), { weights, threads: 2 });
const cats = SSD.create(modelConfig('ssd300', ['cat', 'dog']), { seed: 3 });

/** Bit-identical float arrays. */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/** A deterministic RGB test picture: smooth gradients and a few blocks, width x height. */
function picture(width: number, height: number): Uint8Array {
  const px = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = 3 * (y * width + x);
      const block = ((x >> 5) + (y >> 5)) % 3;
      px[o] = (x * 255) / width;
      px[o + 1] = (y * 255) / height;
      px[o + 2] = block * 120;
    }
  }
  return px;
}

test('save and load give back the config, the weights and bit-identical outputs', async () => {
  const file = join(dir, 'model.safetensors');
  model.save(file);
  const loaded = await SSD.load(file, { threads: 2 });
  assert.deepEqual(loaded.config, model.config);
  assert.deepEqual([...loaded.weights.keys()], [...model.weights.keys()]);
  for (const [k, v] of model.weights) assert.ok(sameBits(loaded.weights.get(k)!, v), k);
  const image = recipeImage().data.subarray(0, 3 * 300 * 300);
  const a = await model.predict(image, 1);
  const b = await loaded.predict(image, 1);
  assert.ok(sameBits(b.locs, a.locs) && sameBits(b.scores, a.scores), 'outputs differ after the round trip');
  // The forward reference of image 0 holds for the loaded model as well (weights made by the recipe).
  const ref = refF32('forward_scores').data.subarray(0, 8732 * 21);
  let d = 0, n = 0;
  for (let i = 0; i < ref.length; i++) {
    d += (b.scores[i]! - ref[i]!) ** 2;
    n += ref[i]! ** 2;
  }
  assert.ok(Math.sqrt(d / n) < 1e-3, `relative L2 ${Math.sqrt(d / n)}`);
  await loaded.dispose();
});

test('a model for other classes round trips with its class names; half precision stores F16', async () => {
  const back = SSD.fromBytes(cats.toBytes());
  assert.deepEqual(back.classNames, ['background', 'cat', 'dog']);
  for (const [k, v] of cats.weights) assert.ok(sameBits(back.weights.get(k)!, v), k);
  const half = SSD.fromBytes(cats.toBytes({ half: true }));
  const w = cats.weights.get('base.conv1_1.weight')!;
  const h = half.weights.get('base.conv1_1.weight')!;
  let maxRel = 0;
  for (let i = 0; i < w.length; i++) maxRel = Math.max(maxRel, Math.abs(h[i]! - w[i]!) / Math.abs(w[i]! || 1));
  assert.ok(maxRel > 0 && maxRel < 1e-3, `F16 relative error ${maxRel}`);
});

test('SSD loads the other members of the family (ssd-tiny, with batch norm) and detects with them', async () => {
  const config = modelConfig('ssd-tiny', ['cat', 'dog']);
  const tiny = SSD.create(config, { seed: 5, threads: 2 });
  const back = SSD.fromBytes(tiny.toBytes(), { threads: 2 });
  assert.equal(back.config.architecture, 'ssd-tiny');
  assert.ok([...tiny.weights.keys()].some((k) => k.endsWith('.running_var')));
  const { width, height } = config.inputSize;
  const image = recipeImage().data.subarray(0, 3 * width * height);
  const a = await tiny.predict(image, 1);
  const b = await back.predict(image, 1);
  assert.equal(a.scores.length, back.network.priorCount * 3);
  assert.ok(sameBits(a.locs, b.locs) && sameBits(a.scores, b.scores));
  const dets = await back.detect({ data: picture(200, 100), width: 200, height: 100, channels: 3 }, { minScore: 0.3 });
  for (const d of dets) assert.ok(['cat', 'dog'].includes(d.label) && d.box.xmax <= 200 && d.box.ymax <= 100);
  await tiny.dispose();
  await back.dispose();
});

test('bad model files are refused, naming the file and what is wrong', () => {
  assert.throws(() => SSD.fromBytes(encodeSafetensors({ x: { shape: [1], data: new Float32Array(1) } }), { name: 'plain.safetensors' }), /plain\.safetensors: not an ssd-ts model file/);
  // Config says 21 classes, tensors are for 3.
  const tensors = new Map(cats.network.parameters().map((s) => [s.name, { shape: s.shape, data: cats.weights.get(s.name)! }]));
  const wrong = encodeSafetensors(tensors, { 'ssd.config': JSON.stringify(modelConfig('ssd300')) });
  assert.throws(() => SSD.fromBytes(wrong, { name: 'm.safetensors' }), /m\.safetensors: tensor 'pred_convs\.cl_conv4_3\.weight' has shape \[12,512,3,3\].*needs \[84,512,3,3\]/);
  tensors.delete('aux_convs.conv9_1.bias');
  const missing = encodeSafetensors(tensors, { 'ssd.config': JSON.stringify(cats.config) });
  assert.throws(() => SSD.fromBytes(missing), /'aux_convs\.conv9_1\.bias' \[128\] is missing/);
  const badConfig = encodeSafetensors({}, { 'ssd.config': JSON.stringify({ ...cats.config, architecture: 'yolo' }) });
  assert.throws(() => SSD.fromBytes(badConfig, { name: 'y.st' }), /y\.st: model config: unknown model 'yolo'; known: ssd300, /);
});

test('a model file whose config disagrees with its network, or whose weights are not finite, is refused at load', () => {
  const tiny = SSD.create(modelConfig('ssd-tiny', ['cat', 'dog'], { inputSize: 96 }), { seed: 2 });
  const tensors = new Map(tiny.network.parameters().map((s) => [s.name, { shape: s.shape, data: tiny.weights.get(s.name)!.slice() }]));
  const file = (config: object) => encodeSafetensors(tensors, { 'ssd.config': JSON.stringify(config) });
  // Priors laid on maps the network does not have: the prior count would not match the head's outputs.
  const maps = file({ ...tiny.config, priors: { ...tiny.config.priors, featureMapSizes: [24, 12, 6, 4] } });
  assert.throws(() => SSD.fromBytes(maps, { name: 'maps.st' }), /maps\.st: model config: ssd-tiny: the priors are laid on maps of \[24,12,6,4\], but at 96x96 the network's maps are \[12,6,3,1\]/);
  const ratios = file({ ...tiny.config, priors: { ...tiny.config.priors, aspectRatios: tiny.config.priors.aspectRatios.map(() => [1, 2, 0.5, 3]) } });
  // Five priors per position instead of four: the heads the config describes are not the file's.
  assert.throws(() => SSD.fromBytes(ratios, { name: 'ratios.st' }), /ratios\.st: tensor 'head\.loc_conv3_2\.weight' has shape \[16,64,3,3\], the ssd-tiny for 3 classes needs \[20,64,3,3\]/);
  const huge = file({ ...tiny.config, inputSize: { width: 100000, height: 100000 } });
  assert.throws(() => SSD.fromBytes(huge, { name: 'huge.st' }), /huge\.st: model config: inputSize must be \{width, height\} in whole pixels from 1 to 2048, got \{"width":100000,"height":100000\}/);
  tensors.get('head.cl_conv4_2.bias')!.data[3] = NaN;
  assert.throws(() => SSD.fromBytes(file(tiny.config), { name: 'nan.st' }), /nan\.st: tensor 'head\.cl_conv4_2\.bias' holds NaN at element 3/);
});

test('prepare: RGB planes normalised with the config mean/std, size and orientation of the original', async () => {
  const px = picture(300, 300);
  const png = await sharp(Buffer.from(px), { raw: { width: 300, height: 300, channels: 3 } }).png().toBuffer();
  const p = await model.prepare(png);
  assert.equal(p.width, 300);
  assert.equal(p.height, 300);
  const { mean, std } = model.config.normalization;
  const n = 300 * 300;
  let maxErr = 0;
  for (let c = 0; c < 3; c++) for (let i = 0; i < n; i += 97) maxErr = Math.max(maxErr, Math.abs(p.data[c * n + i]! - (px[3 * i + c]! / 255 - mean[c]!) / std[c]!));
  assert.ok(maxErr < 1e-5, `max error ${maxErr}`);
});

test('detect: a file, its bytes, decoded pixels and an EXIF-rotated copy give the same input; boxes in its pixels', async () => {
  const W = 400, H = 240;
  const px = picture(W, H);
  const raw = { raw: { width: W, height: H, channels: 3 as const } };
  const png = await sharp(Buffer.from(px), raw).png().toBuffer();
  const file = join(dir, 'pic.png');
  writeFileSync(file, png);
  const fromFile = await model.prepare(file);
  assert.deepEqual([fromFile.width, fromFile.height], [W, H]);
  for (const other of [await model.prepare(png), await model.prepare({ data: px, width: W, height: H, channels: 3 })]) {
    assert.deepEqual([other.width, other.height], [W, H]);
    assert.equal(Buffer.compare(Buffer.from(other.data.buffer), Buffer.from(fromFile.data.buffer)), 0);
  }
  // Stored rotated 90 degrees anticlockwise, with EXIF orientation 6 ("rotate 90 clockwise to view"); lossless.
  const stored = await sharp(Buffer.from(px), raw).rotate(270).raw().toBuffer();
  const exif = await sharp(stored, { raw: { width: H, height: W, channels: 3 } }).withMetadata({ orientation: 6 }).png().toBuffer();
  assert.equal((await sharp(exif).metadata()).orientation, 6);
  const fromExif = await model.prepare(exif);
  assert.deepEqual([fromExif.width, fromExif.height], [W, H]);
  let maxDiff = 0;
  for (let i = 0; i < fromExif.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(fromExif.data[i]! - fromFile.data[i]!));
  assert.equal(maxDiff, 0, `the EXIF-rotated input differs by ${maxDiff}`);

  const opts = { minScore: 0.06, topK: 50 };
  const dets = await model.detect(file, opts);
  assert.ok(dets.length > 0, 'no detections to check');
  const { locs, scores } = await model.predict(fromFile.data, 1);
  assert.deepEqual(model.postprocess(locs, scores, W, H, opts), dets);
  for (const d of dets) {
    assert.ok(d.box.xmin >= 0 && d.box.xmax <= W && d.box.ymin >= 0 && d.box.ymax <= H && d.box.xmin <= d.box.xmax, JSON.stringify(d));
    assert.equal(d.label, ['background', ...VOC_CLASS_NAMES][d.classIndex]);
    assert.ok(d.score > 0.06 && d.score <= 1);
  }
  // Sizes scale with the image: the same outputs for an image twice as large give boxes twice as large.
  const double = model.postprocess(locs, scores, 2 * W, 2 * H, opts);
  assert.ok(Math.abs(double[0]!.box.xmax - 2 * dets[0]!.box.xmax) < 1e-3);
  const top = dets[0]!.label;
  assert.ok(!model.postprocess(locs, scores, W, H, { ...opts, suppress: [top] }).some((d) => d.label === top));
});

test('postprocess maps the reference detections (fractions) to pixels of the image, clipped to it', () => {
  // Reference detect_* of image 0: decode + NMS of loss_pred_locs[0]*0.2 and loss_pred_scores[0]*0.55.
  const locs = refF32('loss_pred_locs').data.slice(0, 8732 * 4).map((v) => v * 0.2);
  const scores = refF32('loss_pred_scores').data.slice(0, 8732 * 21).map((v) => v * 0.55);
  const W = 640, H = 480;
  const dets = model.postprocess(locs, scores, W, H, { minScore: 0.2, maxOverlap: 0.45, topK: 200 });
  const boxes = refF32('detect_boxes_0').data;
  const labels = refI32('detect_labels_0').data;
  assert.equal(dets.length, labels.length);
  const key = (l: number, x: number, y: number) => `${l}:${Math.round(x)}:${Math.round(y)}`;
  const expected = new Set<string>();
  for (let i = 0; i < labels.length; i++) {
    expected.add(key(labels[i]!, Math.min(W, Math.max(0, boxes[4 * i]! * W)), Math.min(H, Math.max(0, boxes[4 * i + 3]! * H))));
  }
  let found = 0;
  for (const d of dets) if (expected.has(key(d.classIndex, d.box.xmin, d.box.ymax))) found++;
  assert.ok(found >= dets.length - 2, `${found} of ${dets.length} detections match the reference`);
});
