// The service is honest about its model: one whose config disagrees with its network never listens (a blank image
// runs through it first), a failure inside the network is a 500 that says so (never "not an image"), /healthz turns
// 503 while the network keeps failing, and an idle server stops within a second, its inference worker gone.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { ModelConfig } from '../../src/nn/config.js';
import { DetectionServer } from '../../src/serve/server.js';
import { TinyDetector } from './tiny-model.js';

const model = new TinyDetector();
after(() => model.dispose());

/** `model` with its config changed as `change` says (the network and weights stay). */
function withConfig(change: (c: ModelConfig) => ModelConfig): TinyDetector {
  const m = Object.create(model) as TinyDetector;
  Object.defineProperty(m, 'config', { value: change(structuredClone(model.config)) });
  return m;
}

test('a model whose config disagrees with its network does not start, and says why', async () => {
  for (const inferenceThread of [true, false]) {
    const moreClasses = withConfig((c) => ({ ...c, classNames: [...c.classNames, 'unicorn'] }));
    const s = new DetectionServer(moreClasses, { log: null, inferenceThread });
    await assert.rejects(
      s.listen(0, '127.0.0.1'),
      /ssd300: the model cannot run, so the server does not start: for one image the network gives 34928 box values and 183372 class scores; its config needs 34928 \(8732 priors x 4\) and 192104 \(8732 priors x 22 classes\)/,
    );
    assert.equal(s.server.listening, false);
  }
  const huge = withConfig((c) => ({ ...c, inputSize: { width: 100000, height: 100000 } }));
  await assert.rejects(new DetectionServer(huge, { log: null, inferenceThread: false }).listen(0), /its input size 100000x100000 is not a size an image can be resized to/);
  // The network's input is 300x300: a config of 320 fails in the network, named as such.
  const wrongSize = withConfig((c) => ({ ...c, inputSize: { width: 320, height: 320 } }));
  await assert.rejects(new DetectionServer(wrongSize, { log: null }).listen(0), /a blank 320x320 image through the network failed: .*/);
});

test('a failure inside the network is a 500 that says so, never "not an image"; /healthz turns 503 after three', async () => {
  const failing = Object.create(model) as TinyDetector;
  let runs = 0;
  // The start-up check passes; every run after it fails.
  failing.predict = async (images, batch) => {
    if (runs++ === 0) return model.predict(images, batch);
    throw new Error('onnxruntime: out of memory in Conv');
  };
  const lines: string[] = [];
  const s = new DetectionServer(failing, { log: (l) => lines.push(l), inferenceThread: false, maxWaitMs: 0 });
  const { url } = await s.listen(0, '127.0.0.1');
  try {
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#336699' } }).png().toBuffer();
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${url}/v1/detect`, { method: 'POST', body: png });
      assert.equal(res.status, 500);
      const { error } = (await res.json()) as { error: string };
      assert.match(error, /^the network failed on this request \(error id [0-9a-f]{8}; the server log has the details\)$/);
      const id = /error id ([0-9a-f]{8})/.exec(error)![1]!;
      assert.ok(lines.some((l) => l.includes(id) && l.includes('out of memory in Conv')), 'the log has the id and the cause');
    }
    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 503);
    const body = (await health.json()) as { status: string; error: string };
    assert.equal(body.status, 'failing');
    assert.match(body.error, /the last 3 network runs failed/);
    assert.doesNotMatch(body.error, /out of memory/, 'no internals to the client');
  } finally {
    await s.close();
  }
});

test('close() of an idle server takes well under a second, the inference worker included', async () => {
  const s = new DetectionServer(model, { log: null });
  const { url } = await s.listen(0, '127.0.0.1');
  // A keep-alive connection left open by a client, as a browser does.
  assert.equal((await fetch(`${url}/healthz`)).status, 200);
  const t0 = performance.now();
  await s.close();
  const ms = performance.now() - t0;
  assert.ok(ms < 1000, `close took ${ms.toFixed(0)} ms`);
  await assert.rejects(fetch(`${url}/healthz`));
});
