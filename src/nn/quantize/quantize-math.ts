// The arithmetic of int8 quantization, as ONNX's QuantizeLinear and DequantizeLinear define it:
//   q = saturate(round_half_to_even(x / scale) + zero_point),   x' = (q - zero_point) * scale.
// Activations are uint8 per tensor (asymmetric: the range always holds 0, so that zero and ReLU's floor are exact);
// weights are int8 per output channel, symmetric (zero point 0) in [-127, 127], so that no product saturates the
// 16-bit intermediate of x86 kernels without VNNI; biases are int32 at scale input_scale * weight_scale (what
// QLinearConv adds before requantizing).

/** A per-tensor affine quantization of float values to uint8. */
export interface ActivationQuant {
  /** float32. */
  scale: number;
  /** 0..255. */
  zeroPoint: number;
}

/** Rounds half to even (ONNX QuantizeLinear's rounding; Math.round rounds half up). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The uint8 quantization of the range [lo, hi], widened to hold 0. `ceiling`: an upper bound the dequantized range
 * must not pass (6 for ReLU6: ONNX Runtime drops the Clip only when the quantized range lies inside it). A range of
 * zero width (a tensor that was all zeros) gets scale 1.
 */
export function activationQuant(lo: number, hi: number, ceiling = Infinity): ActivationQuant {
  if (!(Number.isFinite(lo) && Number.isFinite(hi)) || lo > hi) throw new Error(`activationQuant: invalid range [${lo}, ${hi}]`);
  const rmin = Math.min(lo, 0);
  const rmax = Math.min(Math.max(hi, 0), ceiling);
  if (rmax - rmin <= 0) return { scale: 1, zeroPoint: 0 };
  let scale = Math.fround((rmax - rmin) / 255);
  const zeroPoint = Math.min(255, Math.max(0, roundHalfEven(-rmin / scale)));
  // float32 arithmetic as the runtime checks it: scale * (255 - zero point) must stay at or under the ceiling.
  while (ceiling !== Infinity && Math.fround(scale * (255 - zeroPoint)) > ceiling) scale = nextDown(scale);
  return { scale, zeroPoint };
}

/** The largest float32 below a positive float32. */
function nextDown(x: number): number {
  const b = new Float32Array([x]);
  new Int32Array(b.buffer)[0]! -= 1;
  return b[0]!;
}

/** QuantizeLinear to uint8 (the quotient in float32, as the runtime divides). */
export function quantizeUint8(x: ArrayLike<number>, q: ActivationQuant): Uint8Array {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.min(255, Math.max(0, roundHalfEven(Math.fround(x[i]! / q.scale)) + q.zeroPoint));
  return out;
}

/** DequantizeLinear from uint8. */
export function dequantizeUint8(v: ArrayLike<number>, q: ActivationQuant): Float32Array {
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = (v[i]! - q.zeroPoint) * q.scale;
  return out;
}

/** Weights quantized per output channel: int8 values in the weights' layout, one float32 scale per channel. */
export interface ChannelQuantized {
  values: Int8Array;
  scales: Float32Array;
}

/** The largest |int8| a weight takes (symmetric range, -128 unused). */
export const WEIGHT_QMAX = 127;

/**
 * Symmetric per-channel int8 quantization of weights laid out (C_out, ...): channel c's scale is max|w_c| / 127
 * (at least `minScales[c]` when given: the bias may need it, see quantizeBias), so the largest weight maps to
 * +-127. An all-zero channel gets scale 1.
 */
export function quantizeWeights(w: Float32Array, outChannels: number, minScales?: Float32Array): ChannelQuantized {
  if (outChannels < 1 || w.length % outChannels !== 0) throw new Error(`quantizeWeights: ${w.length} values do not split into ${outChannels} channels`);
  const per = w.length / outChannels;
  const values = new Int8Array(w.length);
  const scales = new Float32Array(outChannels);
  for (let c = 0; c < outChannels; c++) {
    let m = 0;
    for (let i = c * per; i < (c + 1) * per; i++) m = Math.max(m, Math.abs(w[i]!));
    const s = Math.fround(Math.max(m / WEIGHT_QMAX, minScales?.[c] ?? 0)) || 1;
    scales[c] = s;
    for (let i = c * per; i < (c + 1) * per; i++) values[i] = Math.min(WEIGHT_QMAX, Math.max(-WEIGHT_QMAX, roundHalfEven(Math.fround(w[i]! / s))));
  }
  return { values, scales };
}

/** Per-channel DequantizeLinear of int8 weights (axis 0). */
export function dequantizeWeights(q: ChannelQuantized): Float32Array {
  const per = q.values.length / q.scales.length;
  const out = new Float32Array(q.values.length);
  for (let i = 0; i < out.length; i++) out[i] = q.values[i]! * q.scales[Math.floor(i / per)]!;
  return out;
}

const INT32_MAX = 2 ** 31 - 1;
/** The largest |int32 bias| allowed: half the int32 range, leaving the other half to the products it is added to. */
export const BIAS_QMAX = 2 ** 30;

/**
 * The smallest weight scale per channel at which the bias stays within BIAS_QMAX at scale input_scale *
 * weight_scale (a large bias beside tiny weights and a narrow input range could overflow int32).
 */
export function minWeightScalesForBias(bias: Float32Array, inputScale: number): Float32Array {
  return bias.map((b) => Math.abs(b) / (inputScale * BIAS_QMAX));
}

/** Biases as int32 at scale inputScale * weightScales[c] (zero point 0), what QLinearConv adds. */
export function quantizeBias(bias: Float32Array, inputScale: number, weightScales: Float32Array): { values: Int32Array; scales: Float32Array } {
  const scales = weightScales.map((s) => Math.fround(inputScale * s));
  const values = new Int32Array(bias.length);
  for (let c = 0; c < bias.length; c++) values[c] = Math.min(INT32_MAX, Math.max(-INT32_MAX, roundHalfEven(bias[c]! / scales[c]!)));
  return { values, scales };
}
