// The bounded image decoder: the pixel limit is judged from the header before any pixel is decoded (a 31 KB PNG
// bomb costs nothing), decodes to the network's size keep memory at that size, and their pixels equal sharp's
// whole decode + orientation + resize (the reference) exactly, or within a stated tolerance where a JPEG shrinks
// while decoding or a large rotated image is resized before it is turned.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeImage, decodeResized, orientPixels, readImageHeader, readImageSize, resizePixels, ImageDecodeError, ImageTooLargeError } from '../../src/io/image.js';
import { pngBomb } from './png-bomb.js';
import { peakRssGrowth } from './peak-rss.js';

// First in the file, so that no earlier test has left freed memory for the decoder to reuse unseen.
test('memory: a 40-megapixel JPEG decoded to 300x300 costs far less than its 120 MB of pixels; a whole decode costs them', async () => {
  const W = 8000, H = 5000;
  const encode = (orientation: number) =>
    sharp({ create: { width: W, height: H, channels: 3, background: { r: 30, g: 90, b: 160 } } })
      .composite([{ input: { create: { width: 3000, height: 2000, channels: 3, background: { r: 240, g: 200, b: 20 } } }, left: 1000, top: 1500 }])
      .withMetadata({ orientation })
      .jpeg({ quality: 85 })
      .toBuffer();
  const jpeg = await encode(1);
  const turned = await encode(6);
  const resized = await peakRssGrowth(() => decodeResized(jpeg, { width: 300, height: 300 }));
  assert.deepEqual([resized.result.width, resized.result.height, resized.result.data.length], [W, H, 300 * 300 * 3]);
  assert.ok(resized.growthMb < 40, `decodeResized of a ${W}x${H} JPEG grew RSS by ${resized.growthMb.toFixed(0)} MB`);
  const rotated = await peakRssGrowth(() => decodeResized(turned, { width: 300, height: 300 }));
  assert.deepEqual([rotated.result.width, rotated.result.height], [H, W]);
  assert.ok(rotated.growthMb < 40, `decodeResized of the rotated JPEG grew RSS by ${rotated.growthMb.toFixed(0)} MB`);
  // The measurement can see a whole decode: 8000 x 5000 x 3 bytes = 114 MB.
  const whole = await peakRssGrowth(() => decodeImage(jpeg));
  assert.ok(whole.growthMb > 100, `a whole decode grew RSS by only ${whole.growthMb.toFixed(0)} MB`);
});

test('an image bomb (16000x16000 1-bit PNG, 31 KB) is refused from its header: no memory, an error naming the input and the limit', async () => {
  const bomb = pngBomb(16000, 16000);
  assert.ok(bomb.length < 40_000, `${bomb.length} bytes`);
  const dir = mkdtempSync(join(tmpdir(), 'ssd-bomb-'));
  try {
    const file = join(dir, 'bomb.png');
    writeFileSync(file, bomb);
    const message = `${file}: image is 16000x16000 = 256 megapixels, above the limit of 40 megapixels; --max-pixels raises it`;
    const t0 = performance.now();
    const { growthMb } = await peakRssGrowth(async () => {
      await assert.rejects(decodeImage(file), (e: Error) => e instanceof ImageTooLargeError && e.message === message);
      await assert.rejects(decodeResized(file, { width: 300, height: 300 }), (e: Error) => e instanceof ImageTooLargeError && e.message === message);
      await assert.rejects(decodeResized(bomb, { width: 300, height: 300 }, { name: 'upload' }), /^ImageTooLargeError: upload: image is 16000x16000/);
      await assert.rejects(decodeImage(bomb, { maxPixels: 200e6 }), /above the limit of 200 megapixels/);
    });
    assert.ok(growthMb < 50, `refusing the bomb grew RSS by ${growthMb.toFixed(0)} MB`);
    assert.ok(performance.now() - t0 < 2000, 'refused from the header, without decoding');
    // The header itself is fine to read.
    assert.deepEqual(await readImageSize(file), { width: 16000, height: 16000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // A limit below a small image refuses it; one above lets it through.
  const small = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#406080' } }).png().toBuffer();
  await assert.rejects(decodeImage(small, { maxPixels: 100_000 }), /image is 400x300 = 0\.12 megapixels, above the limit of 0\.1 megapixels/);
  assert.equal((await decodeImage(small, { maxPixels: 120_000 })).width, 400);
});

test('formats: SVG and other non-raster inputs are refused; a size-less or broken input is an ImageDecodeError', async () => {
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="30000" height="30000"><rect width="10" height="10"/></svg>');
  await assert.rejects(decodeResized(svg, { width: 300, height: 300 }), (e: Error) => e instanceof ImageDecodeError && /<image bytes>: svg is not a supported image format/.test(e.message));
  await assert.rejects(readImageHeader(Buffer.from('hello')), (e: Error) => e instanceof ImageDecodeError && /<image bytes>: cannot read image header/.test(e.message));
  const jpeg = await sharp(picture(64, 48), { raw: { width: 64, height: 48, channels: 3 } }).jpeg().toBuffer();
  await assert.rejects(decodeResized(jpeg.subarray(0, jpeg.length >> 1), { width: 30, height: 30 }, { name: 'cut.jpg' }), (e: Error) => e instanceof ImageDecodeError && /^ImageDecodeError: cut\.jpg: cannot decode image/.test(String(e)));
  // A bad target size is the caller's error, not the image's.
  await assert.rejects(decodeResized(jpeg, { width: 100000, height: 100000 }), (e: Error) => !(e instanceof ImageDecodeError) && /target size/.test(e.message));
  await assert.rejects(resizePixels({ data: new Uint8Array(5), width: 2, height: 2, channels: 3 }, { width: 4, height: 4 }), /<decoded image>: cannot read image: 5 bytes for 2x2 pixels of 3 channels/);
});

test('decodeImage: grayscale spreads to RGB, alpha is dropped, EXIF orientation applied; readImageSize agrees', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssd-decode-'));
  try {
    const gray = join(dir, 'g.png'), rgba = join(dir, 'a.png'), rotated = join(dir, 'r.png');
    await sharp({ create: { width: 5, height: 3, channels: 3, background: '#808080' } }).toColourspace('b-w').png().toFile(gray);
    await sharp({ create: { width: 5, height: 3, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 0.5 } } }).png().toFile(rgba);
    // A 5x3 image stored with EXIF orientation 6 (rotate 90 degrees clockwise to display): 3x5.
    const raw = new Uint8Array(5 * 3 * 3);
    raw.set([255, 255, 255], 0); // top-left pixel white, the rest black
    await sharp(raw, { raw: { width: 5, height: 3, channels: 3 } }).png().withMetadata({ orientation: 6 }).toFile(rotated);
    const g = await decodeImage(gray);
    assert.deepEqual([g.width, g.height, g.data.length], [5, 3, 45]);
    assert.ok(g.data.every((v) => v === 128));
    const a = await decodeImage(rgba);
    assert.deepEqual(Array.from(a.data.subarray(0, 6)), [10, 20, 30, 10, 20, 30]);
    const r = await decodeImage(rotated);
    assert.deepEqual([r.width, r.height], [3, 5]);
    // Rotated clockwise, the stored top-left corner lands top-right.
    assert.deepEqual(Array.from(r.data.subarray(3 * 2, 3 * 3)), [255, 255, 255]);
    assert.deepEqual(Array.from(r.data.subarray(0, 3)), [0, 0, 0]);
    assert.deepEqual(await readImageSize(rotated), { width: 3, height: 5 });
    const broken = join(dir, 'broken.jpg');
    writeFileSync(broken, 'not an image');
    await assert.rejects(decodeImage(broken), (e: Error) => e.message.startsWith(`${broken}: cannot decode image`));
    await assert.rejects(readImageSize(broken), /cannot read image header/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A test picture with edges, gradients, texture and noise (JPEG- and resize-sensitive content). */
function picture(w: number, h: number): Uint8Array {
  const px = new Uint8Array(w * h * 3);
  let s = 1;
  const rnd = () => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = 3 * (y * w + x);
      const box = x > w * 0.2 && x < w * 0.55 && y > h * 0.3 && y < h * 0.8;
      const disc = (x - w * 0.7) ** 2 + (y - h * 0.4) ** 2 < (h * 0.2) ** 2;
      px[i] = box ? 220 : disc ? 30 : Math.round((255 * x) / w);
      px[i + 1] = box ? 40 : disc ? 200 : Math.round((255 * y) / h);
      px[i + 2] = Math.min(255, Math.max(0, Math.round(128 + 60 * Math.sin(x / 7) * Math.cos(y / 11) + (rnd() - 0.5) * 40)));
    }
  }
  return px;
}

/** The reference: sharp decodes the whole image upright, then resizes the upright pixels (fill, linear). */
async function reference(input: Buffer, W: number, H: number): Promise<Buffer> {
  const { data, info } = await sharp(input).rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const channels = info.channels as 1 | 3;
  const out = await sharp(data, { raw: { width: info.width, height: info.height, channels } }).resize(W, H, { fit: 'fill', kernel: 'linear' }).toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  assert.equal(out.info.channels, 3);
  return out.data;
}

/** Differences in 8-bit levels: mean, 99th percentile and largest. */
function levels(a: Uint8Array, b: Uint8Array): { mean: number; p99: number; max: number } {
  assert.equal(a.length, b.length);
  const counts = new Float64Array(256);
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    counts[d]!++;
    sum += d;
  }
  let max = 0, p99 = -1;
  for (let d = 0, seen = 0; d < 256; d++) {
    if (counts[d]! > 0) max = d;
    seen += counts[d]!;
    if (p99 < 0 && seen >= 0.99 * a.length) p99 = d;
  }
  return { mean: sum / a.length, p99, max };
}

// The tolerance of the shrinking decodes (and of 16-bit images, resized before they are made 8-bit), in 8-bit
// levels against the reference; docs/serving.md has the measured differences.
const TOLERANCE = { mean: 1, p99: 3, max: 16 };

test('orientPixels turns stored pixels upright exactly as sharp does for EXIF orientations 1-8', async () => {
  const w = 5, h = 3;
  const stored = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 37) % 251);
  for (let o = 1; o <= 8; o++) {
    const file = await sharp(stored, { raw: { width: w, height: h, channels: 3 } }).withMetadata({ orientation: o }).png().toBuffer();
    const want = await sharp(file).rotate().raw().toBuffer({ resolveWithObject: true });
    const got = orientPixels({ data: stored, width: w, height: h, channels: 3 }, o);
    assert.deepEqual([got.width, got.height], [want.info.width, want.info.height], `orientation ${o} size`);
    assert.deepEqual(Array.from(got.data), Array.from(want.data), `orientation ${o} pixels`);
  }
});

test('decodeResized equals the whole decode + orientation + resize exactly, where nothing shrinks while decoding', async () => {
  const W = 300, H = 200;
  const cases: [string, Buffer][] = [];
  const px = picture(400, 240);
  const raw = { raw: { width: 400, height: 240, channels: 3 as const } };
  cases.push(['PNG', await sharp(px, raw).png().toBuffer()]);
  cases.push(['grey PNG', await sharp(px, raw).toColourspace('b-w').png().toBuffer()]);
  cases.push(['WebP', await sharp(px, raw).webp().toBuffer()]);
  cases.push(['JPEG (under 4x the target: no shrink)', await sharp(px, raw).jpeg().toBuffer()]);
  cases.push(['RGBA PNG (colours taken as they are)', await sharp(px, raw).ensureAlpha(0.5).png().toBuffer()]);
  // A large upright PNG streams through one pipeline: still exactly the reference.
  cases.push(['1300x900 PNG', await sharp(picture(1300, 900), { raw: { width: 1300, height: 900, channels: 3 } }).png().toBuffer()]);
  for (let o = 2; o <= 8; o++) cases.push([`PNG with EXIF orientation ${o}`, await sharp(px, raw).withMetadata({ orientation: o }).png().toBuffer()]);
  cases.push(['JPEG with EXIF orientation 6', await sharp(px, raw).withMetadata({ orientation: 6 }).jpeg().toBuffer()]);
  for (const [what, bytes] of cases) {
    const got = await decodeResized(bytes, { width: W, height: H });
    const header = await readImageHeader(bytes);
    assert.deepEqual([got.width, got.height], [header.width, header.height], what);
    assert.deepEqual(levels(got.data, await reference(bytes, W, H)), { mean: 0, p99: 0, max: 0 }, what);
  }
});

test(`decodeResized is within ${TOLERANCE.mean} level (mean), ${TOLERANCE.p99} (99th percentile), ${TOLERANCE.max} (largest) of the reference where it shrinks while decoding`, async () => {
  const W = 300, H = 200;
  for (const [w, h] of [[1300, 900], [2400, 1600]] as const) {
    const px = picture(w, h);
    const raw = { raw: { width: w, height: h, channels: 3 as const } };
    const cases: [string, Buffer][] = [[`${w}x${h} JPEG`, await sharp(px, raw).jpeg({ quality: 90 }).toBuffer()]];
    // 16 bits a channel: resized at 16 bits, then made 8 (the reference makes 8 bits first).
    if (w === 1300) cases.push([`${w}x${h} 16-bit PNG`, await sharp(px, raw).toColourspace('rgb16').png({ compressionLevel: 1 }).toBuffer()]);
    // Turns that keep the axes (2, 3) and that swap them (6, 8), lossy and lossless.
    const [keep, swap] = w === 1300 ? [3, 6] : [2, 8];
    cases.push([`${w}x${h} JPEG, EXIF ${keep}`, await sharp(px, raw).withMetadata({ orientation: keep }).jpeg({ quality: 90 }).toBuffer()]);
    cases.push([`${w}x${h} PNG, EXIF ${swap}`, await sharp(px, raw).withMetadata({ orientation: swap }).png({ compressionLevel: 1 }).toBuffer()]);
    cases.push([`${w}x${h} JPEG, EXIF ${swap}`, await sharp(px, raw).withMetadata({ orientation: swap }).jpeg({ quality: 90 }).toBuffer()]);
    for (const [what, bytes] of cases) {
      const d = levels((await decodeResized(bytes, { width: W, height: H })).data, await reference(bytes, W, H));
      assert.ok(d.mean <= TOLERANCE.mean && d.p99 <= TOLERANCE.p99 && d.max <= TOLERANCE.max, `${what}: ${JSON.stringify(d)}`);
    }
  }
  // Orientation stays right: a large picture stored turned (lossless) with EXIF 6 gives the upright picture's input.
  const w = 2400, h = 1600;
  const px = picture(w, h);
  const upright = await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
  const turned = await sharp(px, { raw: { width: w, height: h, channels: 3 } }).rotate(270).withMetadata({ orientation: 6 }).png({ compressionLevel: 1 }).toBuffer();
  const a = await decodeResized(upright, { width: W, height: H });
  const b = await decodeResized(turned, { width: W, height: H });
  assert.deepEqual([b.width, b.height], [w, h]);
  const d = levels(a.data, b.data);
  assert.ok(d.mean <= TOLERANCE.mean && d.p99 <= TOLERANCE.p99 && d.max <= TOLERANCE.max, `turned vs upright: ${JSON.stringify(d)}`);
});
