// Decoding an image for the network (300x300): time (best of --repeat) and peak memory (the first decode) of `decodeResized` (src/io/image.ts), of a
// whole decode followed by the resize (what `prepare` did before), and of Pillow (torchvision's image loader:
// `Image.open`, `draft` for JPEGs, `resize` bilinear) side by side, on 40-megapixel inputs and the 16000x16000
// PNG bomb. Each measurement runs in a fresh process, so that its peak RSS is its own.
// Usage: node --import tsx bench/image-decode.bench.ts [--python /usr/bin/python3] [--repeat 3]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { decodeImage, decodeResized, resizePixels } from '../src/io/image.js';
import { peakRssGrowth } from '../test/io/peak-rss.js';
import { pngBomb } from '../test/io/png-bomb.js';

const { values } = parseArgs({ options: { python: { type: 'string', default: '/usr/bin/python3' }, repeat: { type: 'string', default: '3' }, one: { type: 'string' }, file: { type: 'string' } } });
const SIZE = 300;
const r1 = (x: number) => Math.round(x * 10) / 10;

/** In a child: one way of decoding one file, `repeat` times; prints {ms (best), peak_growth_mb} or {error}. */
async function one(way: string, file: string): Promise<void> {
  // Warm up on a small image first: libvips' start (threads, caches) is not the big image's cost.
  const small = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#808080' } }).jpeg().toBuffer();
  await decodeResized(small, { width: SIZE, height: SIZE });
  await decodeImage(small);
  let best = Infinity, error: string | undefined, growthMb = NaN;
  const decode = async (): Promise<void> => {
    const t0 = performance.now();
    try {
      if (way === 'decodeResized') await decodeResized(file, { width: SIZE, height: SIZE });
      else {
        const img = await decodeImage(file, { maxPixels: 300e6 });
        await resizePixels({ ...img, channels: 3 }, { width: SIZE, height: SIZE });
      }
    } catch (e) {
      error = (e as Error).message.replace(file, '<file>');
    }
    best = Math.min(best, performance.now() - t0);
  };
  // Memory of the first decode (later ones reuse what the allocator kept), time the best of `repeat`.
  growthMb = (await peakRssGrowth(decode)).growthMb;
  for (let i = 1; i < Number(values.repeat); i++) await decode();
  console.log(JSON.stringify(error ? { error, ms: r1(best) } : { ms: r1(best), peak_growth_mb: r1(growthMb) }));
}

const PILLOW = `
import json, sys, time
from PIL import Image

def status_kb(key):
    # VmHWM is this process's own peak (getrusage's maxrss carries the parent's over exec).
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith(key + ':'))

path, size, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
Image.new('RGB', (64, 48)).resize((size, size), Image.BILINEAR)  # warm up
before = status_kb('VmRSS')
best, error, peak = float('inf'), None, None
for _ in range(repeat):
    t0 = time.perf_counter()
    try:
        im = Image.open(path)
        if im.format == 'JPEG':
            im.draft('RGB', (2 * size, 2 * size))
        im = im.convert('RGB').resize((size, size), Image.BILINEAR)
    except Exception as e:
        error = type(e).__name__ + ': ' + str(e).replace(path, '<file>')
    best = min(best, (time.perf_counter() - t0) * 1000)
    peak = peak or status_kb('VmHWM')  # the first decode's
print(json.dumps({'error': error, 'ms': round(best, 1)} if error else {'ms': round(best, 1), 'peak_growth_mb': round((peak - before) / 1024, 1)}))
`;

function child(cmd: string, args: string[]): unknown {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line);
  } catch {
    return { error: `exit ${r.status}: ${r.stderr.trim().split('\n').pop()}` };
  }
}

async function main(): Promise<void> {
  if (values.one) return one(values.one, values.file!);
  const dir = mkdtempSync(join(os.tmpdir(), 'ssd-decode-bench-'));
  try {
    const W = 8000, H = 5000;
    const noise = () => sharp({ create: { width: W, height: H, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 30 } } });
    const inputs: [string, Buffer][] = [
      ['8000x5000 JPEG', await noise().jpeg({ quality: 85 }).toBuffer()],
      ['8000x5000 JPEG, EXIF 6', await noise().withMetadata({ orientation: 6 }).jpeg({ quality: 85 }).toBuffer()],
      ['8000x5000 progressive JPEG', await noise().jpeg({ quality: 85, progressive: true }).toBuffer()],
      ['8000x5000 PNG', await noise().png({ compressionLevel: 1 }).toBuffer()],
      ['8000x5000 PNG with alpha', await noise().ensureAlpha(0.5).png({ compressionLevel: 1 }).toBuffer()],
      ['16000x16000 1-bit PNG (bomb)', pngBomb(16000, 16000)],
    ];
    const self = fileURLToPath(import.meta.url);
    const script = join(dir, 'pillow.py');
    writeFileSync(script, PILLOW);
    const results = [];
    for (const [name, bytes] of inputs) {
      const file = join(dir, `input.${name.includes('PNG') ? 'png' : 'jpg'}`);
      writeFileSync(file, bytes);
      const ours = (way: string) => child(process.execPath, ['--import', 'tsx', self, '--one', way, '--file', file, '--repeat', String(values.repeat)]);
      results.push({
        input: name,
        file_mb: r1(bytes.length / 1e6),
        decodeResized: ours('decodeResized'),
        whole_decode_then_resize: ours('whole'),
        pillow: child(values.python!, [script, file, String(SIZE), String(values.repeat)]),
      });
    }
    const pil = spawnSync(values.python!, ['-c', 'import PIL; print(PIL.__version__)'], { encoding: 'utf8' }).stdout.trim();
    console.log(JSON.stringify({ bench: 'image-decode', target: `${SIZE}x${SIZE}`, repeat: Number(values.repeat), machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', loadavg_1m: r1(os.loadavg()[0]!) }, sharp: sharp.versions.sharp, pillow: pil, results }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
