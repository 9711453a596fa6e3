import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { loadCheckpoint, removeStaleTemporaries, saveCheckpoint, type Checkpoint } from '../../src/train/checkpoint.js';

function sample(step: number, n = 1000): Checkpoint {
  const w = new Float32Array(n).map((_, i) => Math.sin(i + step));
  const m = new Float32Array(n).map((_, i) => Math.cos(i * step));
  return {
    parameters: new Map([['conv.weight', { shape: [n / 10, 10], data: w }], ['conv.bias', { shape: [3], data: new Float32Array([1, 2, step]) }]]),
    optimizer: new Map([['conv.weight.momentum', { shape: [n / 10, 10], data: m }]]),
    state: { step, epoch: 2, batchInEpoch: 5, seed: 7, best: { metric: 'voc07', map: 0.5, step: 3, epoch: 1 } },
    modelConfig: { architecture: 'ssd300', classNames: ['background', 'a'] },
    trainConfig: { batch: 8, lr: 0.001 },
  };
}

test('a checkpoint round-trips parameters, momentum, state and configs bit for bit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssd-ckpt-'));
  try {
    const path = join(dir, 'last.safetensors');
    const c = sample(4);
    saveCheckpoint(path, c);
    const r = loadCheckpoint(path);
    assert.deepEqual(r.state, c.state);
    assert.deepEqual(r.modelConfig, c.modelConfig);
    assert.deepEqual(r.trainConfig, c.trainConfig);
    assert.deepEqual([...r.parameters.keys()].sort(), ['conv.bias', 'conv.weight']);
    assert.deepEqual(r.parameters.get('conv.weight')!.shape, [100, 10]);
    assert.deepEqual(r.parameters.get('conv.weight')!.data, c.parameters.get('conv.weight')!.data);
    assert.deepEqual(r.optimizer.get('conv.weight.momentum')!.data, c.optimizer.get('conv.weight.momentum')!.data);
    assert.deepEqual(readdirSync(dir), ['last.safetensors'], 'no temporary file is left behind');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a process killed (SIGKILL) while writing a checkpoint leaves the previous one intact', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssd-ckpt-kill-'));
  try {
    const path = join(dir, 'last.safetensors');
    saveCheckpoint(path, sample(1));
    const module = new URL('../../src/train/checkpoint.ts', import.meta.url).href;
    // The child overwrites the checkpoint with a 96 MB one, again and again, until it is killed.
    const script = `
      const { saveCheckpoint } = await import(${JSON.stringify(module)});
      const big = new Float32Array(24 * 1024 * 1024).fill(3);
      for (;;) saveCheckpoint(${JSON.stringify(path)}, {
        parameters: new Map([['conv.weight', { shape: [big.length], data: big }]]), optimizer: new Map(),
        state: { step: 99, epoch: 0, batchInEpoch: 0, seed: 0 }, modelConfig: {}, trainConfig: {} });`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // Kill it the moment a temporary file exists (before the rename of the first write).
    const start = Date.now();
    let sawTemp = false;
    while (Date.now() - start < 30_000) {
      if (readdirSync(dir).some((n) => n.endsWith('.tmp'))) {
        child.kill('SIGKILL');
        sawTemp = true;
        break;
      }
      await new Promise((r) => setImmediate(r));
    }
    if (!sawTemp) child.kill('SIGKILL');
    await exited;
    assert.ok(sawTemp, 'the child never started writing');
    // Whole, never torn: the old checkpoint, or (had a write finished unseen before the kill) a new one.
    const r = loadCheckpoint(path);
    if (r.state.step === 1) {
      assert.deepEqual(r.parameters.get('conv.weight')!.data, sample(1).parameters.get('conv.weight')!.data);
    } else {
      assert.equal(r.state.step, 99);
      const w = r.parameters.get('conv.weight')!.data;
      assert.equal(w.length, 24 * 1024 * 1024);
      assert.ok(w.every((v) => v === 3));
    }
    assert.equal(removeStaleTemporaries(path), 1);
    assert.deepEqual(readdirSync(dir), ['last.safetensors']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file that is not a checkpoint is named in the error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssd-ckpt-'));
  try {
    const path = join(dir, 'model.safetensors');
    writeSafetensors(path, { w: { shape: [2], data: new Float32Array([1, 2]) } }, { 'ssd.config': '{}' });
    assert.throws(() => loadCheckpoint(path), /model\.safetensors: not a training checkpoint \(metadata 'ssd\.train_state' is missing\)/);
    assert.ok(existsSync(path));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
