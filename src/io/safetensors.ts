// safetensors model files (https://github.com/huggingface/safetensors): an 8-byte little-endian header length,
// a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__: {string: string}}, then the
// raw little-endian tensor bytes. Files come from anywhere, so the reader trusts nothing in the header: every
// offset, shape and size is checked against the file before a byte of tensor data is read.
import { writeFileAtomic } from './atomic-write.js';
import { decodeBFloat16, decodeFloat16, floatToHalf } from './float16.js';
import { detectModelFileKind, MAX_SAFETENSORS_HEADER_BYTES, readModelFile, wrongKindError, type ModelFileKind, type ModelFileOptions } from './file-kind.js';

/** Element types a file may store. F16 and BF16 are widened to F32 on read; the others keep their type. */
export type StoredDType = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U8';

/** Element types of tensors in memory. */
export type TensorDType = 'F32' | 'I64' | 'I32' | 'U8';

/** The typed array that holds each in-memory element type. */
export interface TensorData {
  F32: Float32Array;
  I64: BigInt64Array;
  I32: Int32Array;
  U8: Uint8Array;
}

/** A tensor: row-major values in `shape` (a scalar has shape []). */
export type Tensor = {
  [D in TensorDType]: {
    dtype: D;
    shape: number[];
    data: TensorData[D];
    /** What the file stored, when it differs from `dtype` (a F16 or BF16 tensor read as F32). */
    storedAs?: StoredDType;
  };
}[TensorDType];

/** What a file holds: its tensors in file order, and the string map of `__metadata__` ({} when absent). */
export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** A tensor to write: `data` picks the stored type, except that `storeAs: 'F16'` stores float32 data as half. */
export interface TensorToWrite {
  shape: readonly number[];
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
  storeAs?: 'F16';
}

const BYTES: Record<StoredDType, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1 };

/** Headers beyond this are refused before they are parsed (the reference implementation's limit is 100 MB). */
const MAX_HEADER_BYTES = MAX_SAFETENSORS_HEADER_BYTES;

/** Options of `readSafetensors`. */
export interface ReadSafetensorsOptions extends ModelFileOptions {
  /** Named in errors; default the path, or '<buffer>'. */
  name?: string;
}

/** What to give instead of a file of another kind, for the "is not a safetensors model file" error. */
function insteadOfSafetensors(kind: ModelFileKind): string {
  switch (kind) {
    case 'onnx':
      return 'an ONNX model runs as it is (SSD.load; --weights of ssd detect, eval and serve), but weights to train, export or quantize are read from safetensors model files; give the .safetensors file the ONNX model was made from';
    case 'torch-zip':
    case 'torch-pickle':
    case 'torch-tar':
      return 'if it is a PyTorch weights file, convert it first: ssd import <file> --out model.safetensors';
    default:
      return 'give an ssd-ts model file (.safetensors)';
  }
}

/**
 * Reads a safetensors file from a path or from its bytes. A path must be a regular file of at most
 * `options.maxBytes` (2 GiB by default); a file of another kind (ONNX, PyTorch) is refused naming what it is.
 * Errors name the file (`name`, default the path or '<buffer>') and the tensor, and say what is wrong: a header
 * length beyond the file, a header that is not JSON, an unknown dtype, a shape whose size does not match its
 * offsets, offsets outside the data section, overlapping, leaving holes, or not aligned to the element size.
 */
export function readSafetensors(source: string | Uint8Array, options: ReadSafetensorsOptions = {}): SafetensorsFile {
  const name = options.name ?? (typeof source === 'string' ? source : '<buffer>');
  const { bytes, kind } = typeof source === 'string' ? readModelFile(source, options) : { bytes: source, kind: detectModelFileKind(source.subarray(0, 65536), source.byteLength) };
  if (kind !== 'safetensors' && kind !== 'unknown') throw wrongKindError(name, kind, 'a safetensors model file', insteadOfSafetensors(kind));
  const fail = (what: string): never => {
    throw new Error(`safetensors '${name}': ${what}`);
  };
  if (bytes.byteLength < 8) fail(`file is ${bytes.byteLength} bytes, too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.byteLength - 8)) {
    fail(
      `header length ${headerLength} runs beyond the end of the file (${bytes.byteLength} bytes): ` +
        (kind === 'safetensors' ? 'the file is truncated' : `not a safetensors model file (${insteadOfSafetensors(kind)})`),
    );
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + n;
  const dataLength = bytes.byteLength - dataStart;

  const metadata: Record<string, string> = {};
  const entries: Array<{ key: string; dtype: StoredDType; shape: number[]; begin: number; end: number }> = [];
  for (const [key, value] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('__metadata__ is not an object of strings');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__['${k}'] is ${JSON.stringify(v)}, not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const at = `tensor '${key}'`;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(`${at}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(dtype in BYTES)) fail(`${at}: dtype ${JSON.stringify(dtype)} is not one of ${Object.keys(BYTES).join(', ')}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`${at}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`${at}: data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    const d = dtype as StoredDType;
    if (end < begin) fail(`${at}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLength) fail(`${at}: data_offsets [${begin}, ${end}] lie outside the data section (${dataLength} bytes): the file is truncated, or its header is wrong`);
    const elements = (shape as number[]).reduce((a, b) => a * b, 1);
    if (elements * BYTES[d] !== end - begin) {
      fail(`${at}: shape [${shape}] of ${d} needs ${elements * BYTES[d]} bytes, data_offsets [${begin}, ${end}] hold ${end - begin}`);
    }
    if (begin % BYTES[d] !== 0) fail(`${at}: data_offsets begin ${begin} is not aligned to the ${BYTES[d]}-byte ${d} element`);
    entries.push({ key, dtype: d, shape: shape as number[], begin, end });
  }

  // The tensors must tile the data section exactly: no overlap (one byte read as two tensors), no holes.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous = '';
  for (const e of byOffset) {
    if (e.begin < covered) fail(`tensor '${e.key}': data_offsets [${e.begin}, ${e.end}] overlap tensor '${previous}' (which ends at ${covered})`);
    if (e.begin > covered) fail(`tensor '${e.key}': data_offsets begin ${e.begin} leaves a hole after byte ${covered} of the data section`);
    covered = e.end;
    previous = e.key;
  }
  if (covered !== dataLength) fail(`the data section holds ${dataLength} bytes but its tensors cover ${covered}`);

  const tensors = new Map<string, Tensor>();
  for (const e of entries) tensors.set(e.key, decode(bytes, dataStart + e.begin, e.dtype, e.shape));
  return { tensors, metadata };
}

/** Copies one tensor out of the file (a copy, so the file's buffer can be freed and alignment never matters). */
function decode(bytes: Uint8Array, offset: number, dtype: StoredDType, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const raw = (size: number) => bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + n * size);
  switch (dtype) {
    case 'F32':
      return { dtype, shape, data: new Float32Array(raw(4)) };
    case 'I64':
      return { dtype, shape, data: new BigInt64Array(raw(8)) };
    case 'I32':
      return { dtype, shape, data: new Int32Array(raw(4)) };
    case 'U8':
      return { dtype, shape, data: new Uint8Array(raw(1)) };
    case 'F16':
      return { dtype: 'F32', shape, data: decodeFloat16(bytes, offset, n), storedAs: 'F16' };
    case 'BF16':
      return { dtype: 'F32', shape, data: decodeBFloat16(bytes, offset, n), storedAs: 'BF16' };
  }
}

function storedType(key: string, t: TensorToWrite): StoredDType {
  if (t.storeAs === 'F16') {
    if (!(t.data instanceof Float32Array)) throw new Error(`safetensors: tensor '${key}': storeAs F16 needs Float32Array data`);
    return 'F16';
  }
  if (t.data instanceof Float32Array) return 'F32';
  if (t.data instanceof BigInt64Array) return 'I64';
  if (t.data instanceof Int32Array) return 'I32';
  if (t.data instanceof Uint8Array) return 'U8';
  throw new Error(`safetensors: tensor '${key}': data must be a Float32Array, BigInt64Array, Int32Array or Uint8Array`);
}

/** The header and the byte chunks of a file, in order; shared by the in-memory and the file writer. */
function layout(tensors: ReadonlyMap<string, TensorToWrite> | Record<string, TensorToWrite>, metadata: Record<string, string>): Uint8Array[] {
  const list: Array<[string, TensorToWrite]> = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Record<string, TensorToWrite>);
  // Widest elements first, as the reference writer does, so every tensor starts aligned to its element size.
  const items = list.map(([key, t]) => ({ key, t, dtype: storedType(key, t) }));
  items.sort((a, b) => BYTES[b.dtype] - BYTES[a.dtype] || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new Error(`safetensors: metadata '${k}' must be a string`);
    header.__metadata__ = metadata;
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const { key, t, dtype } of items) {
    if (key === '__metadata__') throw new Error(`safetensors: '__metadata__' cannot name a tensor`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || n !== t.data.length) {
      throw new Error(`safetensors: tensor '${key}': shape [${t.shape}] holds ${n} values, data has ${t.data.length}`);
    }
    let chunk: Uint8Array;
    if (dtype === 'F16') {
      const half = new Uint16Array(n);
      const src = t.data as Float32Array;
      for (let i = 0; i < n; i++) half[i] = floatToHalf(src[i]!);
      chunk = new Uint8Array(half.buffer);
    } else {
      chunk = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    }
    header[key] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + chunk.byteLength] };
    offset += chunk.byteLength;
    chunks.push(chunk);
  }
  // Pad the header with spaces to a multiple of 8 so the data section starts aligned.
  let json = JSON.stringify(header);
  const jsonBytes = new TextEncoder().encode(json).byteLength;
  json += ' '.repeat((8 - ((8 + jsonBytes) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  return [prefix, headerBytes, ...chunks];
}

/** Encodes tensors and string metadata as safetensors bytes. */
export function encodeSafetensors(
  tensors: ReadonlyMap<string, TensorToWrite> | Record<string, TensorToWrite>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const chunks = layout(tensors, metadata);
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Writes a safetensors file atomically: the bytes go to a temporary file beside `path`, are flushed to disk,
 * and the temporary file is renamed over `path`, so a crash never leaves a half-written model.
 */
export function writeSafetensors(
  path: string,
  tensors: ReadonlyMap<string, TensorToWrite> | Record<string, TensorToWrite>,
  metadata: Record<string, string> = {},
): void {
  writeFileAtomic(path, layout(tensors, metadata));
}
