// The int8 model `quantizeModel` writes: batch norm folded exactly, standard QDQ around every int8 convolution
// (int8 per-channel weights, int32 biases, uint8 activations; no contrib ops), fused by ONNX Runtime into
// QLinearConv, excluded layers left float32, and its outputs within a stated tolerance of float32's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Random } from '../../../src/data/random.js';
import { decodeModel, encodeModel, GraphEditor, int64, intAttribute, tensorDims, TensorType } from '../../../src/graph/onnx-edit.js';
import type { onnx } from '../../../src/graph/onnx.js';
import { exportOnnx } from '../../../src/nn/export.js';
import { initWeights } from '../../../src/nn/layers.js';
import { SSD } from '../../../src/nn/model.js';
import { buildNetwork, modelConfig } from '../../../src/nn/models/index.js';
import { foldBatchNorm } from '../../../src/nn/quantize/fold-batch-norm.js';
import { quantizeModel } from '../../../src/nn/quantize/quantize.js';
import { relativeL2 } from '../helpers.js';

const config = modelConfig('ssd-tiny', ['circle', 'square'], { inputSize: 96 });

/** ssd-tiny with random weights and batch-norm statistics that are not the identity (so folding has work to do). */
function tinyModel(seed = 1): SSD {
  const rng = new Random(seed);
  const weights = initWeights(buildNetwork(config).parameters(), seed);
  for (const [k, v] of weights) {
    if (k.endsWith('running_mean')) v.forEach((_, i) => (v[i] = 0.2 * (rng.next() - 0.5)));
    if (k.endsWith('running_var')) v.forEach((_, i) => (v[i] = 0.5 + rng.next()));
    if (k.endsWith('.1.weight')) v.forEach((_, i) => (v[i] = 0.8 + 0.4 * rng.next()));
    if (k.endsWith('.1.bias')) v.forEach((_, i) => (v[i] = 0.1 * (rng.next() - 0.5)));
  }
  return SSD.create(config, { weights });
}

/** Smooth random pictures, normalised as the model's inputs are. */
function images(n: number, seed: number): Float32Array[] {
  const rng = new Random(seed);
  return Array.from({ length: n }, () => {
    const a = new Float32Array(3 * 96 * 96);
    const [fx, fy, phase] = [rng.next() * 0.3, rng.next() * 0.3, rng.next() * 6];
    for (let c = 0; c < 3; c++) for (let i = 0; i < 96 * 96; i++) a[c * 9216 + i] = Math.sin(fx * (i % 96) + fy * Math.floor(i / 96) + phase + c) * 1.5 + 0.3 * (rng.next() - 0.5);
    return a;
  });
}

const calibration = images(6, 2);
const source = { count: calibration.length, get: async (i: number) => calibration[i]! };

async function run(bytes: Uint8Array, x: Float32Array, optimized?: string): Promise<{ locs: Float32Array; scores: Float32Array }> {
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 1, ...(optimized ? { optimizedModelFilePath: optimized } : {}) });
  const out = await s.run({ images: new ort.Tensor('float32', x, [1, 3, 96, 96]) });
  await s.release();
  return { locs: out.locs!.data as Float32Array, scores: out.scores!.data as Float32Array };
}

function softmax(x: Float32Array, k: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length; r += k) {
    const m = Math.max(...x.subarray(r, r + k));
    let s = 0;
    for (let j = 0; j < k; j++) s += out[r + j] = Math.exp(x[r + j]! - m);
    for (let j = 0; j < k; j++) out[r + j]! /= s;
  }
  return out;
}

test('batch norm folds into the convolutions: no BatchNormalization left, outputs equal to 1e-5', async () => {
  const model = tinyModel();
  const bytes = exportOnnx(model);
  const proto = decodeModel(bytes, 'tiny');
  const g = new GraphEditor(proto.graph!);
  assert.deepEqual(foldBatchNorm(g), { folded: 10, left: 0 });
  g.finish();
  assert.equal(proto.graph!.node!.filter((n) => n.opType === 'BatchNormalization').length, 0);
  for (const x of images(2, 7)) {
    const [a, b] = [await run(bytes, x), await run(encodeModel(proto), x)];
    assert.ok(relativeL2(b.locs, a.locs) < 1e-5 && relativeL2(b.scores, a.scores) < 1e-5, `${relativeL2(b.locs, a.locs)} ${relativeL2(b.scores, a.scores)}`);
  }
});

test('the QDQ graph: Q/DQ around every int8 Conv, int8 per-channel weights, int32 biases, standard ops only; ONNX Runtime fuses it into QLinearConv', async () => {
  const model = tinyModel();
  const result = await quantizeModel(model, source, { exclude: ['backbone.stem.0'] });
  const proto = decodeModel(result.bytes, 'int8');
  const graph = proto.graph!;
  assert.deepEqual(proto.opsetImport?.map((o) => [o.domain ?? '', int64(o.version)]), [['', 18]]);
  assert.ok(graph.node!.every((n) => !n.domain), 'no contrib ops');
  assert.equal(graph.node!.filter((n) => n.opType === 'BatchNormalization').length, 0);
  const g = new GraphEditor(graph);
  const init = (name: string) => g.initializers.get(name);
  const producer = (t: string) => g.producer(t);
  const convs = graph.node!.filter((n) => n.opType === 'Conv');
  assert.equal(convs.length, 18);
  assert.equal(result.layers.filter((l) => l.int8).length, 17);
  assert.deepEqual(result.layers.filter((l) => !l.int8).map((l) => [l.name, l.reason]), [['backbone.stem.0', "excluded ('backbone.stem.0')"]]);
  for (const conv of convs) {
    const [x, w, b] = conv.input!;
    const wDq = producer(w!);
    if (!wDq) {
      // The excluded layer: float weights, reading the images as they come.
      assert.equal(init(w!)!.dataType, TensorType.FLOAT);
      assert.equal(x, 'images');
      continue;
    }
    assert.equal(wDq.opType, 'DequantizeLinear');
    assert.equal(intAttribute(wDq, 'axis', 1), 0, 'per output channel');
    const cout = tensorDims(init(wDq.input![0]!)!)[0]!;
    assert.equal(init(wDq.input![0]!)!.dataType, TensorType.INT8);
    assert.deepEqual(tensorDims(init(wDq.input![1]!)!), [cout]);
    assert.ok(init(wDq.input![2]!)!.rawData!.every((z) => z === 0), 'symmetric: zero points 0');
    const bDq = producer(b!)!;
    assert.equal(bDq.opType, 'DequantizeLinear');
    assert.equal(init(bDq.input![0]!)!.dataType, TensorType.INT32);
    const xDq = producer(x!)!;
    assert.equal(xDq.opType, 'DequantizeLinear');
    assert.equal(producer(xDq.input![0]!)!.opType, 'QuantizeLinear');
    assert.equal(init(xDq.input![2]!)!.dataType, TensorType.UINT8);
    // Conv -> [Relu] -> QuantizeLinear, nothing else reading the Conv.
    let next = g.consumers(conv.output![0]!);
    assert.equal(next.length, 1);
    if (next[0]!.opType === 'Relu') {
      next = g.consumers(next[0]!.output![0]!);
      assert.equal(init(next[0]!.input![2]!)!.rawData![0], 0, 'a ReLU output has zero point 0');
    }
    assert.equal(next.length, 1);
    assert.equal(next[0]!.opType, 'QuantizeLinear');
  }
  // What ONNX Runtime makes of it.
  const dir = mkdtempSync(join(tmpdir(), 'ssd-qdq-'));
  try {
    const optimized = join(dir, 'opt.onnx');
    await run(result.bytes, calibration[0]!, optimized);
    const ops = new Map<string, number>();
    for (const n of decodeModel(readFileSync(optimized), 'opt').graph!.node!) ops.set(n.opType!, (ops.get(n.opType!) ?? 0) + 1);
    assert.equal(ops.get('QLinearConv'), 17, `optimised graph: ${JSON.stringify([...ops])}`);
    assert.equal((ops.get('Conv') ?? 0) + (ops.get('FusedConv') ?? 0), 1, 'the excluded layer stays a float Conv');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // Metadata: the config, raw outputs, int8, and how it was made.
  const meta = Object.fromEntries((proto.metadataProps ?? []).map((p: onnx.IStringStringEntryProto) => [p.key, p.value]));
  assert.deepEqual(JSON.parse(meta['ssd.config']!), config);
  assert.equal(meta['ssd.outputs'], 'raw');
  assert.equal(meta['ssd.precision'], 'int8');
  assert.equal(JSON.parse(meta['ssd.quantization']!).float32_layers[0].name, 'backbone.stem.0');
});

test('int8 outputs stay within tolerance of float32 on unseen images: relative L2 of box offsets and class probabilities < 0.05 (minmax, percentile), < 0.1 (entropy, which clips more)', async () => {
  const model = tinyModel();
  const fp32 = exportOnnx(model);
  const fresh = images(3, 11);
  for (const method of ['minmax', 'percentile', 'entropy'] as const) {
    const { bytes } = await quantizeModel(model, source, { method });
    assert.ok(bytes.byteLength < 0.3 * fp32.byteLength, `${method}: ${bytes.byteLength} bytes against ${fp32.byteLength}`);
    for (const x of fresh) {
      const [a, b] = [await run(fp32, x), await run(bytes, x)];
      const locs = relativeL2(b.locs, a.locs), probs = relativeL2(softmax(b.scores, 3), softmax(a.scores, 3));
      const tolerance = method === 'entropy' ? 0.1 : 0.05;
      assert.ok(locs < tolerance && probs < tolerance, `${method}: locs ${locs.toFixed(4)}, probabilities ${probs.toFixed(4)}`);
    }
  }
});

test('exclude takes names, globs and kinds; a pattern that matches nothing, and a model that is ONNX already, are refused', async () => {
  const model = tinyModel();
  await assert.rejects(quantizeModel(model, source, { exclude: ['backbone.nope*'] }), /no layer is named 'backbone\.nope\*'; the model's layers: backbone\.stem\.0, backbone\.conv2\.0, /);
  await assert.rejects(quantizeModel(model, source, { exclude: ['kind:dense'] }), /'kind:dense' names no kind of layer; kinds: conv, depthwise, pointwise/);
  const pointwise = await quantizeModel(model, source, { exclude: ['kind:pointwise', 'head.cl_*'] });
  assert.deepEqual(
    pointwise.layers.filter((l) => !l.int8).map((l) => l.name),
    ['backbone.conv5_1.0', 'backbone.conv6_1.0', 'head.cl_conv3_2', 'head.cl_conv4_2', 'head.cl_conv5_2', 'head.cl_conv6_2'],
  );
  const { bytes } = await quantizeModel(model, source, { exclude: ['head.*'] });
  const loaded = SSD.fromBytes(bytes, { name: 'tiny.int8.onnx' });
  await assert.rejects(quantizeModel(loaded, source), /the model is an ONNX model already/);
});

test('the report: each layer alone in int8, in the model, the outputs and the profile; auto-exclude leaves the worst layers float32', async () => {
  const model = tinyModel();
  const { report, layers } = await quantizeModel(model, source, { report: true });
  assert.ok(report);
  assert.equal(report.layers.length, 18);
  for (const l of report.layers) {
    assert.ok(l.error > 0 && l.error < 0.2, `${l.name}: own error ${l.error}`);
    assert.ok(l.modelError >= 0 && Number.isFinite(l.modelError));
    assert.ok(l.fp32Ms !== undefined && l.int8Ms !== undefined && l.fp32Ms > 0 && l.int8Ms > 0, `${l.name} profiled: ${l.fp32Ms} ${l.int8Ms}`);
  }
  // The first layer's error in the model is its own (nothing before it).
  assert.ok(Math.abs(report.layers[0]!.modelError - report.layers[0]!.error) < 1e-6);
  assert.ok(report.outputs.locs > 0 && report.outputs.locs < 0.05 && report.outputs.probabilities < 0.05);
  assert.deepEqual(layers.filter((l) => !l.int8), []);
  const sorted = report.layers.map((l) => l.error).sort((a, b) => b - a);
  const threshold = (sorted[2]! + sorted[3]!) / 2;
  const auto = await quantizeModel(model, source, { autoExclude: true, maxLayerError: threshold });
  const kept = auto.layers.filter((l) => !l.int8);
  assert.equal(kept.length, 3);
  for (const l of kept) assert.match(l.reason!, /^auto-exclude: its own int8 error 0\.\d+ is above/);
});
