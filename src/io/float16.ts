// Half-precision conversions shared by the safetensors and PyTorch readers: files may store float16 or
// bfloat16, the library computes in float32.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float16 bits (IEEE 754 binary16) -> the float32 value; exact (every half is a float). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** float32 value -> float16 bits, rounding to nearest even; overflow goes to infinity. */
export function floatToHalf(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let frac = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (frac ? 0x200 : 0); // inf, NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // underflows to zero
    frac |= 0x800000; // the implicit leading one
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = frac >>> shift;
    const rest = frac & ((1 << shift) - 1);
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m; // a carry into the exponent field is the correct smallest normal
  }
  let m = frac >>> 13;
  const rest = frac & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** `n` little-endian float16 values starting at `offset` of `bytes`, as float32. */
export function decodeFloat16(bytes: Uint8Array, offset: number, n: number): Float32Array {
  const out = new Float32Array(n);
  // A lookup table pays for itself on the large tensors weights come in.
  const table = halfTable();
  for (let i = 0, p = offset; i < n; i++, p += 2) out[i] = table[bytes[p]! | (bytes[p + 1]! << 8)]!;
  return out;
}

/** `n` little-endian bfloat16 values starting at `offset` of `bytes`, as float32 (bfloat16 is the top half of a float32). */
export function decodeBFloat16(bytes: Uint8Array, offset: number, n: number): Float32Array {
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0, p = offset; i < n; i++, p += 2) bits[i] = ((bytes[p]! | (bytes[p + 1]! << 8)) << 16) >>> 0;
  return out;
}

let table: Float32Array | undefined;
function halfTable(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = halfToFloat(h);
  }
  return table;
}
