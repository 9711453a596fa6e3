// The detection service, started for real on a free loopback port: images in, JSON detections out; bad and
// oversized bodies; 32 concurrent requests batched into few network runs; no stack traces in 5xx answers;
// the page's files; graceful shutdown.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import * as ort from 'onnxruntime-node';
import sharp, { type Sharp } from 'sharp';
import { DetectionServer, serve, type DetectResponse } from '../../src/serve/server.js';
import type { Detection } from '../../src/nn/model.js';
import { ONNX } from '../../src/graph/index.js';
import { TinyDetector } from './tiny-model.js';

const model = new TinyDetector();
let server: DetectionServer;
let url: string;

/** Four different pictures, in different formats and sizes (one with EXIF orientation 6: 90 degrees). */
let images: { name: string; bytes: Buffer; width: number; height: number }[] = [];

async function picture(w: number, h: number, seed: number): Promise<Sharp> {
  const bg = { r: (seed * 70) % 256, g: (seed * 130 + 40) % 256, b: (seed * 50 + 90) % 256 };
  const fg = { r: 255 - bg.r, g: 255 - bg.g, b: 255 - bg.b };
  return sharp({ create: { width: w, height: h, channels: 3, background: bg } }).composite([
    { input: { create: { width: Math.round(w / 3), height: Math.round(h / 2), channels: 3, background: fg } }, left: Math.round(w / 5), top: Math.round(h / 4) },
  ]);
}

before(async () => {
  images = [
    { name: 'a.jpg', bytes: await (await picture(640, 480, 1)).jpeg().toBuffer(), width: 640, height: 480 },
    { name: 'b.png', bytes: await (await picture(300, 300, 2)).png().toBuffer(), width: 300, height: 300 },
    { name: 'c.webp', bytes: await (await picture(200, 500, 3)).webp().toBuffer(), width: 200, height: 500 },
    // Stored 500x333, displayed rotated: 333x500.
    { name: 'd.jpg', bytes: await (await picture(500, 333, 4)).jpeg().withMetadata({ orientation: 6 }).toBuffer(), width: 333, height: 500 },
  ];
  ({ server, url } = await serve(model, { port: 0, host: '127.0.0.1', maxBodyBytes: 256 * 1024, maxBatch: 8, maxWaitMs: 5, defaults: { minScore: 0.3 }, log: null }));
});

after(async () => {
  await server.close();
  await model.dispose();
});

async function post(path: string, body: Uint8Array | string, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url + path, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream', ...headers } });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Asserts the server's detections equal the library's (as sets; batched runs may differ in the last bits). */
function assertSameDetections(got: DetectResponse['detections'], want: Detection[], what: string): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} detections, model.detect gives ${want.length}`);
  const used = new Uint8Array(got.length);
  for (const w of want) {
    const i = got.findIndex(
      (g, i) => !used[i] && g.label === w.label && Math.abs(g.score - w.score) < 1e-4 && (['xmin', 'ymin', 'xmax', 'ymax'] as const).every((k) => Math.abs(g.box[k] - w.box[k]) < 0.05),
    );
    assert.ok(i >= 0, `${what}: ${JSON.stringify(w)} missing from the server's answer`);
    used[i] = 1;
  }
}

test('GET /healthz answers ok with batching counters', async () => {
  const res = await fetch(`${url}/healthz`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { status: string; classes: number; batching: { runs: number } };
  assert.equal(body.status, 'ok');
  assert.equal(body.classes, 20);
  assert.equal(typeof body.batching.runs, 'number');
});

test('POST /v1/detect: JPEG, PNG, WebP and an EXIF-rotated JPEG give model.detect\'s detections in image pixels', async () => {
  let total = 0;
  for (const img of images) {
    const { status, json } = await post('/v1/detect', img.bytes);
    assert.equal(status, 200, `${img.name}: ${JSON.stringify(json)}`);
    const r = json as unknown as DetectResponse;
    assert.equal(r.width, img.width, `${img.name} width`);
    assert.equal(r.height, img.height, `${img.name} height`);
    assert.ok(r.time_ms > 0);
    for (const d of r.detections) {
      assert.ok(d.box.xmin >= 0 && d.box.xmax <= img.width && d.box.ymin >= 0 && d.box.ymax <= img.height, `${img.name}: box inside the image`);
      assert.ok(d.score > 0.3, `${img.name}: server default minScore 0.3 applies`);
    }
    assertSameDetections(r.detections, await model.detect(img.bytes, { minScore: 0.3 }), img.name);
    total += r.detections.length;
  }
  assert.ok(total > 0, 'the pictures must give detections to compare');
});

test('query parameters minScore, topK and suppress apply; bad ones are a 400 naming the parameter', async () => {
  const img = images[0]!.bytes;
  const low = (await post('/v1/detect?minScore=0.1&maxOverlap=0.5', img)).json as unknown as DetectResponse;
  assertSameDetections(low.detections, await model.detect(img, { minScore: 0.1, maxOverlap: 0.5 }), 'minScore=0.1');
  const top = (await post('/v1/detect?minScore=0.1&maxOverlap=0.5&topK=3', img)).json as unknown as DetectResponse;
  assert.equal(top.detections.length, Math.min(3, low.detections.length));
  const label = low.detections[0]!.label;
  const sup = (await post(`/v1/detect?minScore=0.1&suppress=${label}`, img)).json as unknown as DetectResponse;
  assert.ok(sup.detections.every((d) => d.label !== label), `suppress=${label}`);
  for (const [q, name] of [['minScore=abc', 'minScore'], ['topK=1.5', 'topK'], ['maxOverlap=2', 'maxOverlap'], ['suppress=unicorn', 'suppress'], ['colour=red', 'colour']]) {
    const { status, json } = await post(`/v1/detect?${q}`, img);
    assert.equal(status, 400, q);
    assert.match(String(json.error), new RegExp(name), `${q}: the error names the parameter`);
  }
});

test('a body that is not an image is a 400 that says so; an empty body too', async () => {
  const broken = await post('/v1/detect', 'this is not an image');
  assert.equal(broken.status, 400);
  assert.match(String(broken.json.error), /not an image/);
  // A truncated JPEG: the header is fine, the data is not.
  const truncated = await post('/v1/detect', images[0]!.bytes.subarray(0, 200));
  assert.equal(truncated.status, 400, JSON.stringify(truncated.json));
  const empty = await post('/v1/detect', new Uint8Array(0));
  assert.equal(empty.status, 400);
  assert.match(String(empty.json.error), /empty body/);
});

test('bodies over the limit get 413, with or without Content-Length', async () => {
  const big = Buffer.alloc(300 * 1024, 7);
  const declared = await post('/v1/detect', big);
  assert.equal(declared.status, 413);
  assert.match(String(declared.json.error), /limit of 262144 bytes/);
  // Chunked upload, no Content-Length: counted while reading.
  const status = await new Promise<number>((resolve, reject) => {
    const u = new URL(`${url}/v1/detect`);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    for (let i = 0; i < 10; i++) req.write(big.subarray(0, 32 * 1024));
    req.end();
  });
  assert.equal(status, 413);
  // The server still answers afterwards.
  assert.equal((await post('/v1/detect', images[1]!.bytes)).status, 200);
});

test('32 concurrent requests are batched into fewer network runs, and every answer is right', async () => {
  const expected = await Promise.all(images.map((img) => model.detect(img.bytes, { minScore: 0.3 })));
  const before = server.stats();
  const answers = await Promise.all(Array.from({ length: 32 }, (_, i) => post('/v1/detect', images[i % images.length]!.bytes)));
  answers.forEach((a, i) => {
    assert.equal(a.status, 200);
    const r = a.json as unknown as DetectResponse;
    assert.equal(r.width, images[i % images.length]!.width);
    assertSameDetections(r.detections, expected[i % images.length]!, `request ${i}`);
  });
  const after = server.stats();
  const runs = after.runs - before.runs;
  assert.equal(after.items - before.items, 32);
  assert.ok(runs < 32, `32 requests took ${runs} network runs: no batching`);
  assert.ok(after.maxBatchSeen > 1 && after.maxBatchSeen <= 8, `largest batch ${after.maxBatchSeen}`);
});

test('a failure inside the server is a 500 with an id, never a stack trace; the log has the stack', async () => {
  const lines: string[] = [];
  const failing = Object.create(model) as TinyDetector;
  let calls = 0;
  // Post-processing works at start-up (the blank image), then fails.
  failing.postprocess = (...args) => {
    if (calls++ === 0) return model.postprocess(...args);
    throw new Error('secret internal detail');
  };
  const s = new DetectionServer(failing, { log: (l) => lines.push(l) });
  const { url: u } = await s.listen(0, '127.0.0.1');
  try {
    const res = await fetch(`${u}/v1/detect`, { method: 'POST', body: images[1]!.bytes });
    assert.equal(res.status, 500);
    const text = await res.text();
    assert.match(text, /internal error \(id [0-9a-f]{8}\)/);
    assert.doesNotMatch(text, /secret|at .*\.ts|Error:/);
    const id = /id ([0-9a-f]{8})/.exec(text)![1]!;
    assert.ok(lines.some((l) => l.includes(id) && l.includes('secret internal detail') && /at /.test(l)), 'the log line holds the id and the stack');
  } finally {
    await s.close();
  }
});

test('routes: 404 and 405 as JSON; the page, its script, onnxruntime-web and model.onnx are served', async () => {
  const notFound = await fetch(`${url}/nope`);
  assert.equal(notFound.status, 404);
  assert.match(((await notFound.json()) as { error: string }).error, /no route/);
  assert.equal((await fetch(`${url}/v1/detect`)).status, 405);
  const page = await fetch(`${url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type')!, /text\/html/);
  assert.match(await page.text(), /<ul id="detections"/);
  const js = await fetch(`${url}/app.js`);
  assert.match(js.headers.get('content-type')!, /javascript/);
  const ortJs = await fetch(`${url}/ort/ort.wasm.min.mjs`);
  assert.equal(ortJs.status, 200);
  const wasm = await fetch(`${url}/ort/ort-wasm-simd-threaded.wasm`, { method: 'HEAD' });
  assert.equal(wasm.headers.get('content-type'), 'application/wasm');
  assert.equal((await fetch(`${url}/ort/..%2Fpackage.json`)).status, 404);
  assert.equal((await fetch(`${url}/ort/%2e%2e/package.json`)).status, 404);
  const cfg = (await (await fetch(`${url}/model.json`)).json()) as { classNames: string[]; defaults: { minScore: number } };
  assert.deepEqual(cfg.classNames, model.config.classNames);
  assert.equal(cfg.defaults.minScore, 0.3);
  const onnx = new Uint8Array(await (await fetch(`${url}/model.onnx`)).arrayBuffer());
  const s = await ort.InferenceSession.create(onnx, { logSeverityLevel: 3 });
  assert.deepEqual(s.outputNames, ['boxes', 'labels', 'scores', 'num_detections']);
  await s.release();
  const inputs = ONNX.ModelProto.decode(onnx).graph!.input!.map((i) => i.name);
  assert.deepEqual(inputs, ['images', 'min_score', 'max_overlap', 'top_k'], 'the page sets the thresholds');
});

test('listening on a port in use fails with the system error (and leaves no worker behind)', async () => {
  const port = Number(new URL(url).port);
  const second = new DetectionServer(model, { log: null });
  await assert.rejects(second.listen(port, '127.0.0.1'), /EADDRINUSE/);
});

test('close() is graceful: requests in flight are answered, then the port is closed', async () => {
  // A network that takes 300 ms a run, so that the requests are surely in flight when close() is called.
  const slow = Object.create(model) as TinyDetector;
  let started = 0;
  slow.predict = async (images, batch) => {
    started++;
    await new Promise((r) => setTimeout(r, 300));
    return model.predict(images, batch);
  };
  const s = new DetectionServer(slow, { log: null, maxWaitMs: 20, inferenceThread: false });
  const { url: u } = await s.listen(0, '127.0.0.1');
  const inFlight = Array.from({ length: 4 }, () => fetch(`${u}/v1/detect`, { method: 'POST', body: images[0]!.bytes }));
  // Close once all four are in the server's hands (queued or running), the first run under way.
  const accepted = () => {
    const st = s.stats();
    return st.queued + st.running + st.items;
  };
  while (started === 0 || accepted() < 4) await new Promise((r) => setTimeout(r, 5));
  const closing = s.close();
  const answers = await Promise.all(inFlight);
  assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200]);
  await closing;
  await assert.rejects(fetch(`${u}/healthz`), 'the port no longer accepts connections');
});
