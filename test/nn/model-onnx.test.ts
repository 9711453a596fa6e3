// A model that runs an ONNX file: `SSD.load` of an int8 model (`ssd quantize`) or of a raw `ssd export` works as
// any model file does (detect, predict, postprocess, export with post-processing), says what it cannot do (no
// weights to read, replace or store as float16), and refuses ONNX files it cannot run, saying why.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { decodeModel, encodeModel } from '../../src/graph/onnx-edit.js';
import { exportOnnx, exportOnnxFile } from '../../src/nn/export.js';
import { SSD } from '../../src/nn/model.js';
import { modelConfig } from '../../src/nn/models/index.js';
import { quantizeModel } from '../../src/nn/quantize/quantize.js';
import { relativeL2 } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'ssd-onnx-model-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fixture = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'onnx', 'conv_torch.onnx');

const config = modelConfig('ssd-tiny', ['cat', 'dog'], { inputSize: 96 });
const fp32 = SSD.create(config, { seed: 4, threads: 1 });
/** A 120x80 picture of smooth colours. */
const pixels = { data: Uint8Array.from({ length: 120 * 80 * 3 }, (_, i) => (i * 37) % 251), width: 120, height: 80, channels: 3 as const };
const calibration = { count: 3, get: async (i: number) => (await fp32.prepare({ ...pixels, data: pixels.data.map((v) => (v + 60 * i) % 256) })).data };

test('an int8 model file loads with SSD.load and runs as any model: predict is the file run by ONNX Runtime, detect and export follow', async () => {
  const { bytes } = await quantizeModel(fp32, calibration);
  const file = join(dir, 'tiny.int8.onnx');
  writeFileSync(file, bytes);
  const model = await SSD.load(file, { threads: 1 });
  assert.deepEqual(model.config, config);
  assert.deepEqual(model.classNames, ['background', 'cat', 'dog']);
  assert.equal(model.onnx?.precision, 'int8');
  assert.equal(model.network.architecture, 'ssd-tiny');
  const prepared = await model.prepare(pixels);
  const got = await model.predict(prepared.data, 1);
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const want = await s.run({ images: new ort.Tensor('float32', prepared.data, [1, 3, 96, 96]) });
  await s.release();
  assert.deepEqual(Array.from(got.locs), Array.from(want.locs!.data as Float32Array));
  assert.deepEqual(Array.from(got.scores), Array.from(want.scores!.data as Float32Array));
  // Close to the float32 model it was made from.
  const ref = await fp32.predict(prepared.data, 1);
  assert.ok(relativeL2(got.locs, ref.locs) < 0.05, `locs ${relativeL2(got.locs, ref.locs)}`);
  const detections = await model.detect(pixels, { minScore: 0.05 });
  assert.deepEqual(detections, model.postprocess(got.locs, got.scores, 120, 80, { minScore: 0.05 }));
  // Export with post-processing appended to the int8 network: the same detections as detect.
  const detector = await ort.InferenceSession.create(exportOnnx(model, { withPostprocess: true, minScore: 0.05 }), { intraOpNumThreads: 1 });
  const out = await detector.run({ images: new ort.Tensor('float32', prepared.data, [1, 3, 96, 96]) });
  await detector.release();
  const n = Number((out.num_detections!.data as BigInt64Array)[0]);
  assert.equal(n, detections.length);
  const boxes = out.boxes!.data as Float32Array, scores = out.scores!.data as Float32Array, labels = out.labels!.data as BigInt64Array;
  detections.forEach((d, i) => {
    assert.equal(Number(labels[i]), d.classIndex);
    assert.ok(Math.abs(scores[i]! - d.score) < 1e-6);
    assert.ok(Math.abs(Math.min(120, Math.max(0, boxes[4 * i]! * 120)) - d.box.xmin) < 1e-3);
  });
  // Raw export gives the file as it is; so do save and toBytes; fromBytes reads it.
  const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
  assert.ok(same(exportOnnx(model), bytes));
  assert.ok(same(model.toBytes(), bytes));
  const copy = join(dir, 'copy.int8.onnx');
  model.save(copy);
  assert.ok(same(readFileSync(copy), bytes));
  assert.equal(SSD.fromBytes(bytes, { name: 'buf.onnx' }).onnx?.name, 'buf.onnx');
  // The raw export is a copy: handing its buffer to a worker (as ssd serve does) leaves the model whole.
  const raw = exportOnnx(model);
  structuredClone(raw, { transfer: [raw.buffer as ArrayBuffer] });
  assert.equal(raw.byteLength, 0);
  assert.ok(same(exportOnnx(model), bytes));
  await model.dispose();
});

test('an ONNX-backed model has no weights: reading, replacing or halving them is an error naming the file', async () => {
  const { bytes } = await quantizeModel(fp32, calibration);
  const model = SSD.fromBytes(bytes, { name: 'm.int8.onnx' });
  const message = /^Error: m\.int8\.onnx is an int8 ONNX model and has no float32 weights to (read|replace); to train, export or quantize, load the \.safetensors model file it was made from$/;
  assert.throws(() => model.weights, message);
  assert.throws(() => model.setWeights(fp32.weights), message);
  assert.throws(() => model.toBytes({ half: true }), /cannot be stored as float16/);
});

test('a raw ssd export loads as a float32 ONNX model with the same outputs; other ONNX files are refused with the reason', async () => {
  const raw = join(dir, 'tiny.onnx');
  exportOnnxFile(fp32, raw);
  const model = await SSD.load(raw, { threads: 1 });
  assert.equal(model.onnx?.precision, 'float32');
  const x = (await model.prepare(pixels)).data;
  const [a, b] = [await model.predict(x, 1), await fp32.predict(x, 1)];
  assert.ok(relativeL2(a.scores, b.scores) < 1e-6 && relativeL2(a.locs, b.locs) < 1e-6);
  await model.dispose();

  const detect = join(dir, 'tiny.detect.onnx');
  exportOnnxFile(fp32, detect, { withPostprocess: true });
  await assert.rejects(SSD.load(detect), /tiny\.detect\.onnx: the model was exported with its post-processing \(ssd export --with-postprocess/);
  await assert.rejects(SSD.load(fixture), /conv_torch\.onnx: not an ssd-ts ONNX model \(no 'ssd\.config' in its metadata\)/);
  // A config whose input size is not the network's input.
  const proto = decodeModel(exportOnnx(fp32), 'x');
  const other = { ...config, inputSize: { width: 128, height: 128 } };
  proto.metadataProps = proto.metadataProps!.map((p) => (p.key === 'ssd.config' ? { key: p.key, value: JSON.stringify(other) } : p));
  assert.throws(() => SSD.fromBytes(encodeModel(proto), { name: 'odd.onnx' }), /odd\.onnx: an ssd-ts model takes one input 'images' float32 \[N, 3, 128, 128\] \(its config's input size\); this file's inputs: 'images' \[N,3,96,96\]/);
});
