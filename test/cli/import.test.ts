// `ssd import` as a user types it (the Command object that src/cli/main.ts dispatches to).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { command } from '../../src/cli/import.js';
import { UsageError } from '../../src/cli/command.js';
import { runVerb } from './run-verb.js';
import { readSafetensors } from '../../src/io/safetensors.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'torch');
const fixture = (name: string) => join(dir, name);

const run = (argv: string[]) => runVerb(command, argv);

test('ssd import: torchvision ssd300_vgg16 to a COCO model file, with a summary of what was done', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ssd-import-cli-'));
  try {
    const out = join(tmp, 'coco.safetensors');
    const { code, out: printed } = await run([fixture('ssd300_vgg16_full_deflated.pth'), '--out', out]);
    assert.equal(code, 0);
    assert.match(printed, /ssd300_vgg16_full_deflated\.pth: torchvision-ssd300/);
    assert.match(printed, /SSD300, 71 tensors, 90 classes \(person, bicycle, car, motorcycle, airplane, \.\.\.\), priors 'torchvision-ssd300'/);
    assert.match(printed, /--min-score 0\.01 --max-overlap 0\.45 --top-k 200/);
    const file = readSafetensors(out);
    assert.equal(file.tensors.size, 71);
    const config = JSON.parse(file.metadata['ssd.config']!);
    assert.equal(config.architecture, 'ssd300');
    assert.equal(config.classNames[1], 'person');
    assert.deepEqual(config.inputSize, { width: 300, height: 300 });
    assert.deepEqual(readdirSync(tmp), ['coco.safetensors']);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('ssd import: usage errors and refused files', async () => {
  await assert.rejects(run([fixture('vgg16_tiny.pth')]), (e: Error) => e instanceof UsageError && /--out <model\.safetensors> is required/.test(e.message));
  await assert.rejects(run([fixture('vgg16_tiny.pth'), '--out', 'x', '--from', 'caffe']), (e: Error) => e instanceof UsageError && /--from 'caffe' is not one of tutorial, state-dict, vgg16, torchvision-ssd300/.test(e.message));
  await assert.rejects(run(['--out', 'x']), (e: Error) => e instanceof UsageError && /exactly one \.pth file/.test(e.message));
  const tmp = mkdtempSync(join(tmpdir(), 'ssd-import-cli-'));
  try {
    await assert.rejects(run([fixture('hostile_eval_legacy.pth'), '--out', join(tmp, 'm.safetensors')]), /refusing global 'builtins\.eval'/);
    // The tiny test file is not a real SSD300: the import names the mismatches and writes nothing.
    await assert.rejects(run([fixture('tutorial_checkpoint_legacy.pth.tar'), '--out', join(tmp, 'm.safetensors')]), /'base\.conv1_1\.weight' has shape \[2,3,3,3\], SSD300 with 3 classes needs \[64,3,3,3\]/);
    assert.deepEqual(readdirSync(tmp), []);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('ssd import: torchvision mobilenet_v2 to a base-only file, what was left out listed once per reason', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ssd-import-cli-'));
  try {
    const out = join(tmp, 'mobilenet-base.safetensors');
    const { code, out: printed } = await run([fixture('mobilenet_v2_w0.1.pth'), '--width', '0.1', '--out', out]);
    assert.equal(code, 0);
    assert.match(printed, /mobilenet_v2_w0\.1\.pth: mobilenet-v2\n/);
    assert.match(printed, /SSDLite320-MobileNetV2's MobileNetV2 base, 260 tensors \(104 of them batch-norm running statistics; for ssd train --model ssdlite320-mobilenetv2 --pretrained-base\)/);
    assert.match(printed, /not imported: features\.0\.1\.num_batches_tracked, features\.1\.conv\.0\.1\.num_batches_tracked and 50 more like them: batch norm's count/);
    assert.match(printed, /not imported: classifier\.1\.weight, classifier\.1\.bias: MobileNetV2's ImageNet classifier/);
    assert.equal(readSafetensors(out).metadata['ssd.kind'], 'ssdlite320-mobilenetv2-base');
    // Without --width the file is checked against torchvision's width-1 network, and the mismatch is named.
    await assert.rejects(run([fixture('mobilenet_v2_w0.1.pth'), '--out', join(tmp, 'w1.safetensors')]), /'features\.0\.0\.weight' has shape \[8,3,3,3\], SSDLite320-MobileNetV2's backbone at width 1 needs \[32,3,3,3\]/);
    await assert.rejects(run([fixture('mobilenet_v2_w0.1.pth'), '--width', 'wide', '--out', 'x']), (e: Error) => e instanceof UsageError && /--width must be a number/.test(e.message));
    assert.deepEqual(readdirSync(tmp), ['mobilenet-base.safetensors']);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('ssd import: the size limits have flags, and a file over them is refused before it is read', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ssd-import-cli-'));
  try {
    const out = join(tmp, 'm.safetensors');
    // The full-size deflated ssd300_vgg16 inflates to 105 MB: over a 4 MiB limit on inflated data.
    await assert.rejects(run([fixture('ssd300_vgg16_full_deflated.pth'), '--out', out, '--max-inflated', '4M']), /declares \d+(\.\d+)? MiB inflated .* more than the [\d.]+ (KiB|MiB) left of the limit on inflated data/);
    await assert.rejects(run([fixture('vgg16_tiny.pth'), '--out', out, '--max-file-size', '1K']), /vgg16_tiny\.pth is \d+(\.\d+)? KiB, more than the 1 KiB a model file may have/);
    await assert.rejects(run([fixture('vgg16_tiny.pth'), '--out', out, '--max-file-size', 'lots']), (e: Error) => e instanceof UsageError && /--max-file-size must be a size such as 500M or 4G, got 'lots'/.test(e.message));
    assert.deepEqual(readdirSync(tmp), []);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
