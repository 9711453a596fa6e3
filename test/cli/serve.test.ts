// `ssd serve` as a process, with an ssd-tiny model file: SIGTERM and SIGINT stop an idle server within a second
// (the inference worker and every timer gone, so the process exits by itself), and a request in flight when the
// signal comes is answered first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { SSD } from '../../src/nn/model.js';
import { modelConfig } from '../../src/nn/models/index.js';

const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
let dir = '';
let weights = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ssd-serve-cli-'));
  weights = join(dir, 'tiny.safetensors');
  SSD.create(modelConfig('ssd-tiny', ['cat', 'dog']), { seed: 1 }).save(weights);
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** Starts `ssd serve` on a free port; resolves once it listens, with its URL and a promise of its exit. */
async function start(...extra: string[]): Promise<{ child: ChildProcess; url: string; exited: Promise<{ code: number | null; at: number; stderr: string }> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'serve', '--weights', weights, '--port', '0', '--threads', '1', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const exited = new Promise<{ code: number | null; at: number; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, at: performance.now(), stderr })));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = / at (http:\/\/[^ ]+?)\/ /.exec(stderr);
      if (m) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error(`ssd serve exited before listening: ${stderr}`)));
  });
  return { child, url, exited };
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} stops an idle ssd serve within a second, exit code 0`, async () => {
    const { child, url, exited } = await start();
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    const t0 = performance.now();
    child.kill(signal);
    const { code, at, stderr } = await exited;
    assert.equal(code, 0, stderr);
    assert.ok(at - t0 < 1000, `${signal}: exited ${(at - t0).toFixed(0)} ms after the signal`);
    assert.match(stderr, /ssd serve: stopped/);
  });
}

test('a request in flight when SIGTERM comes is answered, then the process exits', async () => {
  // Requests wait up to 3 s for company: the request is surely in flight (decoded, queued) when the signal comes.
  const { child, url, exited } = await start('--max-wait-ms', '3000');
  const png = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#3366aa' } }).png().toBuffer();
  const answer = fetch(`${url}/v1/detect`, { method: 'POST', body: png });
  for (;;) {
    const h = (await (await fetch(`${url}/healthz`)).json()) as { batching: { queued: number } };
    if (h.batching.queued === 1) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const t0 = performance.now();
  child.kill('SIGTERM');
  const res = await answer;
  assert.equal(res.status, 200);
  assert.ok(Array.isArray(((await res.json()) as { detections: unknown[] }).detections));
  const { code, at } = await exited;
  assert.equal(code, 0);
  assert.ok(at - t0 < 1000, `exited ${(at - t0).toFixed(0)} ms after the signal, not after the 3 s wait`);
});
