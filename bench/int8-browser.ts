// int8 against float32 in the browser: the web page of `ssd serve` (onnxruntime-web, WebAssembly) in headless
// Chromium, one page per model (a model of the family with random weights, and its int8 file quantized with
// random calibration images: speed does not depend on the values), detecting the same picture in alternating
// rounds. The time is the page's own measure of `session.run` (network and post-processing; `#timing`'s
// `data-inference-ms`), the median of each model's runs. Prints one JSON object.
// Needs Debian's Chromium at /usr/bin/chromium.
// Usage: node --import tsx bench/int8-browser.ts [--models ssd-tiny,ssdlite320-mobilenetv2] [--rounds 5] [--runs 3]
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { Random } from '../src/data/random.js';
import { SSD } from '../src/nn/model.js';
import { modelConfig } from '../src/nn/models/index.js';
import { quantizeModel } from '../src/nn/quantize/index.js';
import { serve } from '../src/serve/server.js';

const CHROMIUM = '/usr/bin/chromium';
const { values } = parseArgs({ options: { models: { type: 'string' }, rounds: { type: 'string' }, runs: { type: 'string' } }, strict: true });
const models = (values.models ?? 'ssd-tiny,ssdlite320-mobilenetv2').split(',');
const rounds = Number(values.rounds ?? 5);
const runs = Number(values.runs ?? 3);
if (!existsSync(CHROMIUM)) throw new Error(`no ${CHROMIUM}: install it with 'apt-get install -y chromium'`);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const { chromium } = await import('playwright-core');
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'] });
const version = browser.version();
const results = [];
try {
  for (const name of models) {
    const fp32 = SSD.create(modelConfig(name, ['a', 'b', 'c']), { seed: 0, threads: 2 });
    const { width, height } = fp32.config.inputSize;
    const rng = new Random(1);
    const calibration = Array.from({ length: 4 }, () => Float32Array.from({ length: 3 * width * height }, () => 2 * rng.next() - 1));
    const int8 = SSD.fromBytes((await quantizeModel(fp32, { count: 4, get: async (i) => calibration[i]! }, { threads: 2 })).bytes, { name: `${name}.int8.onnx`, threads: 2 });
    const picture = await sharp({ create: { width, height, channels: 3, background: { r: 30, g: 110, b: 200 } } })
      .composite([{ input: { create: { width: width >> 1, height: height >> 1, channels: 3, background: { r: 240, g: 200, b: 20 } } }, left: width >> 2, top: height >> 2 }])
      .png()
      .toBuffer();
    const servers = await Promise.all([fp32, int8].map((m) => serve(m, { port: 0, host: '127.0.0.1', defaults: { minScore: 0.3 }, log: null })));
    try {
      const pages = await Promise.all(servers.map(async (s) => {
        const page = await browser.newPage();
        await page.goto(s.url + '/');
        await page.waitForSelector('#status[data-state="ready"]', { timeout: 60_000 });
        if ((await page.getAttribute('#status', 'data-backend')) !== 'browser') throw new Error(`${name}: the page did not run the model in the browser`);
        return page;
      }));
      const times: number[][] = [[], []];
      let n = 0;
      const detect = async (k: number) => {
        const file = `picture${n++}.png`;
        await pages[k]!.setInputFiles('#file', { name: file, mimeType: 'image/png', buffer: picture });
        await pages[k]!.waitForSelector(`#status[data-state="done"]:has-text("${file}")`, { timeout: 60_000 });
        return Number(await pages[k]!.getAttribute('#timing', 'data-inference-ms'));
      };
      for (let k = 0; k < 2; k++) await detect(k); // warm-up
      for (let r = 0; r < rounds; r++) for (let k = 0; k < 2; k++) for (let i = 0; i < runs; i++) times[k]!.push(await detect(k));
      const [f, q] = [median(times[0]!), median(times[1]!)];
      results.push({ model: name, input: `${width}x${height}`, int8_ms: q, fp32_ms: f, int8_over_fp32: q / f, runs_ms: { int8: times[1], fp32: times[0] } });
      for (const p of pages) await p.close();
    } finally {
      for (const s of servers) await s.server.close();
      await int8.dispose();
      await fp32.dispose();
    }
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ date: new Date().toISOString(), chromium: version, backend: 'onnxruntime-web wasm, 1 thread (the page is not cross-origin isolated)', results }, null, 2));
