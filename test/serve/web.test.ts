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
