// Quantize / dequantize round trips, against ONNX Runtime's own QuantizeLinear and DequantizeLinear (the ops the
// int8 file holds), and the properties the QDQ model relies on: zero exact, ReLU6's ceiling kept, weights'
// largest magnitude at +-127, biases that fit int32.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { ONNX } from '../../../src/graph/onnx.js';
import { initializer, intAttr } from '../../../src/graph/onnx-edit.js';
import {
  activationQuant,
  dequantizeUint8,
  dequantizeWeights,
  minWeightScalesForBias,
  quantizeBias,
  quantizeUint8,
  quantizeWeights,
  roundHalfEven,
} from '../../../src/nn/quantize/quantize-math.js';
import { Random } from '../../../src/data/random.js';
import { TensorObserver } from '../../../src/nn/quantize/observers.js';

test('rounding is half to even, as QuantizeLinear rounds', () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6, -2.6].map(roundHalfEven), [0, 2, 2, -0, -2, -2, 2, 3, -3]);
});

test('activation quantization holds zero exactly, keeps ReLU6 under its ceiling, and survives a zero range', () => {
  for (const [lo, hi] of [[-1.3, 4.7], [0, 9.1], [0.5, 3], [-7, -2], [-0.001, 1000]] as const) {
    const q = activationQuant(lo, hi);
    assert.ok(Number.isInteger(q.zeroPoint) && q.zeroPoint >= 0 && q.zeroPoint <= 255);
    assert.equal(dequantizeUint8(quantizeUint8([0], q), q)[0], 0, `0 is exact for [${lo}, ${hi}]`);
    // The range, widened to hold 0, is covered within one step.
    assert.ok(-q.zeroPoint * q.scale <= Math.min(lo, 0) + q.scale && (255 - q.zeroPoint) * q.scale >= Math.max(hi, 0) - q.scale);
  }
  const relu = activationQuant(0, 5.3);
  assert.equal(relu.zeroPoint, 0, 'a ReLU output gets zero point 0 (ONNX Runtime then drops the Relu)');
  for (const hi of [6, 5.999999, 6.5, 3]) {
    const q = activationQuant(0, hi, 6);
    assert.ok(Math.fround(q.scale * (255 - q.zeroPoint)) <= 6, `ceiling kept for ${hi}`);
  }
  assert.deepEqual(activationQuant(0, 0), { scale: 1, zeroPoint: 0 });
  assert.throws(() => activationQuant(1, -1), /invalid range/);
});

/** One QuantizeLinear -> DequantizeLinear model for ONNX Runtime, per tensor or per channel (axis 1). */
async function ortQdq(x: Float32Array, dims: number[], scale: Float32Array, zero: Uint8Array | Int8Array, axis?: number): Promise<{ q: Uint8Array | Int8Array; dq: Float32Array }> {
  const scalar = axis === undefined;
  const graph = {
    name: 'qdq',
    node: [
      { opType: 'QuantizeLinear', input: ['x', 's', 'z'], output: ['q'], attribute: scalar ? [] : [intAttr('axis', axis)] },
      { opType: 'DequantizeLinear', input: ['q', 's', 'z'], output: ['y'], attribute: scalar ? [] : [intAttr('axis', axis)] },
    ],
    initializer: [initializer('s', scalar ? [] : [scale.length], scale), initializer('z', scalar ? [] : [zero.length], zero)],
    input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } }],
    output: [
      { name: 'q', type: { tensorType: { elemType: zero instanceof Int8Array ? 3 : 2 } } },
      { name: 'y', type: { tensorType: { elemType: 1 } } },
    ],
  };
  const bytes = ONNX.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 18 }], graph }).finish();
  const s = await ort.InferenceSession.create(bytes);
  const out = await s.run({ x: new ort.Tensor('float32', x, dims) });
  await s.release();
  return { q: out.q!.data as Uint8Array | Int8Array, dq: out.y!.data as Float32Array };
}

test('uint8 round trips equal ONNX Runtime QuantizeLinear / DequantizeLinear, and lose at most half a step in range', async () => {
  const rng = new Random(5);
  const x = Float32Array.from({ length: 4000 }, () => 12 * rng.next() - 4);
  // Values on exact half steps too, where the rounding rule decides.
  const q = activationQuant(-3, 7);
  for (let i = 0; i < 200; i++) x[i] = Math.fround((i - 60 + 0.5) * q.scale);
  const ours = quantizeUint8(x, q);
  const theirs = await ortQdq(x, [x.length], Float32Array.of(q.scale), Uint8Array.of(q.zeroPoint));
  let differ = 0;
  for (let i = 0; i < x.length; i++) if (ours[i] !== theirs.q[i]) differ++;
  assert.equal(differ, 0, `${differ} of ${x.length} values quantized differently from ONNX Runtime`);
  const back = dequantizeUint8(ours, q);
  for (let i = 0; i < x.length; i++) {
    const inside = x[i]! >= -q.zeroPoint * q.scale && x[i]! <= (255 - q.zeroPoint) * q.scale;
    if (inside) assert.ok(Math.abs(back[i]! - x[i]!) <= q.scale / 2 + 1e-6, `value ${x[i]}: ${back[i]}`);
    else assert.ok(ours[i] === 0 || ours[i] === 255, 'outside the range saturates');
    assert.equal(back[i], theirs.dq[i]);
  }
});

test('weights: int8 per output channel, symmetric, the largest magnitude at +-127, as ONNX Runtime dequantizes them', async () => {
  const rng = new Random(9);
  const cout = 5, per = 3 * 3 * 3;
  const w = Float32Array.from({ length: cout * per }, (_, i) => (rng.next() * 2 - 1) * 10 ** (Math.floor(i / per) - 2));
  w.fill(0, 4 * per); // an all-zero channel
  const q = quantizeWeights(w, cout);
  assert.equal(q.scales[4], 1);
  for (let c = 0; c < 4; c++) {
    const ch = q.values.subarray(c * per, (c + 1) * per);
    assert.equal(Math.max(...Array.from(ch, Math.abs)), 127, `channel ${c} uses the full range`);
  }
  const back = dequantizeWeights(q);
  for (let i = 0; i < w.length; i++) assert.ok(Math.abs(back[i]! - w[i]!) <= q.scales[Math.floor(i / per)]! / 2 * (1 + 1e-6));
  // ONNX Runtime's per-channel DequantizeLinear of the same int8 values (laid out as (1, C, per)) agrees.
  const asInput = new Float32Array(q.values.length);
  for (let i = 0; i < asInput.length; i++) asInput[i] = back[i]!;
  const ortOut = await ortQdq(asInput, [1, cout, per], q.scales, new Int8Array(cout), 1);
  assert.deepEqual(Array.from(ortOut.q), Array.from(q.values));
  assert.deepEqual(Array.from(ortOut.dq), Array.from(back));
});

test('biases: int32 at input scale times weight scale, within half a step; a large bias raises the weight scale instead of overflowing', () => {
  const bias = Float32Array.of(0.5, -3.25, 0, 1e-4);
  const wq = quantizeWeights(Float32Array.of(1, -2, 0.5, 0.25, 3, 1, 0.1, 0.1), 4);
  const b = quantizeBias(bias, 0.02, wq.scales);
  b.values.forEach((v, c) => assert.ok(Math.abs(v * b.scales[c]! - bias[c]!) <= b.scales[c]! / 2 * (1 + 1e-6)));
  const huge = Float32Array.of(1e6);
  const tiny = new Float32Array(9).fill(1e-6);
  const min = minWeightScalesForBias(huge, 1e-4);
  const q = quantizeWeights(tiny, 1, min);
  const hb = quantizeBias(huge, 1e-4, q.scales);
  assert.ok(Math.abs(hb.values[0]!) <= 2 ** 30 * (1 + 1e-6), `fits half of int32: ${hb.values[0]}`);
  assert.ok(Math.abs(hb.values[0]! * hb.scales[0]! - 1e6) / 1e6 < 1e-6);
});

test('calibration observes the extremes and refuses a NaN activation', () => {
  const o = new TensorObserver();
  o.observeRange(Float32Array.of(5));
  o.observeRange(Float32Array.of(-2, 3));
  assert.deepEqual([o.min, o.max], [-2, 5]);
  assert.throws(() => new TensorObserver().observeRange(Float32Array.of(1, Number.NaN, 2)), /calibration: the network gave NaN/);
});
