// Reads the files torch.save writes, without Python and without running anything in them:
// - the zip format (PyTorch 1.6+): `<dir>/data.pkl` (the object pickle) and `<dir>/data/<key>` (one raw storage each);
// - the legacy format (before 1.6, or `_use_new_zipfile_serialization=False`): five things back to back, the magic
//   number, the protocol version and a sys_info dict (three small pickles), the object pickle, a pickled list of
//   storage keys, then for each key an 8-byte little-endian element count and the storage's raw bytes.
// In both, the object pickle names storages by persistent id ('storage', torch.FloatStorage, key, location, numel).
import { detectModelFileKind, formatBytes, readModelFile, wrongKindError, type ModelFileKind, type ModelFileOptions } from '../file-kind.js';
import { PyGlobal, PyObject, storageDType, unpickle, type PyValue } from './pickle.js';
import { ELEMENT_BYTES, TorchStorage, TorchTensor } from './tensor.js';
import { ZipArchive, type ZipOptions } from './zip.js';

/** What `loadTorchFile` returns: the unpickled object with every tensor's values read and checked. */
export interface TorchFile {
  format: 'zip' | 'legacy';
  /** The saved object: a state_dict (Map of name -> TorchTensor), a checkpoint dict, a PyObject module... */
  root: PyValue;
}

/** Options of `loadTorchFile`. */
export interface LoadTorchOptions extends ModelFileOptions, ZipOptions {
  /** Named in errors; default the path, or '<buffer>'. */
  name?: string;
  /** Extra classes (`module.Name`) to admit as inert records (see UnpickleOptions.allowClasses). Default none. */
  allowClasses?: readonly string[];
  /**
   * The most bytes the file's tensors may take once read (float16 widened, views copied). Default four times the
   * bytes of its storages plus 64 MiB: a tensor that repeats one element a billion times through a zero stride
   * is refused.
   */
  maxTensorBytes?: number;
}

/** What to give instead of a file of another kind, for the "is not a PyTorch file" error. */
function insteadOfTorch(kind: ModelFileKind): string {
  if (kind === 'safetensors') return 'an ssd-ts model file needs no import: use it as it is (--weights)';
  if (kind === 'onnx') return 'give the PyTorch .pth file the ONNX model was exported from';
  return 'give a file written by torch.save (.pth, .pt, .pth.tar)';
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/**
 * Reads a PyTorch `.pth`/`.pt`/`.pth.tar` file (zip or legacy format). Tensors in the result are TorchTensor
 * objects whose `data` is already materialised (storage offset and strides applied, float16 widened to float32).
 * Errors name the file and what is wrong: a refused global, a missing or truncated storage, a corrupt archive.
 */
export function loadTorchFile(source: string | Uint8Array, options: LoadTorchOptions = {}): TorchFile {
  const name = options.name ?? (typeof source === 'string' ? source : '<buffer>');
  const { bytes, kind } = typeof source === 'string' ? readModelFile(source, options) : { bytes: source, kind: detectModelFileKind(source.subarray(0, 65536), source.byteLength) };
  let file: TorchFile;
  if (kind === 'torch-zip') file = { format: 'zip', root: loadZip(bytes, name, options) };
  else if (kind === 'torch-tar') {
    throw new Error(`torch file '${name}': the tar format of PyTorch before 0.4 is not supported; re-save it with a newer torch.save`);
  } else if (kind === 'torch-pickle' || bytes[0] === 0x80) file = { format: 'legacy', root: loadLegacy(bytes, name, options) };
  else if (kind !== 'unknown') throw wrongKindError(name, kind, 'a PyTorch weights file', insteadOfTorch(kind));
  else if (bytes.byteLength === 0) throw new Error(`torch file '${name}': the file is empty`);
  else throw new Error(`torch file '${name}': neither a zip archive nor a legacy torch.save pickle (first byte 0x${(bytes[0] ?? 0).toString(16)})`);
  materialise(file.root, name, options.maxTensorBytes);
  return file;
}

/** Parses a storage persistent id: ('storage', storage_class, key, location, numel[, view_metadata]). */
function parseStoragePid(pid: PyValue, name: string) {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
    throw new Error(`torch file '${name}': persistent id ${JSON.stringify(String(pid))} is not a storage reference`);
  }
  const [, cls, key, location, numel, view] = pid as PyValue[];
  const dtype = storageDType(cls ?? null);
  if (!dtype) throw new Error(`torch file '${name}': storage ${String(key)} has unknown storage type`);
  if (typeof key !== 'string' || typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) {
    throw new Error(`torch file '${name}': storage reference with key ${String(key)} and size ${String(numel)} is malformed`);
  }
  return { dtype, key, location: String(location), numel, view: view ?? null };
}

function loadZip(bytes: Uint8Array, name: string, options: LoadTorchOptions): PyValue {
  const zip = new ZipArchive(bytes, name, options);
  const pkl = [...zip.entries.keys()].find((k) => /^[^/]+\/data\.pkl$/.test(k));
  if (!pkl) throw new Error(`torch file '${name}': the archive has no <dir>/data.pkl (entries: ${[...zip.entries.keys()].slice(0, 5).join(', ')})`);
  const dir = pkl.slice(0, -'data.pkl'.length);
  if (zip.has(`${dir}byteorder`)) {
    const order = new TextDecoder().decode(zip.read(`${dir}byteorder`)).trim();
    if (order !== 'little') throw new Error(`torch file '${name}': byte order '${order}' is not supported (only little-endian)`);
  }
  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: PyValue): PyValue => {
    const { dtype, key, location, numel } = parseStoragePid(pid, name);
    let storage = storages.get(key);
    if (!storage) {
      storage = new TorchStorage(key, dtype, numel, location);
      const entry = `${dir}data/${key}`;
      if (!zip.has(entry)) throw new Error(`torch file '${name}': storage '${key}' is missing from the archive (no ${entry})`);
      storage.attach(zip.read(entry), name);
      storages.set(key, storage);
    }
    return storage;
  };
  return unpickle(zip.read(pkl), 0, { name: `${name}:${pkl}`, persistentLoad, allowClasses: options.allowClasses }).value;
}

function loadLegacy(bytes: Uint8Array, name: string, options: LoadTorchOptions): PyValue {
  const small = { name, allowClasses: options.allowClasses };
  const magic = unpickle(bytes, 0, small);
  if (magic.value !== LEGACY_MAGIC) throw new Error(`torch file '${name}': a pickle, but not a torch.save file (no torch magic number)`);
  const protocol = unpickle(bytes, magic.end, small);
  if (protocol.value !== LEGACY_PROTOCOL) throw new Error(`torch file '${name}': legacy protocol ${String(protocol.value)} is not ${LEGACY_PROTOCOL}`);
  const sysInfo = unpickle(bytes, protocol.end, small);
  if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false) {
    throw new Error(`torch file '${name}': written on a big-endian machine, which is not supported`);
  }

  const roots = new Map<string, TorchStorage>();
  const persistentLoad = (pid: PyValue): PyValue => {
    // Legacy files name each nn.Module class once as ('module', class, source_file, source) so that torch.load
    // could warn when the source changed; the class (already checked by the allow-list) is all that is used.
    if (Array.isArray(pid) && pid[0] === 'module' && pid.length === 4) {
      const cls = pid[1];
      if (!(cls instanceof PyGlobal) || cls.kind !== 'class') throw new Error(`torch file '${name}': module reference to a ${String(cls)} is not a class`);
      return cls;
    }
    const { dtype, key, location, numel, view } = parseStoragePid(pid, name);
    let root = roots.get(key);
    if (!root) {
      root = new TorchStorage(key, dtype, numel, location);
      roots.set(key, root);
    }
    if (view === null) return root;
    // Storages of torch < 1.0 could be views of others: (view_key, element offset, element count).
    if (!Array.isArray(view) || view.length !== 3) throw new Error(`torch file '${name}': storage '${key}' has malformed view metadata`);
    const [viewKey, offset, size] = view;
    if (typeof offset !== 'number' || typeof size !== 'number' || offset < 0 || offset + size > numel) {
      throw new Error(`torch file '${name}': storage view '${String(viewKey)}' [${String(offset)}, +${String(size)}) lies outside storage '${key}' of ${numel} elements`);
    }
    return new TorchStorage(String(viewKey), dtype, size, location, { storage: root, offset });
  };
  const object = unpickle(bytes, sysInfo.end, { ...small, persistentLoad });
  const keys = unpickle(bytes, object.end, small);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) {
    throw new Error(`torch file '${name}': the storage key list after the object is not a list of strings`);
  }
  let at = keys.end;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys.value as string[]) {
    const storage = roots.get(key);
    if (!storage) throw new Error(`torch file '${name}': storage '${key}' is listed but no tensor uses it`);
    if (at + 8 > bytes.byteLength) throw new Error(`torch file '${name}': storage '${key}' is truncated: its size field is missing at byte ${at}`);
    const count = view.getBigInt64(at, true);
    if (count !== BigInt(storage.numel)) throw new Error(`torch file '${name}': storage '${key}' holds ${count} elements, its reference says ${storage.numel}`);
    const size = storage.numel * ELEMENT_BYTES[storage.dtype];
    storage.attach(bytes.subarray(at + 8, Math.min(at + 8 + size, bytes.byteLength)), name);
    at += 8 + size;
  }
  for (const [key] of roots) if (!(keys.value as string[]).includes(key)) throw new Error(`torch file '${name}': storage '${key}' is used but its data is missing`);
  return object.value;
}

/** Bytes per element of a tensor's values once read (see TorchTensor.values: floats as float32, small ints as int32). */
function valueBytes(t: TorchTensor): number {
  return t.dtype === 'int64' ? 8 : t.dtype === 'uint8' || t.dtype === 'bool' ? 1 : 4;
}

/**
 * Reads every tensor's values once, so that a bad view or a missing storage is found at load time. The bytes the
 * values take, all tensors together, must stay within `maxBytes` (default four times the bytes of the storages
 * plus 64 MiB), checked before anything is read.
 */
function materialise(root: PyValue, name: string, maxBytes: number | undefined): void {
  const tensors: TorchTensor[] = [];
  const seen = new Set<object>();
  const todo: PyValue[] = [root];
  while (todo.length > 0) {
    const v = todo.pop()!;
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if (v instanceof TorchTensor) tensors.push(v);
    else if (Array.isArray(v) || v instanceof Set) for (const x of v) todo.push(x);
    else if (v instanceof Map) for (const [k, x] of v) todo.push(k, x);
    else if (v instanceof PyObject) {
      for (const x of v.dict.values()) todo.push(x);
      if (v.state !== undefined) todo.push(v.state);
    }
  }
  const storages = new Set(tensors.map((t) => t.storage));
  const limit = maxBytes ?? 4 * [...storages].reduce((a, s) => a + s.numel * ELEMENT_BYTES[s.dtype], 0) + 64 * 2 ** 20;
  let total = 0;
  for (const t of tensors) {
    total += t.numel * valueBytes(t);
    // `!(<=)` also catches a shape whose element count overflows to Infinity or NaN.
    if (!(total <= limit)) {
      throw new Error(
        `torch file '${name}': its tensors take more than ${formatBytes(limit)} once read (a tensor of shape [${t.shape}] on storage '${t.storage.key}' ` +
          `of ${t.storage.numel} elements brings them to ${formatBytes(total)}); raise maxTensorBytes if the file is genuine`,
      );
    }
  }
  for (const t of tensors) {
    try {
      t.values();
    } catch (e) {
      throw new Error(`torch file '${name}': ${(e as Error).message}`);
    }
  }
}
