// What a model file is, told from its first bytes and its stat before anything else reads it: a user who gives an
// ONNX file where a safetensors file is expected should hear that, not that "a header length runs beyond the file",
// and /dev/zero, a FIFO or a directory must be refused before a single byte is read, not read until memory runs out.
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';

/** The kinds of file `detectModelFileKind` tells apart. */
export type ModelFileKind = 'safetensors' | 'onnx' | 'torch-zip' | 'torch-pickle' | 'torch-tar' | 'unknown';

/** Model files larger than this are refused unless the caller raises the limit (Node reads at most 4 GiB at once). */
export const DEFAULT_MAX_MODEL_FILE_BYTES = 2 ** 31;

/** Options of `readModelFile` and the readers that use it. */
export interface ModelFileOptions {
  /** The largest file read, in bytes. Default DEFAULT_MAX_MODEL_FILE_BYTES (2 GiB). */
  maxBytes?: number;
}

/** A model file's bytes and what they are. */
export interface ModelFile {
  bytes: Uint8Array;
  kind: ModelFileKind;
}

/** safetensors headers are refused beyond this (the reference implementation's limit is 100 MB). */
export const MAX_SAFETENSORS_HEADER_BYTES = 100_000_000;

/** How each kind is named in messages ("x is <this>, not ..."). */
export function describeModelFileKind(kind: ModelFileKind): string {
  switch (kind) {
    case 'safetensors':
      return 'a safetensors model file';
    case 'onnx':
      return 'an ONNX model file';
    case 'torch-zip':
      return 'a zip archive (the torch.save format of PyTorch 1.6 and later)';
    case 'torch-pickle':
      return 'a Python pickle (the legacy torch.save format)';
    case 'torch-tar':
      return 'a tar archive (the torch.save format of PyTorch before 0.4)';
    case 'unknown':
      return 'not a model file format ssd-ts knows';
  }
}

/**
 * The error for a file of the wrong kind: "`name` is an ONNX model file, not a safetensors model file: `hint`".
 * `hint` says what to give instead.
 */
export function wrongKindError(name: string, found: ModelFileKind, wanted: string, hint: string): Error {
  return new Error(`${name} is ${describeModelFileKind(found)}, not ${wanted}: ${hint}`);
}

/**
 * What a file is, from its first bytes (`head`; 64 KiB are plenty) and its total size in bytes (default the
 * head's length). A heuristic for messages and dispatch, not a validation: each reader still checks everything.
 */
export function detectModelFileKind(head: Uint8Array, size = head.byteLength): ModelFileKind {
  if (head.byteLength >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'torch-zip';
  if (head.byteLength >= 9 && head[8] === 0x7b /* '{' */) {
    // An 8-byte little-endian header length, then the JSON header; a cut-short file is still a safetensors file.
    const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
    if (n >= 2n && n <= BigInt(MAX_SAFETENSORS_HEADER_BYTES)) return 'safetensors';
  }
  if (head.byteLength >= 2 && head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5) return 'torch-pickle';
  if (head.byteLength >= 262 && String.fromCharCode(...head.subarray(257, 262)) === 'ustar') return 'torch-tar';
  if (looksLikeOnnxModel(head, size)) return 'onnx';
  return 'unknown';
}

/** ONNX ModelProto's fields: number -> protobuf wire type (0 varint, 2 length-delimited). */
const MODEL_PROTO_FIELDS = new Map<number, number>([
  [1, 0], // ir_version
  [2, 2], // producer_name
  [3, 2], // producer_version
  [4, 2], // domain
  [5, 0], // model_version
  [6, 2], // doc_string
  [7, 2], // graph
  [8, 2], // opset_import
  [14, 2], // metadata_props
  [20, 2], // training_info
  [25, 2], // functions
]);

/**
 * Whether the bytes parse as the start of an ONNX ModelProto: a run of protobuf fields that are all ModelProto
 * fields with their wire types, lengths within the file, and among them an ir_version between 1 and 100.
 * Exporters (torch.onnx, onnx's Python API, protobufjs) write ir_version first.
 */
function looksLikeOnnxModel(head: Uint8Array, size: number): boolean {
  let at = 0;
  let fields = 0;
  let irVersion = false;
  const varint = (): number | undefined => {
    let v = 0;
    for (let shift = 0; shift < 63; shift += 7) {
      if (at >= head.byteLength) return undefined;
      const b = head[at++]!;
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
    }
    return undefined;
  };
  while (at < head.byteLength && fields < 16) {
    const tag = varint();
    if (tag === undefined) break;
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (MODEL_PROTO_FIELDS.get(field) !== wire) return false;
    const value = varint();
    if (value === undefined) break;
    if (field === 1) {
      if (value < 1 || value > 100) return false;
      irVersion = true;
    }
    if (wire === 2) {
      if (value > size - at) return false;
      at += value;
    }
    fields++;
  }
  return irVersion;
}

function fileType(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Bytes as people read them: 1.5 GiB, 300 MiB, 12 KiB, 7 bytes. */
export function formatBytes(n: number): string {
  for (const [unit, size] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) {
    if (n >= size) return `${Number((n / size).toPrecision(3))} ${unit}`;
  }
  return `${n} byte${n === 1 ? '' : 's'}`;
}

/** How `checkRegularFile` and `readRegularFile` name the file and its limit in messages. */
export interface FileLimit {
  /** The largest file read, in bytes. */
  maxBytes: number;
  /** What the file should be, e.g. 'model file', 'annotation file'. Default 'model file'. */
  what?: string;
  /** The option that raises the limit, named in the message. Default 'maxBytes'. */
  option?: string;
}

function article(noun: string): string {
  return /^[aeiou]/i.test(noun) ? `an ${noun}` : `a ${noun}`;
}

function checkStat(path: string, st: Stats, limit: FileLimit): void {
  const what = limit.what ?? 'model file';
  if (!st.isFile()) throw new Error(`${path} is ${fileType(st)}, not ${article(what)}`);
  if (st.size > limit.maxBytes) {
    throw new Error(`${path} is ${formatBytes(st.size)}, more than the ${formatBytes(limit.maxBytes)} ${article(what)} may have (the ${limit.option ?? 'maxBytes'} option raises the limit)`);
  }
}

/**
 * Checks that `path` is a regular file within the limit, without opening it (opening a FIFO blocks, reading
 * /dev/zero never ends). Returns its stat. Errors name the file and say what it is.
 */
export function checkRegularFile(path: string, limit: FileLimit): Stats {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${path}: no such file`);
    if (code === 'EACCES') throw new Error(`${path}: permission denied`);
    throw new Error(`${path}: cannot read it (${(e as Error).message})`);
  }
  checkStat(path, st, limit);
  return st;
}

/**
 * Reads a whole file after `checkRegularFile`, exactly as many bytes as it had when checked (a file that grows
 * while read, or is swapped for a device, cannot make the read go on). Errors name the file.
 */
export function readRegularFile(path: string, limit: FileLimit): Uint8Array {
  checkRegularFile(path, limit);
  // O_NONBLOCK: if the path was swapped for a FIFO since the stat, opening it must not wait for a writer.
  const fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const st = fstatSync(fd);
    checkStat(path, st, limit);
    const bytes = new Uint8Array(st.size);
    let done = 0;
    while (done < st.size) {
      const n = readSync(fd, bytes, done, Math.min(st.size - done, 2 ** 30), null);
      if (n === 0) throw new Error(`${path}: the file shrank while it was read (${done} of ${st.size} bytes)`);
      done += n;
    }
    return bytes;
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a model file (safetensors, ONNX, PyTorch) after checking that it is a regular file within the size
 * limit, and tells what it is. Errors name the file and what is wrong.
 */
export function readModelFile(path: string, options: ModelFileOptions = {}): ModelFile {
  const bytes = readRegularFile(path, { maxBytes: options.maxBytes ?? DEFAULT_MAX_MODEL_FILE_BYTES });
  return { bytes, kind: detectModelFileKind(bytes.subarray(0, 65536), bytes.byteLength) };
}
