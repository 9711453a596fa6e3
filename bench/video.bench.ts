// `ssd detect` on a video: frames/s of detectVideo (decode, detect, draw, encode) per model, its peak memory for a
// short and a four times longer clip (bounded memory: the two should match), and side by side the way without
// video support: ffmpeg extracts every frame as a JPEG, then detectImages runs over the folder.
// Usage: node --import tsx bench/video.bench.ts [--size 1280x720] [--frames 60] [--models ssd-tiny,ssdlite320-mobilenetv2,ssd300]
//        [--top-k 10]
// Each measurement runs in a child process of its own, so that its peak resident memory is its own. The models have
// random weights (speed does not depend on them) and would report 200 boxes a frame; --top-k keeps a trained
// model's handful, since drawing the labels costs about 2 ms a box on a 720p frame.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SSD } from '../src/nn/model.js';
import { modelConfig } from '../src/nn/models/index.js';
import { detectImages } from '../src/predict/detect-images.js';
import { detectVideo } from '../src/predict/detect-video.js';
import { findFfmpeg } from '../src/predict/ffmpeg.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1280x720' },
    frames: { type: 'string', default: '60' },
    models: { type: 'string', default: 'ssd-tiny,ssdlite320-mobilenetv2,ssd300' },
    'top-k': { type: 'string', default: '10' },
    child: { type: 'string' },
  },
});
const ffmpeg = findFfmpeg();
const r2 = (x: number): number => Math.round(x * 100) / 100;

/** One measurement in this process: `mode` video or images, over `clip`. */
async function measure(mode: string, model: string, clip: string, frames: number, dir: string): Promise<Record<string, unknown>> {
  const ssd = SSD.create(modelConfig(model), { seed: 0 });
  const topK = Number(values['top-k']);
  const t0 = performance.now();
  if (mode === 'video') {
    const r = await detectVideo(ssd, clip, { outDir: join(dir, `out-${model}-${frames}`), ffmpeg, topK });
    if (r.frames !== frames) throw new Error(`${r.frames} frames decoded, ${frames} expected`);
  } else {
    const folder = join(dir, `frames-${model}`);
    mkdirSync(folder);
    const x = spawnSync(ffmpeg.path, ['-hide_banner', '-loglevel', 'error', '-i', clip, '-q:v', '2', join(folder, '%06d.jpg')]);
    if (x.status !== 0) throw new Error(x.stderr.toString());
    const files = readdirSync(folder).map((f) => join(folder, f));
    const r = await detectImages(ssd, files, { outDir: join(dir, `out-images-${model}`), topK });
    if (r.images.length !== frames) throw new Error(`${r.images.length} images detected, ${frames} expected`);
  }
  const seconds = (performance.now() - t0) / 1000;
  await ssd.dispose();
  return { mode, model, frames, seconds: r2(seconds), frames_per_s: r2(frames / seconds), peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024) };
}

async function main(): Promise<void> {
  if (values.child !== undefined) {
    const [mode, model, clip, frames, dir] = JSON.parse(values.child) as [string, string, string, number, string];
    console.log(JSON.stringify(await measure(mode, model, clip, frames, dir)));
    return;
  }
  const [w, h] = values.size!.split('x').map(Number) as [number, number];
  const frames = Number(values.frames);
  const dir = mkdtempSync(join(tmpdir(), 'ssd-video-bench-'));
  try {
    const clip = (n: number): string => {
      const file = join(dir, `clip-${n}.mp4`);
      // ffmpeg's moving test pattern at 30 fps, H.264.
      const r = spawnSync(ffmpeg.path, ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${w}x${h}:rate=30`, '-frames:v', String(n), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-y', file]);
      if (r.status !== 0) throw new Error(r.stderr.toString());
      return file;
    };
    const short = clip(frames), long = clip(4 * frames);
    const run = (mode: string, model: string, file: string, n: number): Record<string, unknown> => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', JSON.stringify([mode, model, file, n, dir]), '--top-k', values['top-k']!], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
      return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    };
    const results: Record<string, unknown>[] = [];
    for (const model of values.models!.split(',')) results.push(run('video', model, short, frames));
    const tiny = values.models!.split(',')[0]!;
    results.push(run('video', tiny, long, 4 * frames));
    results.push(run('images', tiny, short, frames));
    console.log(JSON.stringify({ bench: 'video', ffmpeg: ffmpeg.source, size: values.size, top_k: Number(values['top-k']), results }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
