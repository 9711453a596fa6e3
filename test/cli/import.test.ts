// `ssd import` as a user types it (the Command object that src/cli/main.ts dispatches to).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { command } from '../../src/cli/import.js';
import { UsageError } from '../../src/cli/command.js';
import { readSafetensors } from '../../src/io/safetensors.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'torch');
const fixture = (name: string) => join(dir, name);

async function run(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(' '));
  try {
    return { code: await command.run(argv), out: lines.join('\n') };
  } finally {
    console.log = log;
  }
}

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
