// The deterministic weights recipe of the reference (test/fixtures/reference/README.md): any language can
// rebuild the exact float32 tensors the PyTorch reference ran with, from a tensor's name, size and amplitude.
import { manifest } from '../fixtures/reference.js';

/** FNV-1a, 32 bit, over the UTF-8 bytes of `s`. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h >>> 0;
}

/** The 32-bit finaliser the recipe uses (murmur3-style avalanche). */
export function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  return x;
}

/** The recipe tensor `key` with `n` values in [-amplitude, amplitude]. */
export function recipeTensor(key: string, n: number, amplitude: number): Float32Array {
  const base = mix32(fnv1a32(key));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = mix32((base + Math.imul(i, 0x9e3779b9)) >>> 0);
    out[i] = amplitude * ((u / 2 ** 32) * 2 - 1); // float64 product, rounded to float32 on store
  }
  return out;
}

/** One entry of the reference `state_dict`: name, shape and recipe amplitude (null: the constant 20). */
export interface StateDictEntry {
  key: string;
  shape: number[];
  amplitude: number | null;
}

/** The reference SSD300 (21 classes) parameter list, in the reference's order. */
export const referenceStateDict: readonly StateDictEntry[] = manifest.state_dict as StateDictEntry[];

/** Every reference parameter built by the recipe, keyed by its reference name, in order. */
export function recipeWeights(): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const { key, shape, amplitude } of referenceStateDict) {
    const n = shape.reduce((a, b) => a * b, 1);
    out.set(key, amplitude === null ? new Float32Array(n).fill(20) : recipeTensor(key, n, amplitude));
  }
  return out;
}

/** The recipe input image batch of the forward reference: key `image1`, amplitude 1, shape (2, 3, 300, 300) NCHW. */
export function recipeImage(): { data: Float32Array; dims: number[] } {
  const info = manifest.forward_input as { recipe_key: string; shape: number[]; amplitude: number };
  const n = info.shape.reduce((a, b) => a * b, 1);
  return { data: recipeTensor(info.recipe_key, n, info.amplitude), dims: info.shape };
}
