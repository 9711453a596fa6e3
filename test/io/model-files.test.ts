// Model files given where another kind is expected, things that are not files, truncated files, NaN weights
// (importing a .pth with NaN weights: test/nn/import/non-finite.test.ts):
// each is refused before memory is spent, with an error that names the file and says what it is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ONNX } from '../../src/graph/index.js';
import { detectModelFileKind, readModelFile } from '../../src/io/file-kind.js';
import { findNonFinite } from '../../src/io/non-finite.js';
import { encodeSafetensors, readSafetensors } from '../../src/io/safetensors.js';
import { loadTorchFile } from '../../src/io/torch/load.js';
import { unpickle } from '../../src/io/torch/pickle.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const torchFixture = (name: string) => join(fixtures, 'torch', name);
const onnxFixture = join(fixtures, 'onnx', 'conv_torch.onnx');
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'ssd-model-files-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const safetensorsBytes = encodeSafetensors({ w: { shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } }, { architecture: 'ssd300' });

test('the kind of a file is told from its first bytes: files written by each tool', () => {
  assert.equal(detectModelFileKind(safetensorsBytes), 'safetensors');
  // torch.onnx.export's file, and one protobufjs writes (fields in declaration order: opset_import before producer).
  assert.equal(detectModelFileKind(readFileSync(onnxFixture)), 'onnx');
  const ours = ONNX.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 18 }], producerName: 'ssd-ts', graph: { name: 'g' } }).finish();
  assert.equal(detectModelFileKind(ours), 'onnx');
  assert.equal(detectModelFileKind(readFileSync(torchFixture('tensors_zip.pth'))), 'torch-zip');
  assert.equal(detectModelFileKind(readFileSync(torchFixture('tensors_legacy.pth'))), 'torch-pickle');
  // A safetensors file cut inside its header is still one (the reader then says it is truncated).
  assert.equal(detectModelFileKind(safetensorsBytes.subarray(0, 20)), 'safetensors');
  // Not model files: a JPEG, text, nothing.
  assert.equal(detectModelFileKind(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46])), 'unknown');
  assert.equal(detectModelFileKind(new TextEncoder().encode('{"weights": [1, 2, 3]}')), 'unknown');
  assert.equal(detectModelFileKind(new Uint8Array(0)), 'unknown');
  // Protobuf that is not a ModelProto (a field number ModelProto lacks) is not taken for ONNX.
  assert.equal(detectModelFileKind(Uint8Array.from([0x08, 0x07, 0x50, 0x01])), 'unknown');
});

test('an ONNX or PyTorch file given as a safetensors model file says what it is and what to give instead', () => {
  assert.throws(
    () => readSafetensors(onnxFixture),
    new RegExp(`^Error: ${escape(onnxFixture)} is an ONNX model file, not a safetensors model file: an ONNX model runs as it is \\(SSD\\.load; --weights of ssd detect, eval and serve\\), but weights to train, export or quantize are read from safetensors model files; give the \\.safetensors file the ONNX model was made from$`),
  );
  assert.throws(
    () => readSafetensors(torchFixture('tensors_zip.pth')),
    /tensors_zip\.pth is a zip archive \(the torch\.save format of PyTorch 1\.6 and later\), not a safetensors model file: if it is a PyTorch weights file, convert it first: ssd import <file> --out model\.safetensors/,
  );
  assert.throws(() => readSafetensors(readFileSync(torchFixture('tensors_legacy.pth')), { name: 'old.pth' }), /^Error: old\.pth is a Python pickle \(the legacy torch\.save format\), not a safetensors model file/);
  // And the other way round: what `ssd import` is given.
  withDir((dir) => {
    const model = join(dir, 'model.safetensors');
    writeFileSync(model, safetensorsBytes);
    assert.throws(() => loadTorchFile(model), /model\.safetensors is a safetensors model file, not a PyTorch weights file: an ssd-ts model file needs no import: use it as it is \(--weights\)/);
  });
  assert.throws(() => loadTorchFile(onnxFixture), /conv_torch\.onnx is an ONNX model file, not a PyTorch weights file: give the PyTorch \.pth file the ONNX model was exported from/);
});

test('/dev/zero, a FIFO and a directory are refused before a byte is read', { skip: process.platform === 'win32' ? 'no /dev/zero or FIFOs' : false, timeout: 20_000 }, () => {
  const before = process.resourceUsage().maxRSS;
  assert.throws(() => readSafetensors('/dev/zero'), /^Error: \/dev\/zero is a character device, not a model file$/);
  assert.throws(() => loadTorchFile('/dev/zero'), /^Error: \/dev\/zero is a character device, not a model file$/);
  assert.ok((process.resourceUsage().maxRSS - before) / 1024 < 50, 'reading /dev/zero must not grow memory');
  withDir((dir) => {
    const fifo = join(dir, 'weights.fifo');
    execFileSync('mkfifo', [fifo]);
    // Opening a FIFO for reading blocks until a writer comes: the check must not open it.
    assert.throws(() => readSafetensors(fifo), new RegExp(`^Error: ${escape(fifo)} is a FIFO \\(named pipe\\), not a model file$`));
    assert.throws(() => readModelFile(dir), new RegExp(`^Error: ${escape(dir)} is a directory, not a model file$`));
    assert.throws(() => readSafetensors(join(dir, 'nope.safetensors')), /nope\.safetensors: no such file$/);
  });
});

test('a file over the size limit is refused before it is read, naming the size and the limit', () => {
  withDir((dir) => {
    const path = join(dir, 'model.safetensors');
    writeFileSync(path, safetensorsBytes);
    assert.throws(() => readSafetensors(path, { maxBytes: 100 }), new RegExp(`^Error: ${escape(path)} is ${safetensorsBytes.byteLength} bytes, more than the 100 bytes a model file may have \\(the maxBytes option raises the limit\\)$`));
    assert.equal(readSafetensors(path, { maxBytes: safetensorsBytes.byteLength }).tensors.size, 1);
  });
});

test('truncated files: safetensors cut in its header or its data, a .pth cut anywhere', () => {
  withDir((dir) => {
    const cut = (name: string, bytes: Uint8Array, keep: number) => {
      const path = join(dir, name);
      writeFileSync(path, bytes.subarray(0, keep));
      return path;
    };
    assert.throws(() => readSafetensors(cut('header.safetensors', safetensorsBytes, 30)), /header\.safetensors': header length \d+ runs beyond the end of the file \(30 bytes\): the file is truncated$/);
    assert.throws(() => readSafetensors(cut('data.safetensors', safetensorsBytes, safetensorsBytes.byteLength - 4)), /data\.safetensors': tensor 'w': data_offsets \[0, 16\] lie outside the data section \(12 bytes\): the file is truncated, or its header is wrong$/);
    const pth = readFileSync(torchFixture('tensors_zip.pth'));
    for (const keep of [10, pth.byteLength >> 1, pth.byteLength - 30]) {
      assert.throws(() => loadTorchFile(cut('cut.pth', pth, keep)), /zip '.*cut\.pth': no end-of-central-directory record \(truncated or not a zip file\)/, `cut at ${keep}`);
    }
    const legacy = readFileSync(torchFixture('tensors_legacy.pth'));
    assert.throws(() => loadTorchFile(cut('cut_legacy.pth', legacy, legacy.byteLength - 10)), /cut_legacy\.pth': storage '\d+' is truncated/);
    assert.throws(() => loadTorchFile(cut('empty.pth', pth, 0)), /torch file '.*empty\.pth': the file is empty/);
  });
});

test('findNonFinite finds the first NaN or infinity and counts them, as Number.isFinite would', () => {
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let trial = 0; trial < 50; trial++) {
    const tensors = new Map<string, Float32Array>();
    for (let t = 0; t < 3; t++) {
      const a = Float32Array.from({ length: 1 + Math.floor(random() * 40) }, () => (random() - 0.5) * 1e38 * 7);
      if (random() < 0.3) a[Math.floor(random() * a.length)] = [NaN, Infinity, -Infinity][Math.floor(random() * 3)]!;
      tensors.set(`t${t}`, a);
    }
    // Reference: the first tensor with a non-finite value by Number.isFinite, its first such index and count.
    let expected: { tensor: string; index: number; count: number } | undefined;
    for (const [name, a] of tensors) {
      const bad = [...a].map((v, i) => (Number.isFinite(v) ? -1 : i)).filter((i) => i >= 0);
      if (bad.length > 0) {
        expected = { tensor: name, index: bad[0]!, count: bad.length };
        break;
      }
    }
    const found = findNonFinite(tensors);
    assert.deepEqual(found && { tensor: found.tensor, index: found.index, count: found.count }, expected, `trial ${trial}`);
  }
  // Integer tensors of a safetensors file are skipped; float ones are checked.
  const file = readSafetensors(encodeSafetensors({ steps: { shape: [1], data: new BigInt64Array([5n]) }, w: { shape: [3], data: new Float32Array([0, -Infinity, 1]) } }));
  assert.deepEqual(findNonFinite(file.tensors), { tensor: 'w', index: 1, value: -Infinity, count: 1 });
});

test('a tensor expanded through a zero stride cannot make the reader allocate gigabytes', () => {
  // torch.save of torch.full((1,), 0.5).expand(2**30): 762 bytes on disk, 4 GiB once read.
  const before = process.resourceUsage().maxRSS;
  assert.throws(
    () => loadTorchFile(torchFixture('expanded_zip.pth')),
    /torch file '.*expanded_zip\.pth': its tensors take more than 64 MiB once read \(a tensor of shape \[1073741824\] on storage '0' of 1 elements brings them to 4 GiB\); raise maxTensorBytes if the file is genuine/,
  );
  assert.ok((process.resourceUsage().maxRSS - before) / 1024 < 50);
});

test('a pickled integer of megabytes is refused at once (converting it would take hours)', () => {
  const n = 10 * 2 ** 20;
  const pkl = new Uint8Array(2 + 5 + n + 1);
  pkl.set([0x80, 0x02, 0x8b]); // PROTO 2, LONG4
  new DataView(pkl.buffer).setInt32(3, n, true);
  pkl[pkl.length - 1] = 0x2e; // STOP
  const started = performance.now();
  assert.throws(() => unpickle(pkl, 0, { name: 'long.pkl' }), /pickle 'long\.pkl': LONG4 of 10485760 bytes is longer than the 4096 any weights file needs/);
  assert.throws(() => unpickle(new TextEncoder().encode(`L${'9'.repeat(200_000)}L\n.`), 0, { name: 'text.pkl' }), /LONG of 200000 digits is longer than/);
  assert.ok(performance.now() - started < 1000);
});
