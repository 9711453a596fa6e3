// `ssd serve` under load, as a separate process: N concurrent clients posting photos for a while, and 8 clients
// posting image bombs (a 31 KB PNG declaring 16000x16000 pixels), each scenario against a fresh server. Prints
// JSON: throughput, latency percentiles, answers by status, and the server process's peak RSS (VmHWM).
// Usage: node --import tsx bench/serve-load.bench.ts [--weights model.safetensors] [--clients 32] [--bombs 8]
//        [--duration 20] [--scenarios clients,bombs,mixed] [--max-batch 8] [--threads N]
// Without --weights: ssd-tiny (192 px) for the 20 VOC classes with fresh random weights (speed and memory do not
// depend on the values).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { VOC_CLASS_NAMES } from '../src/data/voc.js';
import { SSD } from '../src/nn/model.js';
import { modelConfig } from '../src/nn/models/index.js';
import { pngBomb } from '../test/io/png-bomb.js';

const { values } = parseArgs({
  options: {
    weights: { type: 'string' },
    clients: { type: 'string', default: '32' },
    bombs: { type: 'string', default: '8' },
    duration: { type: 'string', default: '20' },
    scenarios: { type: 'string', default: 'clients,bombs,mixed' },
    'max-batch': { type: 'string', default: '8' },
    threads: { type: 'string' },
  },
});
const clients = Number(values.clients), bombClients = Number(values.bombs), seconds = Number(values.duration);
const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const r1 = (x: number) => Math.round(x * 10) / 10;

/** Peak and current resident memory of a process, in MB (Linux /proc). */
function memory(pid: number): { peakMb: number; nowMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { peakMb: r1(kb('VmHWM') / 1024), nowMb: r1(kb('VmRSS') / 1024) };
}

async function startServer(weights: string): Promise<{ child: ChildProcess; url: string }> {
  const args = ['--import', 'tsx', main, 'serve', '--weights', weights, '--port', '0', '--max-batch', String(values['max-batch'])];
  if (values.threads) args.push('--threads', values.threads);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = / at (http:\/\/[^ ]+?)\/ /.exec(stderr);
      if (m) resolve(m[1]!);
    });
    child.on('exit', () => reject(new Error(`ssd serve exited: ${stderr}`)));
  });
  return { child, url };
}

interface ClientStats {
  latencies: number[];
  statuses: Record<string, number>;
}

/** One client: posts `body` again and again until `until`, one request at a time. */
async function client(url: string, body: Buffer, until: number, stats: ClientStats): Promise<void> {
  while (performance.now() < until) {
    const t0 = performance.now();
    let status: string;
    try {
      const res = await fetch(`${url}/v1/detect`, { method: 'POST', body });
      await res.arrayBuffer();
      status = String(res.status);
    } catch (e) {
      status = `error: ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}`;
    }
    stats.latencies.push(performance.now() - t0);
    stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
  }
}

function summary(stats: ClientStats, secondsRun: number) {
  const l = [...stats.latencies].sort((a, b) => a - b);
  const pct = (p: number) => r1(l[Math.min(l.length - 1, Math.max(0, Math.ceil((p / 100) * l.length) - 1))] ?? NaN);
  return { requests: l.length, per_s: r1(l.length / secondsRun), latency_ms: { p50: pct(50), p99: pct(99), max: r1(l[l.length - 1] ?? NaN) }, by_status: stats.statuses };
}

async function scenario(name: string, weights: string, photos: Buffer[], bomb: Buffer) {
  const { child, url } = await startServer(weights);
  try {
    // Warm up (first runs compile kernels), then take the resting memory.
    for (const p of photos) await (await fetch(`${url}/v1/detect`, { method: 'POST', body: p })).arrayBuffer();
    const idle = memory(child.pid!);
    const nPhotos = name === 'bombs' ? 0 : clients;
    const nBombs = name === 'clients' ? 0 : bombClients;
    const photoStats: ClientStats = { latencies: [], statuses: {} };
    const bombStats: ClientStats = { latencies: [], statuses: {} };
    let peakNow = idle.nowMb;
    const sampler = setInterval(() => (peakNow = Math.max(peakNow, memory(child.pid!).nowMb)), 50);
    const t0 = performance.now();
    const until = t0 + seconds * 1000;
    await Promise.all([
      ...Array.from({ length: nPhotos }, (_, i) => client(url, photos[i % photos.length]!, until, photoStats)),
      ...Array.from({ length: nBombs }, () => client(url, bomb, until, bombStats)),
    ]);
    const secondsRun = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    const mem = memory(child.pid!);
    return {
      scenario: name,
      photo_clients: nPhotos,
      bomb_clients: nBombs,
      seconds: r1(secondsRun),
      ...(nPhotos ? { photos: summary(photoStats, secondsRun) } : {}),
      ...(nBombs ? { bombs: summary(bombStats, secondsRun) } : {}),
      server_rss_mb: { idle_after_warmup: idle.nowMb, peak_sampled: peakNow, peak_vmhwm: mem.peakMb },
    };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

async function run(): Promise<void> {
  const dir = mkdtempSync(join(os.tmpdir(), 'ssd-serve-load-'));
  try {
    let weights = values.weights;
    if (!weights) {
      weights = join(dir, 'ssd-tiny.safetensors');
      SSD.create(modelConfig('ssd-tiny', VOC_CLASS_NAMES), { seed: 0 }).save(weights);
    }
    const model = await SSD.load(weights);
    const photos = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 40 * i, g: 120, b: 200 - 30 * i } } })
          .composite([{ input: { create: { width: 200, height: 240, channels: 3, background: { r: 240, g: 200 - 40 * i, b: 20 } } }, left: 100 + 60 * i, top: 80 }])
          .jpeg({ quality: 85 })
          .toBuffer(),
      ),
    );
    const bomb = pngBomb(16000, 16000);
    const results = [];
    for (const name of String(values.scenarios).split(',')) results.push(await scenario(name, weights, photos, bomb));
    console.log(
      JSON.stringify({
        bench: 'serve-load',
        model: `${model.config.architecture} ${model.config.inputSize.width}px (${model.classNames.length} classes)${values.weights ? '' : ', random weights'}`,
        machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', loadavg_1m: r1(os.loadavg()[0]!), node: process.version },
        photo: '640x480 JPEG',
        bomb: `16000x16000 1-bit PNG, ${bomb.length} bytes`,
        max_batch: Number(values['max-batch']),
        results,
      }),
    );
    await model.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

run().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
