// Storages and tensors as a PyTorch file describes them: a storage is a flat run of little-endian elements of one
// type; a tensor is a strided view of a storage (offset, shape, strides, all in elements). The unpickler creates
// these as references; the loader attaches storage bytes; `values()` gathers a tensor into a row-major array.
import { decodeBFloat16, decodeFloat16 } from '../float16.js';

/** Element types of PyTorch storages, by torch's dtype names. */
export type TorchDType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** The storage classes torch.save names in a pickle (`torch.FloatStorage`, ...) and their element types. */
export const STORAGE_CLASSES: Readonly<Record<string, TorchDType>> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

/** Bytes per element. */
export const ELEMENT_BYTES: Readonly<Record<TorchDType, number>> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** Tensor values in memory: float types widen or narrow to float32, int64 stays 64-bit, smaller ints widen to int32. */
export type TensorValues = Float32Array | BigInt64Array | Int32Array | Uint8Array;

/** A storage named by a file: `key` (its name in the archive or legacy file), element type and count. */
export class TorchStorage {
  private raw: Uint8Array | undefined;
  private decoded: TensorValues | undefined;

  constructor(
    readonly key: string,
    readonly dtype: TorchDType,
    readonly numel: number,
    readonly location: string,
    /** For a legacy view of another storage: that storage and the element offset of the view. */
    readonly viewOf?: { storage: TorchStorage; offset: number },
  ) {}

  /** Attaches the storage's bytes (the loader does this); fewer than numel elements is a truncated storage. */
  attach(bytes: Uint8Array, file: string): void {
    const need = this.numel * ELEMENT_BYTES[this.dtype];
    if (bytes.byteLength < need) {
      throw new Error(`torch file '${file}': storage '${this.key}' is truncated: ${bytes.byteLength} bytes of the ${need} that ${this.numel} ${this.dtype} elements need`);
    }
    this.raw = bytes.subarray(0, need);
  }

  /** The storage's raw bytes; throws when the loader found none. */
  bytes(): Uint8Array {
    if (this.viewOf) {
      const size = ELEMENT_BYTES[this.dtype];
      const root = this.viewOf.storage.bytes();
      const begin = this.viewOf.offset * size;
      if (begin + this.numel * size > root.byteLength) throw new Error(`storage view '${this.key}' reaches past its storage '${this.viewOf.storage.key}'`);
      return root.subarray(begin, begin + this.numel * size);
    }
    if (!this.raw) throw new Error(`storage '${this.key}' has no data`);
    return this.raw;
  }

  /** Every element, decoded once and cached. */
  values(): TensorValues {
    if (!this.decoded) this.decoded = decodeElements(this.bytes(), this.dtype, this.numel);
    return this.decoded;
  }
}

function decodeElements(bytes: Uint8Array, dtype: TorchDType, n: number): TensorValues {
  // Copy to a fresh buffer: the file's bytes may sit at any alignment.
  const copy = (size: number) => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + n * size);
  switch (dtype) {
    case 'float32':
      return new Float32Array(copy(4));
    case 'float64':
      return Float32Array.from(new Float64Array(copy(8)));
    case 'float16':
      return decodeFloat16(bytes, 0, n);
    case 'bfloat16':
      return decodeBFloat16(bytes, 0, n);
    case 'int64':
      return new BigInt64Array(copy(8));
    case 'int32':
      return new Int32Array(copy(4));
    case 'int16':
      return Int32Array.from(new Int16Array(copy(2)));
    case 'int8':
      return Int32Array.from(new Int8Array(copy(1)));
    case 'uint8':
    case 'bool':
      return new Uint8Array(copy(1));
  }
}

/** A tensor: a strided view of a storage. `parameter` is true for an `nn.Parameter`. */
export class TorchTensor {
  private cached: TensorValues | undefined;

  constructor(
    readonly storage: TorchStorage,
    readonly storageOffset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
    readonly requiresGrad: boolean,
    public parameter = false,
  ) {}

  /** The values, row-major (see `values()`). */
  get data(): TensorValues {
    return this.values();
  }

  /** The storage's element type. */
  get dtype(): TorchDType {
    return this.storage.dtype;
  }

  /** Number of elements. */
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /**
   * The values, row-major in `shape` (strides and storage offset applied; float16/bfloat16/float64 as float32).
   * Throws, naming the storage, when the view reaches outside its storage.
   */
  values(): TensorValues {
    if (this.cached) return this.cached;
    const { shape, stride, storageOffset: offset } = this;
    const n = this.numel;
    if (shape.length !== stride.length) throw new Error(`tensor on storage '${this.storage.key}': shape [${shape}] and strides [${stride}] differ in length`);
    if (n > 0) {
      let last = offset;
      let first = offset;
      for (let d = 0; d < shape.length; d++) {
        if (stride[d]! >= 0) last += (shape[d]! - 1) * stride[d]!;
        else first += (shape[d]! - 1) * stride[d]!;
      }
      if (first < 0 || last >= this.storage.numel) {
        throw new Error(
          `tensor of shape [${shape}] (offset ${offset}, strides [${stride}]) reads element ${first < 0 ? first : last} of storage '${this.storage.key}', which holds ${this.storage.numel}`,
        );
      }
    }
    const all = this.storage.values();
    const Out = all.constructor as new (n: number) => TensorValues;
    let contiguous = true;
    for (let d = shape.length - 1, expect = 1; d >= 0; d--) {
      if (shape[d] !== 1 && stride[d] !== expect) contiguous = false;
      expect *= shape[d]!;
    }
    let out: TensorValues;
    if (contiguous) out = all.slice(offset, offset + n) as TensorValues;
    else {
      out = new Out(n);
      const rank = shape.length;
      const index = new Array<number>(rank).fill(0);
      let at = offset;
      for (let i = 0; i < n; i++) {
        (out as Float32Array)[i] = (all as Float32Array)[at]!;
        // Odometer over the indices, innermost fastest.
        for (let d = rank - 1; d >= 0; d--) {
          if (++index[d]! < shape[d]!) {
            at += stride[d]!;
            break;
          }
          at -= (shape[d]! - 1) * stride[d]!;
          index[d] = 0;
        }
      }
    }
    this.cached = out;
    return out;
  }
}
