// Weights that are not finite numbers are refused where an import reads them, naming the tensor and the element.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importTorchWeights, loadPretrainedBase, ssd300BaseParameterShapes } from '../../../src/nn/import/index.js';
import { encodeSafetensors, type TensorToWrite } from '../../../src/io/safetensors.js';
import { ssd300 } from '../../../src/nn/models/ssd300.js';
import { loadTorchFile } from '../../../src/io/torch/load.js';
import type { TorchTensor } from '../../../src/io/torch/tensor.js';
import { ZipArchive } from '../../../src/io/torch/zip.js';
import { writeZip } from '../../io/zip-writer.js';

const fixture = (name: string) => join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'torch', name);
const tiny = (c: number) => Math.max(2, c >> 7);

test('importing a .pth with a NaN weight is refused, naming the tensor and the element', () => {
  // A real torch.save state_dict with one element of base.conv1_1.weight set to NaN (and its CRC fixed).
  const bytes = Uint8Array.from(readFileSync(fixture('ssd300_state_dict_zip.pth')));
  const root = loadTorchFile(bytes).root as Map<string, TorchTensor>;
  const conv = root.get('base.conv1_1.weight')!;
  const zip = new ZipArchive(bytes, 'state_dict');
  const entries = [...zip.entries.keys()].map((name) => {
    const data = zip.read(name).slice();
    if (name.endsWith(`/data/${conv.storage.key}`)) new DataView(data.buffer).setFloat32(4 * (conv.storageOffset + 7), NaN, true);
    return { name, data };
  });
  const broken = writeZip(entries);
  assert.throws(
    () => importTorchWeights(broken, { name: 'nan.pth', channels: tiny }),
    /^Error: import 'nan\.pth': tensor 'base\.conv1_1\.weight' holds NaN at element 7 \[0, 0, 2, 1\] of shape \[2, 3, 3, 3\]; weights must be finite numbers/,
  );
  // The same file unbroken imports.
  assert.equal(importTorchWeights(writeZip([...zip.entries.keys()].map((name) => ({ name, data: zip.read(name) }))), { channels: tiny }).weights.size, 71);
  assert.ok(!existsSync('nan.pth'));
});

test('a pretrained base file with an infinite weight is refused, naming the tensor', () => {
  const tensors = new Map<string, TensorToWrite>();
  for (const p of ssd300BaseParameterShapes(tiny)) {
    const data = new Float32Array(p.shape.reduce((a, b) => a * b, 1)).fill(0.5);
    if (p.name === 'base.conv3_1.bias') data[1] = -Infinity;
    tensors.set(p.name, { shape: p.shape, data });
  }
  const dir = mkdtempSync(join(tmpdir(), 'ssd-base-'));
  try {
    const file = join(dir, 'base.safetensors');
    writeFileSync(file, encodeSafetensors(tensors));
    assert.throws(() => loadPretrainedBase(file, ssd300(21, { channels: tiny })), /pretrained base '.*base\.safetensors': tensor 'base\.conv3_1\.bias' holds -Infinity at element 1; weights must be finite numbers/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
