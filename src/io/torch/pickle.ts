// A safe unpickler for the pickles torch.save writes (protocols 2 to 5). Python's own unpickler calls whatever
// global a file names, which is how a malicious .pth runs code; this one calls nothing. Globals are looked up in
// an allow-list: containers and torch's tensor rebuilders are reproduced in TypeScript, and the classes of
// pickled modules (torch.nn layers, the tutorial's SSD300, optimizers) become inert records of their __dict__.
// Any other global (os.system, builtins.eval, subprocess.Popen, ...) stops the read with an error naming it.
import { STORAGE_CLASSES, TorchStorage, TorchTensor, type TorchDType } from './tensor.js';

/** A Python value as read from a pickle. dict and OrderedDict are Maps (insertion-ordered); tuples are frozen arrays. */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | Map<PyValue, PyValue>
  | Set<PyValue>
  | PyObject
  | PyGlobal
  | TorchTensor
  | TorchStorage;

/** An instance of an allow-listed class, never constructed: its class name and the state that BUILD gave it. */
export class PyObject {
  /** The instance's attributes (its __dict__), when its state was a dict. */
  readonly dict = new Map<string, PyValue>();
  /** The raw state BUILD received, for states that are not a plain dict. */
  state: PyValue | undefined;

  constructor(
    /** `module.QualName`, e.g. `torch.nn.modules.conv.Conv2d`. */
    readonly className: string,
    /** Arguments NEWOBJ passed to `cls.__new__` (usually none). */
    readonly args: readonly PyValue[],
  ) {}

  /** An attribute from __dict__, or undefined. */
  get(name: string): PyValue | undefined {
    return this.dict.get(name);
  }
}

/** A global the pickle named and the allow-list admitted; what it may do is fixed by `kind`. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly kind: GlobalKind,
  ) {}

  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

type GlobalKind =
  | 'dict'
  | 'ordered-dict'
  | 'default-dict'
  | 'list'
  | 'set'
  | 'frozenset'
  | 'tuple'
  | 'object'
  | 'reconstructor'
  | 'codecs-encode'
  | 'rebuild-tensor'
  | 'rebuild-tensor-v2'
  | 'rebuild-parameter'
  | 'rebuild-parameter-with-state'
  | 'torch-size'
  | 'torch-device'
  | 'inert-call'
  | 'storage'
  | 'dtype'
  | 'class';

/** Options of `unpickle`. */
export interface UnpickleOptions {
  /** Named in errors (the file and entry). */
  name: string;
  /** Called for each persistent id (BINPERSID); torch uses them for storages. Default: refuse persistent ids. */
  persistentLoad?: (pid: PyValue) => PyValue;
  /**
   * Extra classes (`module.Name`) to read as inert records, beyond torch.nn modules, torch.optim optimizers,
   * torchvision models and the tutorial's SSD300 classes. Default none.
   */
  allowClasses?: readonly string[];
}

const CONTAINERS: Record<string, GlobalKind> = {
  'collections.OrderedDict': 'ordered-dict',
  'collections.defaultdict': 'default-dict',
  'builtins.dict': 'dict',
  'builtins.list': 'list',
  'builtins.set': 'set',
  'builtins.frozenset': 'frozenset',
  'builtins.tuple': 'tuple',
  'builtins.object': 'object',
  'copyreg._reconstructor': 'reconstructor',
  '_codecs.encode': 'codecs-encode',
  'torch._utils._rebuild_tensor': 'rebuild-tensor',
  'torch._utils._rebuild_tensor_v2': 'rebuild-tensor-v2',
  'torch._utils._rebuild_parameter': 'rebuild-parameter',
  'torch._utils._rebuild_parameter_with_state': 'rebuild-parameter-with-state',
  'torch.Size': 'torch-size',
  'torch.device': 'torch-device',
  // PyTorch 0.4 (the tutorial's) pickled every module's `_backend` as a call to this; it stands for nothing here.
  'torch.nn.backends.thnn._get_thnn_function_backend': 'inert-call',
};

/** The tutorial's model classes (a-PyTorch-Tutorial-to-Object-Detection, model.py), in whatever module they were saved from. */
const TUTORIAL_CLASSES = new Set(['SSD300', 'VGGBase', 'AuxiliaryConvolutions', 'PredictionConvolutions']);

const TORCH_DTYPES = new Set(['float32', 'float', 'float64', 'double', 'float16', 'half', 'bfloat16', 'int64', 'long', 'int32', 'int', 'int16', 'int8', 'uint8', 'bool']);

/** Python 2 names that protocol-2 pickles written by Python 3 use (pickle's fix_imports). */
const PY2_MODULES: Record<string, string> = { __builtin__: 'builtins', copy_reg: 'copyreg' };

function resolveGlobal(module: string, name: string, options: UnpickleOptions): PyGlobal {
  const mod = PY2_MODULES[module] ?? module;
  const qualified = `${mod}.${name}`;
  const container = CONTAINERS[qualified];
  if (container) return new PyGlobal(mod, name, container);
  if ((mod === 'torch' || mod === 'torch.cuda') && name in STORAGE_CLASSES) return new PyGlobal(mod, name, 'storage');
  if (mod === 'torch' && TORCH_DTYPES.has(name)) return new PyGlobal(mod, name, 'dtype');
  const isClass =
    (mod.startsWith('torch.nn.modules.') && /^[A-Z]/.test(name)) ||
    (mod.startsWith('torch.optim.') && /^[A-Z]/.test(name)) ||
    (mod.startsWith('torchvision.models.') && /^[A-Z]/.test(name)) ||
    (mod.startsWith('torchvision.ops.') && /^[A-Z]/.test(name)) ||
    TUTORIAL_CLASSES.has(name) ||
    (options.allowClasses ?? []).includes(qualified);
  if (isClass) return new PyGlobal(mod, name, 'class');
  throw new Error(
    `pickle '${options.name}': refusing global '${qualified}': it is not on the allow-list of what a PyTorch weights file needs ` +
      `(tensors, containers, torch.nn modules); the file may be malicious, and nothing in it was run`,
  );
}

/** Opcodes (pickletools names). */
const OP = {
  MARK: 0x28, STOP: 0x2e, POP: 0x30, POP_MARK: 0x31, DUP: 0x32, FLOAT: 0x46, INT: 0x49, BININT: 0x4a, BININT1: 0x4b,
  LONG: 0x4c, BININT2: 0x4d, NONE: 0x4e, PERSID: 0x50, BINPERSID: 0x51, REDUCE: 0x52, STRING: 0x53, BINSTRING: 0x54,
  SHORT_BINSTRING: 0x55, UNICODE: 0x56, BINUNICODE: 0x58, APPEND: 0x61, BUILD: 0x62, GLOBAL: 0x63, DICT: 0x64,
  EMPTY_DICT: 0x7d, APPENDS: 0x65, GET: 0x67, BINGET: 0x68, INST: 0x69, LONG_BINGET: 0x6a, LIST: 0x6c,
  EMPTY_LIST: 0x5d, OBJ: 0x6f, PUT: 0x70, BINPUT: 0x71, LONG_BINPUT: 0x72, SETITEM: 0x73, TUPLE: 0x74,
  EMPTY_TUPLE: 0x29, SETITEMS: 0x75, BINFLOAT: 0x47, PROTO: 0x80, NEWOBJ: 0x81, EXT1: 0x82, EXT2: 0x83, EXT4: 0x84,
  TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87, NEWTRUE: 0x88, NEWFALSE: 0x89, LONG1: 0x8a, LONG4: 0x8b,
  BINBYTES: 0x42, SHORT_BINBYTES: 0x43, SHORT_BINUNICODE: 0x8c, BINUNICODE8: 0x8d, BINBYTES8: 0x8e,
  EMPTY_SET: 0x8f, ADDITEMS: 0x90, FROZENSET: 0x91, NEWOBJ_EX: 0x92, STACK_GLOBAL: 0x93, MEMOIZE: 0x94, FRAME: 0x95,
  BYTEARRAY8: 0x96, NEXT_BUFFER: 0x97, READONLY_BUFFER: 0x98,
} as const;

/** Integers longer than this are refused (torch's magic number, the longest a weights file holds, is 10 bytes). */
const MAX_LONG_BYTES = 4096;
const MAX_LONG_DIGITS = 10_000;

const MARK = Symbol('mark');
type StackItem = PyValue | typeof MARK;

/** The result of `unpickle`: the value and the offset just past the STOP opcode (legacy files hold several pickles). */
export interface Unpickled {
  value: PyValue;
  end: number;
}

/**
 * Reads one pickle from `bytes` starting at `offset`. Builds only plain data (see PyValue); every global is
 * checked against the allow-list, and nothing from the file is ever called.
 */
export function unpickle(bytes: Uint8Array, offset: number, options: UnpickleOptions): Unpickled {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: StackItem[] = [];
  const memo = new Map<number, PyValue>();
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let at = offset;

  const fail = (what: string): never => {
    throw new Error(`pickle '${options.name}': ${what} (at byte ${at})`);
  };
  const need = (n: number) => {
    if (n < 0 || at + n > bytes.byteLength) fail(`truncated: needs ${n} more bytes`);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const out = bytes.subarray(at, at + n);
    at += n;
    return out;
  };
  const u8 = () => (need(1), bytes[at++]!);
  const u16 = () => (need(2), (at += 2), view.getUint16(at - 2, true));
  const u32 = () => (need(4), (at += 4), view.getUint32(at - 4, true));
  const i32 = () => (need(4), (at += 4), view.getInt32(at - 4, true));
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(at, true);
    at += 8;
    if (v > BigInt(bytes.byteLength)) fail(`length ${v} is beyond the file`);
    return Number(v);
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) fail('truncated: a text field has no newline');
    const s = new TextDecoder('latin1').decode(bytes.subarray(at, end));
    at = end + 1;
    return s;
  };
  const text = (b: Uint8Array): string => {
    try {
      return utf8.decode(b);
    } catch {
      return fail('a string is not valid UTF-8');
    }
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined) fail('stack underflow');
    if (v === MARK) fail('unexpected MARK');
    return v as PyValue;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) fail('stack underflow');
    return v as PyValue;
  };
  const popMark = (): PyValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail('no MARK on the stack');
    const items = stack.splice(i) as PyValue[];
    items.shift();
    return items;
  };
  const tuple = (items: PyValue[]): PyValue[] => Object.freeze(items) as PyValue[];
  const long = (b: Uint8Array): number | bigint => {
    if (b.byteLength === 0) return 0;
    let v = 0n;
    for (let i = b.byteLength - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.byteLength - 1]! & 0x80) v -= 1n << BigInt(8 * b.byteLength);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const asDict = (v: PyValue, op: string): Map<PyValue, PyValue> => {
    if (v instanceof Map) return v;
    if (v instanceof PyObject) return v.dict as Map<PyValue, PyValue>; // dict subclasses that are modules' records
    return fail(`${op} on a ${describe(v)}, not a dict`);
  };
  const asList = (v: PyValue, op: string): PyValue[] => {
    if (Array.isArray(v) && !Object.isFrozen(v)) return v;
    return fail(`${op} on a ${describe(v)}, not a list`);
  };
  const asGlobal = (v: PyValue, op: string): PyGlobal => {
    if (v instanceof PyGlobal) return v;
    return fail(`${op} needs a class or function, got a ${describe(v)}`);
  };
  const call = (fn: PyGlobal, args: PyValue[]): PyValue => applyGlobal(fn, args, options.name, fail);

  for (;;) {
    const op = u8();
    switch (op) {
      case OP.PROTO: {
        const version = u8();
        if (version > 5) fail(`pickle protocol ${version} is newer than 5`);
        break;
      }
      case OP.FRAME:
        u64(); // frames only group opcodes; the bytes are read in place
        break;
      case OP.STOP:
        if (stack.length !== 1) fail(`STOP with ${stack.length} items on the stack`);
        return { value: pop(), end: at };
      case OP.MARK:
        stack.push(MARK);
        break;
      case OP.POP:
        if (stack.pop() === undefined) fail('stack underflow');
        break;
      case OP.POP_MARK:
        popMark();
        break;
      case OP.DUP:
        stack.push(top());
        break;
      case OP.NONE:
        stack.push(null);
        break;
      case OP.NEWTRUE:
        stack.push(true);
        break;
      case OP.NEWFALSE:
        stack.push(false);
        break;
      case OP.INT: {
        const s = line();
        if (s === '01') stack.push(true);
        else if (s === '00') stack.push(false);
        else {
          const n = Number(s);
          if (!Number.isInteger(n)) fail(`INT '${s}' is not an integer`);
          stack.push(n);
        }
        break;
      }
      case OP.LONG: {
        const s = line().replace(/L$/, '');
        if (s.length > MAX_LONG_DIGITS) fail(`LONG of ${s.length} digits is longer than the ${MAX_LONG_DIGITS} any weights file needs`);
        if (!/^-?\d+$/.test(s)) fail(`LONG '${s}' is not an integer`);
        const v = BigInt(s);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case OP.BININT:
        stack.push(i32());
        break;
      case OP.BININT1:
        stack.push(u8());
        break;
      case OP.BININT2:
        stack.push(u16());
        break;
      case OP.LONG1:
        stack.push(long(take(u8())));
        break;
      case OP.LONG4: {
        const n = i32();
        if (n < 0) fail('negative LONG4 length');
        // Converting n bytes to a BigInt costs n^2: a 10 MB integer would hold the reader for hours.
        if (n > MAX_LONG_BYTES) fail(`LONG4 of ${n} bytes is longer than the ${MAX_LONG_BYTES} any weights file needs`);
        stack.push(long(take(n)));
        break;
      }
      case OP.FLOAT: {
        const n = Number(line());
        stack.push(n);
        break;
      }
      case OP.BINFLOAT:
        need(8);
        stack.push(view.getFloat64(at, false));
        at += 8;
        break;
      case OP.STRING: {
        const s = line();
        const q = s[0];
        if ((q !== "'" && q !== '"') || s[s.length - 1] !== q) fail('STRING is not quoted');
        stack.push(unescapePython(s.slice(1, -1)));
        break;
      }
      case OP.BINSTRING: {
        const n = i32();
        if (n < 0) fail('negative BINSTRING length');
        stack.push(new TextDecoder('latin1').decode(take(n)));
        break;
      }
      case OP.SHORT_BINSTRING:
        stack.push(new TextDecoder('latin1').decode(take(u8())));
        break;
      case OP.UNICODE:
        stack.push(unescapePython(line()));
        break;
      case OP.BINUNICODE:
        stack.push(text(take(u32())));
        break;
      case OP.SHORT_BINUNICODE:
        stack.push(text(take(u8())));
        break;
      case OP.BINUNICODE8:
        stack.push(text(take(u64())));
        break;
      case OP.BINBYTES:
        stack.push(take(u32()).slice());
        break;
      case OP.SHORT_BINBYTES:
        stack.push(take(u8()).slice());
        break;
      case OP.BINBYTES8:
      case OP.BYTEARRAY8:
        stack.push(take(u64()).slice());
        break;
      case OP.EMPTY_LIST:
        stack.push([]);
        break;
      case OP.LIST:
        stack.push(popMark());
        break;
      case OP.APPEND: {
        const v = pop();
        asList(top(), 'APPEND').push(v);
        break;
      }
      case OP.APPENDS: {
        const items = popMark();
        const list = asList(top(), 'APPENDS');
        for (const v of items) list.push(v);
        break;
      }
      case OP.EMPTY_TUPLE:
        stack.push(tuple([]));
        break;
      case OP.TUPLE:
        stack.push(tuple(popMark()));
        break;
      case OP.TUPLE1:
        stack.push(tuple([pop()]));
        break;
      case OP.TUPLE2: {
        const b = pop();
        stack.push(tuple([pop(), b]));
        break;
      }
      case OP.TUPLE3: {
        const c = pop();
        const b = pop();
        stack.push(tuple([pop(), b, c]));
        break;
      }
      case OP.EMPTY_DICT:
        stack.push(new Map());
        break;
      case OP.DICT: {
        const items = popMark();
        if (items.length % 2) fail('DICT with an odd number of items');
        const d = new Map<PyValue, PyValue>();
        for (let i = 0; i < items.length; i += 2) d.set(items[i]!, items[i + 1]!);
        stack.push(d);
        break;
      }
      case OP.SETITEM: {
        const v = pop();
        const k = pop();
        asDict(top(), 'SETITEM').set(k, v);
        break;
      }
      case OP.SETITEMS: {
        const items = popMark();
        if (items.length % 2) fail('SETITEMS with an odd number of items');
        const d = asDict(top(), 'SETITEMS');
        for (let i = 0; i < items.length; i += 2) d.set(items[i]!, items[i + 1]!);
        break;
      }
      case OP.EMPTY_SET:
        stack.push(new Set());
        break;
      case OP.ADDITEMS: {
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail(`ADDITEMS on a ${describe(s)}`);
        for (const v of items) (s as Set<PyValue>).add(v);
        break;
      }
      case OP.FROZENSET:
        stack.push(new Set(popMark()));
        break;
      case OP.GLOBAL: {
        const module = line();
        const name = line();
        stack.push(resolveGlobal(module, name, options));
        break;
      }
      case OP.STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(resolveGlobal(module as string, name as string, options));
        break;
      }
      case OP.REDUCE: {
        const args = pop();
        const fn = asGlobal(pop(), 'REDUCE');
        if (!Array.isArray(args)) fail(`REDUCE arguments are a ${describe(args)}, not a tuple`);
        stack.push(call(fn, args as PyValue[]));
        break;
      }
      case OP.NEWOBJ: {
        const args = pop();
        const cls = asGlobal(pop(), 'NEWOBJ');
        if (!Array.isArray(args)) fail(`NEWOBJ arguments are a ${describe(args)}, not a tuple`);
        stack.push(newObject(cls, args as PyValue[], options.name, fail));
        break;
      }
      case OP.NEWOBJ_EX: {
        pop(); // kwargs
        const args = pop();
        const cls = asGlobal(pop(), 'NEWOBJ_EX');
        if (!Array.isArray(args)) fail('NEWOBJ_EX arguments are not a tuple');
        stack.push(newObject(cls, args as PyValue[], options.name, fail));
        break;
      }
      case OP.INST: {
        const cls = resolveGlobal(line(), line(), options);
        stack.push(newObject(cls, popMark(), options.name, fail));
        break;
      }
      case OP.OBJ: {
        const items = popMark();
        const cls = asGlobal(items.shift() ?? null, 'OBJ');
        stack.push(newObject(cls, items, options.name, fail));
        break;
      }
      case OP.BUILD: {
        const state = pop();
        build(top(), state, fail);
        break;
      }
      case OP.PUT:
        memo.set(Number(line()), top());
        break;
      case OP.BINPUT:
        memo.set(u8(), top());
        break;
      case OP.LONG_BINPUT:
        memo.set(u32(), top());
        break;
      case OP.MEMOIZE:
        memo.set(memo.size, top());
        break;
      case OP.GET:
      case OP.BINGET:
      case OP.LONG_BINGET: {
        const key = op === OP.GET ? Number(line()) : op === OP.BINGET ? u8() : u32();
        if (!memo.has(key)) fail(`memo key ${key} is not defined`);
        stack.push(memo.get(key)!);
        break;
      }
      case OP.BINPERSID:
      case OP.PERSID: {
        const pid = op === OP.PERSID ? line() : pop();
        if (!options.persistentLoad) fail('a persistent id, but this file kind has no external storages');
        stack.push(options.persistentLoad!(pid));
        break;
      }
      case OP.EXT1:
      case OP.EXT2:
      case OP.EXT4:
        fail('extension registry opcodes (EXT1/2/4) are not supported');
        break;
      case OP.NEXT_BUFFER:
      case OP.READONLY_BUFFER:
        fail('out-of-band buffers (protocol 5) are not supported');
        break;
      default:
        fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}

function describe(v: PyValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return Object.isFrozen(v) ? 'tuple' : 'list';
  if (v instanceof Map) return 'dict';
  if (v instanceof Set) return 'set';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PyObject) return `${v.className} object`;
  if (v instanceof PyGlobal) return `global ${v.qualified}`;
  if (v instanceof TorchTensor) return 'tensor';
  if (v instanceof TorchStorage) return 'storage';
  return typeof v;
}

function newObject(cls: PyGlobal, args: PyValue[], name: string, fail: (what: string) => never): PyValue {
  switch (cls.kind) {
    case 'class':
      return new PyObject(cls.qualified, args);
    case 'ordered-dict':
    case 'dict':
    case 'default-dict':
      return new Map();
    case 'set':
      return new Set();
    case 'list':
      return [];
    default:
      return fail(`'${cls.qualified}' cannot be instantiated (in '${name}')`);
  }
}

/** BUILD: sets an object's state. Modules and optimizers keep theirs as a dict of attributes. */
function build(target: PyValue, state: PyValue, fail: (what: string) => never): void {
  if (target instanceof PyObject) {
    target.state = state;
    // A (dict, slots) pair, or a plain dict: both become attributes.
    const parts = Array.isArray(state) && Object.isFrozen(state) && state.length === 2 ? state : [state];
    for (const part of parts) {
      if (part instanceof Map) for (const [k, v] of part) if (typeof k === 'string') target.dict.set(k, v);
    }
    return;
  }
  // OrderedDicts returned by state_dict() carry a `_metadata` attribute (module versions) and parameters
  // rebuilt with state carry theirs; neither affects the values.
  if (target instanceof Map || target instanceof TorchTensor) return;
  fail(`BUILD on a ${describe(target)}`);
}

function asNumbers(v: PyValue, what: string, fail: (what: string) => never): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x))) return fail(`${what} is not a tuple of integers`);
  return v as number[];
}

/** What each allow-listed callable does, reproduced on plain data. */
function applyGlobal(fn: PyGlobal, args: PyValue[], name: string, fail: (what: string) => never): PyValue {
  switch (fn.kind) {
    case 'ordered-dict':
    case 'dict': {
      const d = new Map<PyValue, PyValue>();
      const init = args[0];
      if (init instanceof Map) for (const [k, v] of init) d.set(k, v);
      else if (Array.isArray(init)) {
        for (const pair of init) {
          if (!Array.isArray(pair) || pair.length !== 2) fail(`${fn.qualified} expects (key, value) pairs`);
          d.set((pair as PyValue[])[0]!, (pair as PyValue[])[1]!);
        }
      }
      return d;
    }
    case 'default-dict': {
      // The factory (dict, list, ...) only matters for missing keys, which reading never looks up.
      const factory = args[0];
      if (factory !== undefined && factory !== null && !(factory instanceof PyGlobal)) fail('defaultdict factory is not an allowed global');
      return new Map();
    }
    case 'list':
      return Array.isArray(args[0]) ? [...(args[0] as PyValue[])] : [];
    case 'tuple':
      return Object.freeze(Array.isArray(args[0]) ? [...(args[0] as PyValue[])] : []) as PyValue[];
    case 'set':
    case 'frozenset':
      return new Set(Array.isArray(args[0]) ? (args[0] as PyValue[]) : args[0] instanceof Set ? [...args[0]] : []);
    case 'codecs-encode': {
      // Python 3 bytes in protocol 2: _codecs.encode(text, 'latin1').
      const [s, encoding] = args;
      if (typeof s !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) fail('_codecs.encode is only read for latin1 text');
      return Uint8Array.from(s as string, (c) => c.charCodeAt(0));
    }
    case 'reconstructor': {
      // copyreg._reconstructor(cls, object, None): a plain object of an allowed class.
      const [cls, base] = args;
      if (!(cls instanceof PyGlobal) || cls.kind !== 'class') return fail(`copyreg._reconstructor of a ${describe(cls ?? null)}`);
      if (!(base instanceof PyGlobal) || base.kind !== 'object') return fail(`copyreg._reconstructor with base ${describe(base ?? null)}`);
      return new PyObject(cls.qualified, []);
    }
    case 'rebuild-tensor':
    case 'rebuild-tensor-v2': {
      const [storage, offset, size, stride, requiresGrad] = args;
      if (!(storage instanceof TorchStorage)) return fail(`${fn.qualified}: first argument is a ${describe(storage ?? null)}, not a storage`);
      if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) return fail(`${fn.qualified}: storage offset ${String(offset)} is not a non-negative integer`);
      const shape = asNumbers(size ?? null, `${fn.qualified}: size`, fail);
      const strides = asNumbers(stride ?? null, `${fn.qualified}: stride`, fail);
      if (shape.some((d) => d < 0)) fail(`${fn.qualified}: negative size [${shape}]`);
      return new TorchTensor(storage, offset, shape, strides, requiresGrad === true);
    }
    case 'rebuild-parameter':
    case 'rebuild-parameter-with-state': {
      const [data] = args;
      if (!(data instanceof TorchTensor)) return fail(`${fn.qualified}: data is a ${describe(data ?? null)}, not a tensor`);
      data.parameter = true;
      return data;
    }
    case 'torch-size':
      return Object.freeze(Array.isArray(args[0]) ? [...(args[0] as PyValue[])] : []) as PyValue[];
    case 'torch-device':
      return args.map((a) => String(a)).join(':');
    case 'inert-call':
      return new PyObject(fn.qualified, args);
    default:
      return fail(`'${fn.qualified}' cannot be called (in '${name}')`);
  }
}

/** Python string-literal escapes, enough for protocol-0 STRING/UNICODE fields. */
function unescapePython(s: string): string {
  return s.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)/g, (_, e: string) => {
    if (e.length > 1) return String.fromCodePoint(parseInt(e.slice(1), 16));
    return ({ n: '\n', r: '\r', t: '\t', '\\': '\\', "'": "'", '"': '"' } as Record<string, string>)[e] ?? `\\${e}`;
  });
}

/** The element type a storage class global stands for (`torch.FloatStorage` -> float32). */
export function storageDType(g: PyValue): TorchDType | undefined {
  return g instanceof PyGlobal && g.kind === 'storage' ? STORAGE_CLASSES[g.name] : undefined;
}
