// `ssd serve` under concurrent load: images/second and latency percentiles over real HTTP on loopback, against
// the same model's sequential `detect` (one image at a time, no server) measured in the same run.
// Usage: node --import tsx bench/serve.bench.ts [--weights model.safetensors] [--requests 48] [--concurrency 8]
//        [--max-batch 8] [--max-wait-ms 5] [--sequential 6]
// Without --weights: SSD300 (21 classes) with fresh random weights (speed does not depend on the values).
import { parseArgs } from 'node:util';
import os from 'node:os';
import sharp from 'sharp';
import { SSD } from '../src/nn/model.js';
import { serve } from '../src/serve/server.js';

const { values } = parseArgs({
  options: {
    weights: { type: 'string' },
    requests: { type: 'string', default: '48' },
    concurrency: { type: 'string', default: '8' },
    'max-batch': { type: 'string', default: '8' },
    'max-wait-ms': { type: 'string', default: '5' },
    sequential: { type: 'string', default: '6' },
  },
});
const requests = Number(values.requests), concurrency = Number(values.concurrency), sequentialN = Number(values.sequential);

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
const r1 = (x: number) => Math.round(x * 10) / 10;

async function main(): Promise<void> {
  const model = values.weights ? await SSD.load(values.weights) : SSD.create(undefined, { seed: 0 });
  // A few distinct 640x480 JPEGs, as a camera or phone would send.
  const images = await Promise.all(
    [0, 1, 2, 3].map((i) =>
      sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 40 * i, g: 120, b: 200 - 30 * i } } })
        .composite([{ input: { create: { width: 200, height: 240, channels: 3, background: { r: 240, g: 200 - 40 * i, b: 20 } } }, left: 100 + 60 * i, top: 80 }])
        .jpeg({ quality: 85 })
        .toBuffer(),
    ),
  );

  // Sequential baseline: model.detect one image after another (after one warm-up run).
  await model.detect(images[0]!);
  let t = performance.now();
  for (let i = 0; i < sequentialN; i++) await model.detect(images[i % images.length]!);
  const sequentialIps = sequentialN / ((performance.now() - t) / 1000);

  const { server, url } = await serve(model, { port: 0, host: '127.0.0.1', maxBatch: Number(values['max-batch']), maxWaitMs: Number(values['max-wait-ms']), log: null });
  const latencies: number[] = [];
  let next = 0, failures = 0;
  const client = async () => {
    while (next < requests) {
      const i = next++;
      const t0 = performance.now();
      const res = await fetch(`${url}/v1/detect`, { method: 'POST', body: images[i % images.length]!, headers: { 'content-type': 'image/jpeg' } });
      await res.arrayBuffer();
      if (res.status !== 200) failures++;
      latencies.push(performance.now() - t0);
    }
  };
  const before = server.stats();
  t = performance.now();
  await Promise.all(Array.from({ length: concurrency }, client));
  const seconds = (performance.now() - t) / 1000;
  const after = server.stats();
  await server.close();
  await model.dispose();

  latencies.sort((a, b) => a - b);
  const runs = after.runs - before.runs;
  console.log(
    JSON.stringify({
      bench: 'serve',
      model: `${model.config.architecture} (${model.classNames.length} classes)${values.weights ? '' : ', random weights'}`,
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', loadavg_1m: r1(os.loadavg()[0]!) },
      image: '640x480 JPEG',
      requests,
      concurrency,
      max_batch: Number(values['max-batch']),
      max_wait_ms: Number(values['max-wait-ms']),
      failures,
      server_images_per_s: Math.round((requests / seconds) * 100) / 100,
      sequential_detect_images_per_s: Math.round(sequentialIps * 100) / 100,
      speedup_vs_sequential: Math.round((requests / seconds / sequentialIps) * 100) / 100,
      latency_ms: {
        p50: r1(percentile(latencies, 50)),
        p90: r1(percentile(latencies, 90)),
        p99: r1(percentile(latencies, 99)),
        max: r1(latencies[latencies.length - 1]!),
        mean: r1(latencies.reduce((a, b) => a + b, 0) / latencies.length),
      },
      batching: { runs, mean_batch: Math.round(((after.items - before.items) / Math.max(1, runs)) * 100) / 100, max_batch_seen: after.maxBatchSeen },
    }),
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
