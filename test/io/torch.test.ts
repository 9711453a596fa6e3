// The PyTorch reader on files made by Debian's PyTorch (scripts/make-torch-fixtures.py) and on hand-made pickles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTorchFile } from '../../src/io/torch/load.js';
import { PyObject, unpickle, type PyValue } from '../../src/io/torch/pickle.js';
import { TorchTensor } from '../../src/io/torch/tensor.js';
import { ZipArchive } from '../../src/io/torch/zip.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'torch');
const fixture = (name: string) => join(dir, name);

function tensor(v: PyValue | undefined): TorchTensor {
  assert.ok(v instanceof TorchTensor, `expected a tensor, got ${String(v)}`);
  return v;
}

for (const format of ['zip', 'legacy'] as const) {
  test(`${format} format: dtypes, strides, storage offsets, parameters and plain values`, () => {
    const file = loadTorchFile(fixture(`tensors_${format}.pth`));
    assert.equal(file.format, format);
    const root = file.root as Map<string, PyValue>;
    assert.ok(root instanceof Map);
    const t = (k: string) => tensor(root.get(k));
    assert.deepEqual([...t('contiguous').data], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    // a.t(): strides (1, 4) over the same storage.
    const tr = t('transposed');
    assert.deepEqual(tr.shape, [4, 3]);
    assert.deepEqual(tr.stride, [1, 4]);
    assert.deepEqual([...tr.data], [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    // a[1:, 1:3]: offset 5, strides (4, 1).
    const sl = t('sliced');
    assert.equal(sl.storageOffset, 5);
    assert.deepEqual([...sl.data], [5, 6, 9, 10]);
    assert.equal(sl.storage, t('contiguous').storage, 'views share one storage');
    assert.equal(t('half').dtype, 'float16');
    assert.deepEqual([...t('half').data], [1, -2, 0.5, 65504, 2 ** -24, 0.333251953125]);
    assert.deepEqual([...t('bfloat16').data], [1, -3.140625]);
    assert.deepEqual([...t('double').data], [Math.fround(0.1), -1e10]);
    assert.deepEqual([...t('long').data], [-2n, 0n, 2n ** 40n]);
    assert.deepEqual([...t('int').data], [-7, 8]);
    assert.deepEqual(t('int').shape, [1, 2]);
    assert.deepEqual([...t('short').data], [-300]);
    assert.deepEqual([...t('byte').data], [0, 255]);
    assert.deepEqual([...t('bool').data], [1, 0, 1]);
    assert.deepEqual(t('scalar').shape, []);
    assert.deepEqual([...t('scalar').data], [3.5]);
    assert.deepEqual(t('empty').shape, [0, 3]);
    assert.equal(t('empty').data.length, 0);
    assert.equal(t('parameter').parameter, true);
    assert.equal(t('contiguous').parameter, false);
    assert.deepEqual([...t('parameter').data], [1.5, 2.5]);
    const nested = root.get('nested') as Map<string, PyValue>;
    assert.equal(nested.get('epoch'), 7);
    assert.equal(nested.get('name'), 'ssd');
    assert.equal(nested.get('ratio'), 0.25);
    assert.deepEqual(nested.get('flags'), [true, null]);
    assert.deepEqual(nested.get('pair'), [1, 'two']);
    assert.ok(Object.isFrozen(nested.get('pair')), 'tuples are frozen arrays');
  });

  test(`${format} format: the tutorial's whole-model checkpoint reads as inert records`, () => {
    const root = loadTorchFile(fixture(`tutorial_checkpoint_${format}.pth.tar`)).root as Map<string, PyValue>;
    assert.deepEqual([...root.keys()], ['epoch', 'model', 'optimizer']);
    assert.equal(root.get('epoch'), 12);
    const model = root.get('model') as PyObject;
    assert.ok(model instanceof PyObject);
    assert.equal(model.className, 'model.SSD300');
    assert.equal(model.get('n_classes'), 3);
    const modules = model.get('_modules') as Map<string, PyValue>;
    assert.deepEqual([...modules.keys()], ['base', 'aux_convs', 'pred_convs']);
    const base = modules.get('base') as PyObject;
    assert.equal(base.className, 'model.VGGBase');
    const conv = (base.get('_modules') as Map<string, PyValue>).get('conv1_1') as PyObject;
    assert.equal(conv.className, 'torch.nn.modules.conv.Conv2d');
    assert.deepEqual(conv.get('kernel_size'), [3, 3]);
    if (format === 'legacy') {
      // Written as PyTorch 0.4 did: each module's _backend is a call to a torch function, kept as an inert record.
      const backend = conv.get('_backend') as PyObject;
      assert.ok(backend instanceof PyObject);
      assert.equal(backend.className, 'torch.nn.backends.thnn._get_thnn_function_backend');
    }
    const weight = tensor((conv.get('_parameters') as Map<string, PyValue>).get('weight'));
    assert.deepEqual(weight.shape, [2, 3, 3, 3]);
    assert.equal(weight.parameter, true);
    const rescale = tensor((model.get('_parameters') as Map<string, PyValue>).get('rescale_factors'));
    // 20, after one SGD step with zero gradient and weight decay 5e-4 at lr 1e-3.
    for (const v of rescale.data as Float32Array) assert.ok(Math.abs(v - 20 * (1 - 1e-3 * 5e-4)) < 2e-6, String(v));
    // The optimizer's momentum buffers are keyed by the very parameter objects the model holds (pickle memo).
    const optimizer = root.get('optimizer') as PyObject;
    assert.equal(optimizer.className, 'torch.optim.sgd.SGD');
    const defaults = optimizer.get('defaults') as Map<string, PyValue>;
    assert.equal(defaults.get('lr'), 0.001);
    assert.equal(defaults.get('momentum'), 0.9);
    const state = optimizer.get('state') as Map<PyValue, PyValue>;
    assert.equal(state.size, 71);
    assert.ok(state.has(weight), 'state is keyed by the same tensor object as the model parameter');
    // After one step with zero gradients the momentum buffer is weight_decay * w.
    const momentum = tensor((state.get(weight) as Map<string, PyValue>).get('momentum_buffer'));
    const w = weight.data as Float32Array;
    const m = momentum.data as Float32Array;
    for (let i = 0; i < w.length; i++) assert.ok(Math.abs(m[i]! - 5e-4 * w[i]! / (1 - 1e-3 * 5e-4)) < 1e-9);
  });
}

test('zip and legacy files of the same state_dict read to the same values', () => {
  const a = loadTorchFile(fixture('ssd300_state_dict_zip.pth')).root as Map<string, TorchTensor>;
  const b = loadTorchFile(fixture('ssd300_state_dict_legacy.pth')).root as Map<string, TorchTensor>;
  assert.equal(a.size, 71);
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [k, t] of a) {
    assert.deepEqual(t.shape, b.get(k)!.shape, k);
    assert.deepEqual(t.data, b.get(k)!.data, k);
  }
});

test('hostile pickles are refused, naming the global, and nothing runs', () => {
  const cases: Array<[string, RegExp]> = [
    ['hostile_os_system.pth', /refusing global 'posix\.system'/],
    ['hostile_eval_legacy.pth', /refusing global 'builtins\.eval'/],
    ['hostile_class.pth', /refusing global 'evil\.Payload'/],
    ['hostile_raw.pkl', /refusing global 'posix\.system'/],
  ];
  for (const [name, pattern] of cases) {
    assert.throws(() => loadTorchFile(fixture(name)), (e: Error) => {
      assert.match(e.message, pattern, name);
      assert.match(e.message, new RegExp(name.replace('.', '\\.')), 'the error names the file');
      assert.match(e.message, /nothing in it was run/);
      return true;
    });
  }
  // The payloads would have created this file in the working directory.
  assert.equal(existsSync('ssd-import-pwned'), false);
});

/** Bytes of a pickle written as text, with \xNN escapes. */
function bytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

test('every way a pickle can name a global goes through the allow-list', () => {
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['GLOBAL + REDUCE (protocol 0)', bytes("cos\nsystem\n(S'ls'\ntR."), /refusing global 'os\.system'/],
    ['STACK_GLOBAL (protocol 4)', bytes('\x80\x04\x8c\x0asubprocess\x94\x8c\x05Popen\x94\x93\x94.'), /refusing global 'subprocess\.Popen'/],
    ['INST', bytes("(S'ls'\nios\nsystem\n."), /refusing global 'os\.system'/],
    ['Python 2 builtins via fix_imports', bytes('\x80\x02c__builtin__\nexec\nq\x00.'), /refusing global 'builtins\.exec'/],
    ['getattr', bytes('\x80\x02cbuiltins\ngetattr\n.'), /refusing global 'builtins\.getattr'/],
    ['torch functions that are not rebuilders', bytes('\x80\x02ctorch\nload\n.'), /refusing global 'torch\.load'/],
    ['numpy', bytes('\x80\x02cnumpy.core.multiarray\n_reconstruct\n.'), /refusing global 'numpy\.core\.multiarray\._reconstruct'/],
  ];
  for (const [what, data, pattern] of cases) {
    assert.throws(() => unpickle(data, 0, { name: 'hand-made' }), pattern, what);
  }
  // An allowed class cannot be called through REDUCE, only instantiated as a record.
  assert.throws(
    () => unpickle(bytes('\x80\x02ctorch.nn.modules.conv\nConv2d\n)R.'), 0, { name: 'hand-made' }),
    /'torch\.nn\.modules\.conv\.Conv2d' cannot be called/,
  );
  // A persistent id in a file kind without storages.
  assert.throws(() => unpickle(bytes('\x80\x02X\x01\x00\x00\x00aQ.'), 0, { name: 'hand-made' }), /persistent id/);
  // Truncation and garbage.
  assert.throws(() => unpickle(bytes('\x80\x02X\xff\x00\x00\x00ab'), 0, { name: 'cut' }), /pickle 'cut': truncated/);
  assert.throws(() => unpickle(bytes('\x80\x02\xff'), 0, { name: 'junk' }), /unknown opcode 0xff/);
  assert.throws(() => unpickle(bytes('\x80\x02h\x05.'), 0, { name: 'memo' }), /memo key 5 is not defined/);
});

test('plain pickles of protocols 0, 2, 4 and 5 read to the same values', () => {
  // pickle.dumps({'a': [1, 2.5, 'x', None, True], 'b': (1, 2**70, -3), 'c': b'\x00\xff', 'd': {'nested': ()}, 'e': -2**31})
  const hex = {
    0: '286470300a56610a70310a286c70320a49310a6146322e350a6156780a70330a614e614930310a617356620a70340a2849310a4c313138303539313632303731373431313330333432344c0a492d330a7470350a7356630a70360a635f636f646563730a656e636f64650a70370a28565c7530303030ff0a70380a566c6174696e310a70390a747031300a527031310a7356640a7031320a28647031330a566e65737465640a7031340a2874737356650a7031350a492d323134373438333634380a732e',
    2: '80027d71002858010000006171015d7102284b0147400400000000000058010000007871034e886558010000006271044b018a090000000000000000404afdffffff8771055801000000637106635f636f646563730a656e636f64650a7107580300000000c3bf710858060000006c6174696e31710986710a52710b580100000064710c7d710d58060000006e6573746564710e2973580100000065710f4a00000080752e',
    4: '80049559000000000000007d94288c0161945d94284b014740040000000000008c0178944e88658c0162944b018a090000000000000000404afdffffff87948c016394430200ff948c0164947d948c066e65737465649429738c0165944a00000080752e',
    5: '80059559000000000000007d94288c0161945d94284b014740040000000000008c0178944e88658c0162944b018a090000000000000000404afdffffff87948c016394430200ff948c0164947d948c066e65737465649429738c0165944a00000080752e',
  };
  for (const [protocol, h] of Object.entries(hex)) {
    const data = Uint8Array.from(Buffer.from(h, 'hex'));
    const { value, end } = unpickle(data, 0, { name: `protocol ${protocol}` });
    assert.equal(end, data.length);
    const d = value as Map<string, PyValue>;
    assert.deepEqual(d.get('a'), [1, 2.5, 'x', null, true], `protocol ${protocol}`);
    assert.deepEqual(d.get('b'), [1, 2n ** 70n, -3]);
    assert.deepEqual(d.get('c'), new Uint8Array([0, 255]));
    assert.deepEqual(d.get('d'), new Map([['nested', []]]));
    assert.equal(d.get('e'), -(2 ** 31));
  }
});

test('truncated storages are refused, naming the storage', () => {
  assert.throws(() => loadTorchFile(fixture('truncated_storage_zip.pth')), /storage '1' is truncated: 100 bytes of the 256 that 64 float32 elements need/);
  assert.throws(() => loadTorchFile(fixture('truncated_legacy.pth')), /truncated_legacy\.pth': storage '\d+' is truncated: \d+ bytes of the 256 that 64 float32 elements need/);
  // A zip archive cut short loses its central directory.
  const whole = readFileSync(fixture('tensors_zip.pth'));
  assert.throws(() => loadTorchFile(whole.subarray(0, whole.length - 40), { name: 'cut.pth' }), /zip 'cut\.pth': no end-of-central-directory record/);
});

test('zip entries are CRC-checked and bounded by the file', () => {
  const data = Uint8Array.from(readFileSync(fixture('tensors_zip.pth')));
  const zip = new ZipArchive(data, 'ok.pth');
  const entry = [...zip.entries.values()].find((e) => e.name.endsWith('/data/0'))!;
  assert.equal(zip.read(entry.name).byteLength, 48); // 12 float32
  // Flip one byte of the stored storage: the CRC no longer matches.
  const bad = data.slice();
  const start = entry.localHeaderOffset + 30 + new DataView(bad.buffer).getUint16(entry.localHeaderOffset + 26, true) + new DataView(bad.buffer).getUint16(entry.localHeaderOffset + 28, true);
  bad[start + 3]! ^= 0xff;
  assert.throws(() => loadTorchFile(bad, { name: 'flipped.pth' }), /zip 'flipped\.pth': entry 'tensors_zip\/data\/0': CRC-32 mismatch/);
  assert.throws(() => zip.read('tensors_zip/data/99'), /zip 'ok\.pth': no entry 'tensors_zip\/data\/99'/);
});
