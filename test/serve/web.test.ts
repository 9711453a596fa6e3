// The web page in headless Chromium: it loads the exported model into onnxruntime-web, is given an image, draws
// the boxes and lists them in <ul id="detections">; those must be the server's detections for the same image.
// Needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium); skipped with a message without it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import { DetectionServer, serve, type DetectResponse } from '../../src/serve/server.js';
import { TinyDetector } from './tiny-model.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no ${CHROMIUM}: install it with 'apt-get install -y chromium' to run the browser test`;

const model = new TinyDetector();
let server: DetectionServer;
let url: string;
let png: Buffer;

before(async () => {
  if (skip) return;
  ({ server, url } = await serve(model, { port: 0, host: '127.0.0.1', defaults: { minScore: 0.25 }, log: null }));
  // 300x300, the model's input size: the browser's resize and sharp's are then both the identity, so the
  // browser and the server see the very same pixels.
  png = await sharp({ create: { width: 300, height: 300, channels: 3, background: { r: 30, g: 110, b: 200 } } })
    .composite([
      { input: { create: { width: 110, height: 160, channels: 3, background: { r: 240, g: 200, b: 20 } } }, left: 70, top: 60 },
      { input: { create: { width: 60, height: 60, channels: 3, background: { r: 250, g: 20, b: 20 } } }, left: 200, top: 200 },
    ])
    .png()
    .toBuffer();
});

after(async () => {
  if (skip) return;
  await server.close();
  await model.dispose();
});

interface Drawn {
  label: string;
  score: number;
  box: { xmin: number; ymin: number; xmax: number; ymax: number };
}

type Page = import('playwright-core').Page;

async function detectInPage(page: Page, path: string): Promise<{ backend: string; drawn: Drawn[]; canvas: { width: number; height: number } }> {
  await page.goto(url + path);
  await page.waitForSelector('#status[data-state="ready"]', { timeout: 20_000 });
  await page.setInputFiles('#file', { name: 'shapes.png', mimeType: 'image/png', buffer: png });
  await page.waitForSelector('#status[data-state="done"], #status[data-state="error"]', { timeout: 20_000 });
  const state = await page.getAttribute('#status', 'data-state');
  assert.equal(state, 'done', `page status: ${await page.textContent('#status')}`);
  const drawn = await page.$$eval('#detections li', (lis) =>
    lis.map((li) => {
      const d = (li as unknown as { dataset: Record<string, string | undefined> }).dataset;
      return { label: d.label!, score: Number(d.score), box: { xmin: Number(d.xmin), ymin: Number(d.ymin), xmax: Number(d.xmax), ymax: Number(d.ymax) } };
    }),
  );
  const canvas = await page.$eval('#canvas', (c) => ({ width: (c as unknown as { width: number }).width, height: (c as unknown as { height: number }).height }));
  return { backend: (await page.getAttribute('#status', 'data-backend'))!, drawn, canvas };
}

function assertSame(got: Drawn[], want: DetectResponse['detections'], what: string, tol: { score: number; px: number }): void {
  assert.equal(got.length, want.length, `${what}: the page lists ${got.length} detections, the server answers ${want.length}`);
  const used = new Uint8Array(got.length);
  for (const w of want) {
    const i = got.findIndex(
      (g, i) => !used[i] && g.label === w.label && Math.abs(g.score - w.score) <= tol.score && (['xmin', 'ymin', 'xmax', 'ymax'] as const).every((k) => Math.abs(g.box[k] - w.box[k]) <= tol.px),
    );
    assert.ok(i >= 0, `${what}: the server's ${JSON.stringify(w)} is not on the page`);
    used[i] = 1;
  }
}

test('the page runs the model in the browser and draws the server\'s detections; ?backend=server asks the server; the camera', { skip, timeout: 60_000 }, async () => {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync',
      // A synthetic camera (a moving test pattern) that getUserMedia may open without asking.
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
    ],
  });
  try {
    const res = await fetch(`${url}/v1/detect`, { method: 'POST', body: png });
    const want = ((await res.json()) as DetectResponse).detections;
    assert.ok(want.length > 0, 'the picture must give detections to compare');

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const inBrowser = await detectInPage(page, '/');
    assert.equal(inBrowser.backend, 'browser', 'onnxruntime-web ran the model');
    assert.deepEqual(inBrowser.canvas, { width: 300, height: 300 });
    // WebAssembly and native kernels round differently in the last bits.
    assertSame(inBrowser.drawn, want, 'browser', { score: 1e-4, px: 0.05 });

    const viaServer = await detectInPage(page, '/?backend=server');
    assert.equal(viaServer.backend, 'server');
    assertSame(viaServer.drawn, want, 'server fallback', { score: 1e-9, px: 1e-9 });

    // The camera: frames are detected one after another and drawn at the camera's size until stopped.
    await page.goto(url + '/');
    await page.waitForSelector('#status[data-state="ready"]', { timeout: 20_000 });
    await page.click('#camera');
    await page.waitForSelector('#timing:has-text(" ms (")', { timeout: 20_000 });
    const cam = await page.$eval('#canvas', (c) => ({ width: (c as unknown as { width: number }).width, height: (c as unknown as { height: number }).height }));
    assert.ok(cam.width > 0 && cam.width !== 300, `the canvas took the camera frame's size (${cam.width}x${cam.height})`);
    assert.notEqual(await page.getAttribute('#status', 'data-state'), 'error', (await page.textContent('#status')) ?? '');
    await page.click('#stop');
    await page.waitForSelector('#status[data-state="ready"]');
    assert.deepEqual(errors, [], 'no uncaught errors on the page');
  } finally {
    await browser.close();
  }
});

test('the page runs an int8 model (ssd quantize) in the browser, draws the server\'s int8 detections, and times it against float32', { skip, timeout: 120_000 }, async (t) => {
  const { SSD } = await import('../../src/nn/model.js');
  const { modelConfig } = await import('../../src/nn/models/index.js');
  const { quantizeModel } = await import('../../src/nn/quantize/quantize.js');
  const { initWeights } = await import('../../src/nn/layers.js');
  const { buildNetwork } = await import('../../src/nn/models/index.js');
  const config = modelConfig('ssd-tiny', ['yellow', 'red'], { inputSize: 192 });
  const weights = initWeights(buildNetwork(config).parameters(), 5);
  // Sharpen the class logits, as TinyDetector does, so that random weights give confident detections.
  for (const [k, v] of weights) if (k.startsWith('head.cl_') && k.endsWith('.weight')) for (let i = 0; i < v.length; i++) v[i] *= 4;
  const fp32 = SSD.create(config, { weights });
  // The picture at the input size, so that the browser's resize and the server's are the identity.
  const picture = await sharp(png).resize(192, 192, { kernel: 'nearest' }).png().toBuffer();
  const variants = [picture, await sharp(picture).flop().png().toBuffer(), await sharp(picture).negate().png().toBuffer()];
  const calibration = { count: variants.length, get: async (i: number) => (await fp32.prepare(new Uint8Array(variants[i]!))).data };
  const int8 = SSD.fromBytes((await quantizeModel(fp32, calibration)).bytes, { name: 'tiny.int8.onnx' });
  const servers = await Promise.all([int8, fp32].map((m) => serve(m, { port: 0, host: '127.0.0.1', defaults: { minScore: 0.3 }, log: null })));
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const warnings: string[] = [];
    page.on('console', (m) => void (m.type() === 'warning' && warnings.push(m.text())));
    /** Detects in the picture `runs` times on a server's page; the last detections and the median inference time. */
    const timed = async (base: string, runs: number) => {
      await page.goto(base + '/');
      await page.waitForSelector('#status[data-state="ready"]', { timeout: 20_000 });
      assert.equal(await page.getAttribute('#status', 'data-backend'), 'browser', `the page fell back to the server: ${warnings.join('; ')}`);
      const times: number[] = [];
      let drawn: Drawn[] = [];
      for (let i = 0; i < runs; i++) {
        await page.setInputFiles('#file', { name: `picture${i}.png`, mimeType: 'image/png', buffer: picture });
        await page.waitForSelector(`#status[data-state="done"]:has-text("picture${i}.png")`, { timeout: 20_000 });
        times.push(Number(await page.getAttribute('#timing', 'data-inference-ms')));
        drawn = await page.$$eval('#detections li', (lis) =>
          lis.map((li) => {
            const d = (li as unknown as { dataset: Record<string, string | undefined> }).dataset;
            return { label: d.label!, score: Number(d.score), box: { xmin: Number(d.xmin), ymin: Number(d.ymin), xmax: Number(d.xmax), ymax: Number(d.ymax) } };
          }),
        );
      }
      return { drawn, ms: times.sort((a, b) => a - b)[Math.floor(runs / 2)]! };
    };
    const model = (await (await fetch(`${servers[0]!.url}/model.json`)).json()) as { precision: string };
    assert.equal(model.precision, 'int8');
    // What the page loads into onnxruntime-web: the int8 network (its QDQ pairs) for one, float32 for the other.
    const served = await Promise.all(servers.map(async (s) => Buffer.from(await (await fetch(`${s.url}/model.onnx`)).arrayBuffer())));
    assert.ok(served[0]!.includes('DequantizeLinear') && !served[1]!.includes('DequantizeLinear'), 'the int8 server hands the page its QDQ network');
    assert.ok(served[0]!.byteLength < 0.5 * served[1]!.byteLength, `int8 ${served[0]!.byteLength} bytes, float32 ${served[1]!.byteLength}`);
    const want = ((await (await fetch(`${servers[0]!.url}/v1/detect`, { method: 'POST', body: picture })).json()) as DetectResponse).detections;
    assert.ok(want.length > 0, 'the picture must give detections to compare');
    const inBrowser = await timed(servers[0]!.url, 7);
    // onnxruntime-web's int8 kernels (WebAssembly) and the native ones may round a quantized value one step
    // apart here and there: scores within 0.02, boxes within a pixel.
    assertSame(inBrowser.drawn, want, 'int8 in the browser', { score: 0.02, px: 1 });
    const float = await timed(servers[1]!.url, 7);
    t.diagnostic(`ssd-tiny 192 px in Chromium (onnxruntime-web, WebAssembly): int8 ${inBrowser.ms.toFixed(1)} ms, float32 ${float.ms.toFixed(1)} ms per image (median of 7; network and post-processing)`);
    assert.ok(inBrowser.ms > 0 && float.ms > 0);
    assert.deepEqual(errors, [], 'no uncaught errors on the page');
  } finally {
    await browser.close();
    for (const s of servers) await s.server.close();
    await int8.dispose();
    await fp32.dispose();
  }
});
