import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  adjustBrightness, adjustContrast, adjustHue, adjustSaturation, evalTransform, flipBoxes, fullWindow,
  photometricDistort, randomCrop, randomExpand, resampleInto, toPlanar, trainTransform, type PlanarImage, type Targets,
} from '../../src/data/augment.js';
import { IMAGENET_NORMALIZATION } from '../../src/data/normalization.js';
import { deriveSeed, Random } from '../../src/data/random.js';
import { iouOfCorners } from '../../src/boxes/iou.js';
import { decodeImage, type DecodedImage } from '../../src/data/decode.js';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function planar(width: number, height: number, f: (c: number, x: number, y: number) => number): PlanarImage {
  const data = new Float32Array(3 * width * height);
  for (let c = 0; c < 3; c++) for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[(c * height + y) * width + x] = f(c, x, y);
  return { data, width, height };
}

function randomTargets(rng: Random, W: number, H: number, n: number): Targets {
  const boxes = new Float32Array(4 * n);
  for (let i = 0; i < n; i++) {
    const x0 = rng.uniform(0, W - 4), y0 = rng.uniform(0, H - 4);
    boxes.set([x0, y0, rng.uniform(x0 + 2, W), rng.uniform(y0 + 2, H)], 4 * i);
  }
  return { boxes, labels: Int32Array.from({ length: n }, (_, i) => i + 1), difficult: Uint8Array.from({ length: n }, (_, i) => i % 2) };
}

test('Random: seeded streams repeat, ranges hold, derived seeds differ per path', () => {
  const a = new Random(42), b = new Random(42), c = new Random(43);
  const xs = Array.from({ length: 100 }, () => a.next());
  assert.deepEqual(xs, Array.from({ length: 100 }, () => b.next()));
  assert.notDeepEqual(xs, Array.from({ length: 100 }, () => c.next()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const ints = new Set(Array.from({ length: 2000 }, () => a.int(2, 5)));
  assert.deepEqual([...ints].sort(), [2, 3, 4, 5]);
  assert.equal(deriveSeed(1, 2, 3), deriveSeed(1, 2, 3));
  assert.notEqual(deriveSeed(1, 2, 3), deriveSeed(1, 3, 2));
  assert.notEqual(deriveSeed(1, 2), deriveSeed(2, 2));
  // State save/restore resumes a stream exactly.
  const s = a.state, next = a.next();
  a.state = s;
  assert.equal(a.next(), next);
});

test('photometric ops: known values, and random distortions keep every value in 0..1', () => {
  const px = (r: number, g: number, b: number) => planar(1, 1, (c) => [r, g, b][c]);
  let p = px(0.4, 0.2, 0.8);
  adjustBrightness(p, 1.5);
  assert.deepEqual(Array.from(p.data).map((v) => +v.toFixed(5)), [0.6, 0.3, 1]);
  p = px(0.4, 0.2, 0.8);
  adjustSaturation(p, 0);
  const gray = 0.2989 * 0.4 + 0.587 * 0.2 + 0.114 * 0.8;
  for (const v of p.data) assert.ok(Math.abs(v - gray) < 1e-6);
  p = planar(2, 1, (c, x) => (x === 0 ? 0 : 1));
  adjustContrast(p, 0);
  const meanGray = (0.2989 + 0.587 + 0.114) / 2; // pixels black and white
  for (const v of p.data) assert.ok(Math.abs(v - meanGray) < 1e-6);
  p = px(1, 0, 0);
  adjustHue(p, 1 / 3); // red -> green
  assert.deepEqual(Array.from(p.data).map((v) => +v.toFixed(5)), [0, 1, 0]);
  p = px(0.3, 0.6, 0.2);
  adjustHue(p, 0);
  assert.deepEqual(Array.from(p.data).map((v) => +v.toFixed(5)), [0.3, 0.6, 0.2]);
  adjustHue(p, 0.1);
  adjustHue(p, -0.1);
  assert.deepEqual(Array.from(p.data).map((v) => +v.toFixed(5)), [0.3, 0.6, 0.2]);
  const rng = new Random(5);
  for (let t = 0; t < 30; t++) {
    const img = planar(8, 6, (c, x, y) => ((x * 7 + y * 13 + c * 5) % 17) / 16);
    const before = img.data.slice();
    photometricDistort(img, rng, 1);
    assert.ok(img.data.every((v) => v >= 0 && v <= 1), 'values stay in 0..1');
    assert.notDeepEqual(img.data, before);
  }
});

test('resampleInto: identity at equal size, mean-coloured canvas outside the image, linear ramps preserved', () => {
  const src = planar(7, 5, (c, x, y) => (c + 1) * 0.1 + x * 0.05 + y * 0.02);
  const out = new Float32Array(3 * 7 * 5 + 10);
  resampleInto(src, fullWindow(7, 5), out, 10, 7, 5);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < 35; i++) {
      const want = (src.data[c * 35 + i] - IMAGENET_NORMALIZATION.mean[c]) / IMAGENET_NORMALIZATION.std[c];
      assert.ok(Math.abs(out[10 + c * 35 + i] - want) < 1e-5);
    }
  }
  // A window of the canvas left of the image: all filler, i.e. 0 after normalisation.
  const fill = new Float32Array(3 * 4 * 4);
  resampleInto(src, { left: 20, top: 0, x0: 0, y0: 0, x1: 10, y1: 5, flip: false }, fill, 0, 4, 4);
  assert.ok(fill.every((v) => Math.abs(v) < 1e-6));
  // Downscaling a horizontal ramp by 2 samples it at the output pixel centres (away from the borders).
  const ramp = planar(40, 4, (_c, x) => x / 40);
  const small = new Float32Array(3 * 20 * 2);
  resampleInto(ramp, fullWindow(40, 4), small, 0, 20, 2, [0, 0, 0], [1, 1, 1]);
  for (let x = 2; x < 18; x++) assert.ok(Math.abs(small[x] - (2 * x + 0.5) / 40) < 1e-5, `x=${x}: ${small[x]}`);
  assert.throws(() => resampleInto(src, fullWindow(7, 5), new Float32Array(10), 0, 7, 5), /does not fit in an output of length 10/);
  // Decoded bytes (HWC) resample exactly as their float planes do, flipped, expanded and cropped too.
  const bytes: DecodedImage = { data: Uint8Array.from({ length: 3 * 23 * 17 }, (_, i) => (i * 37) % 256), width: 23, height: 17 };
  for (const win of [fullWindow(23, 17), { left: 5, top: 2, x0: 1, y0: 0, x1: 40, y1: 30, flip: true }]) {
    const fromBytes = new Float32Array(3 * 11 * 9), fromPlanes = new Float32Array(3 * 11 * 9);
    resampleInto(bytes, win, fromBytes, 0, 11, 9);
    resampleInto(toPlanar(bytes), win, fromPlanes, 0, 11, 9);
    fromBytes.forEach((v, i) => assert.ok(Math.abs(v - fromPlanes[i]) < 1e-5));
  }
});

test('flip: boxes flipped twice are the same boxes; a flipped image is the mirror of the unflipped one', () => {
  const rng = new Random(9);
  const t = randomTargets(rng, 50, 40, 6);
  const once = flipBoxes(t.boxes, 50);
  for (let i = 0; i < once.length; i += 4) assert.ok(once[i + 2] > once[i] && once[i] >= 0 && once[i + 2] <= 50);
  const twice = flipBoxes(once, 50);
  // Identity up to float32 rounding of 50 - x.
  twice.forEach((v, i) => assert.ok(Math.abs(v - t.boxes[i]) < 1e-5, `value ${i}: ${v} vs ${t.boxes[i]}`));
  // Boxes on the pixel grid flip exactly.
  const grid = Float32Array.from([0, 1, 7, 9, 12, 0, 50, 3]);
  assert.deepEqual(flipBoxes(flipBoxes(grid, 50), 50), grid);
  const src = planar(9, 6, (c, x, y) => (x * x + y + c) / 100);
  const a = new Float32Array(3 * 6 * 5), b = new Float32Array(3 * 6 * 5);
  const win = { left: 0, top: 0, x0: 1, y0: 0, x1: 9, y1: 6, flip: false };
  resampleInto(src, win, a, 0, 5, 6);
  resampleInto(src, { ...win, flip: true }, b, 0, 5, 6);
  for (let c = 0; c < 3; c++) for (let y = 0; y < 6; y++) for (let x = 0; x < 5; x++) assert.equal(b[(c * 6 + y) * 5 + x], a[(c * 6 + y) * 5 + 4 - x]);
});

test('expand: the canvas is 1..4x the image and the boxes move with the image', () => {
  const rng = new Random(3);
  for (let t = 0; t < 50; t++) {
    const target = randomTargets(rng, 30, 20, 3);
    const e = randomExpand(30, 20, target.boxes, rng, 4);
    assert.ok(e.width >= 30 && e.width <= 120 && e.height >= 20 && e.height <= 80);
    assert.ok(e.left >= 0 && e.left + 30 <= e.width && e.top >= 0 && e.top + 20 <= e.height);
    for (let i = 0; i < 12; i += 4) {
      assert.equal(e.boxes[i], Math.fround(target.boxes[i] + e.left));
      assert.equal(e.boxes[i + 3], Math.fround(target.boxes[i + 3] + e.top));
    }
  }
});

test('random crop keeps exactly the objects whose centres lie inside, clipped, and meets the minimum overlap', () => {
  const rng = new Random(11);
  let cropped = 0;
  for (let t = 0; t < 300; t++) {
    const target = randomTargets(rng, 100, 80, 1 + (t % 6));
    const minOverlaps = t % 2 ? [0.5] : [0, 0.1, 0.3, 0.5, 0.7, 0.9, null];
    const r = randomCrop(100, 80, target, rng, minOverlaps);
    const cw = r.x1 - r.x0, ch = r.y1 - r.y0;
    if (cw === 100 && ch === 80 && r.target === target) continue; // kept the image
    cropped++;
    assert.ok(Number.isInteger(r.x0) && Number.isInteger(r.y1));
    assert.ok(cw >= 29 && ch >= 23 && ch / cw > 0.5 && ch / cw < 2);
    const inside: number[] = [];
    let best = 0;
    for (let i = 0; i < target.labels.length; i++) {
      const b = target.boxes.subarray(4 * i, 4 * i + 4);
      const cx = (b[0] + b[2]) / 2, cy = (b[1] + b[3]) / 2;
      if (cx > r.x0 && cx < r.x1 && cy > r.y0 && cy < r.y1) inside.push(i);
      best = Math.max(best, iouOfCorners(r.x0, r.y0, r.x1, r.y1, b[0], b[1], b[2], b[3]));
    }
    assert.deepEqual(Array.from(r.target.labels), inside.map((i) => target.labels[i]));
    assert.deepEqual(Array.from(r.target.difficult), inside.map((i) => target.difficult[i]));
    inside.forEach((i, k) => {
      const o = 4 * i, q = 4 * k;
      assert.equal(r.target.boxes[q], Math.fround(Math.max(target.boxes[o], r.x0) - r.x0));
      assert.equal(r.target.boxes[q + 3], Math.fround(Math.min(target.boxes[o + 3], r.y1) - r.y0));
      assert.ok(r.target.boxes[q + 2] > r.target.boxes[q] && r.target.boxes[q + 3] > r.target.boxes[q + 1]);
      assert.ok(r.target.boxes[q + 2] <= cw && r.target.boxes[q + 3] <= ch);
    });
    if (t % 2) assert.ok(best >= 0.5, `crop IoU ${best} below the minimum overlap 0.5`);
  }
  assert.ok(cropped > 100, `only ${cropped} crops`);
});

/** A black image with white rectangles (the objects), as decoded bytes. */
function rectanglesImage(W: number, H: number, rects: number[][]): DecodedImage {
  const data = new Uint8Array(3 * W * H);
  for (const [x0, y0, x1, y1] of rects) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) data.fill(255, 3 * (y * W + x), 3 * (y * W + x) + 3);
  return { data, width: W, height: H };
}

test('train transform: boxes stay valid inside 0..1 and still frame their objects in the output pixels', () => {
  const rects = [[10, 12, 40, 50], [70, 20, 110, 44], [30, 60, 90, 78]];
  const img = rectanglesImage(120, 90, rects);
  const target: Targets = { boxes: Float32Array.from(rects.flat()), labels: Int32Array.from([1, 2, 3]), difficult: Uint8Array.from([0, 0, 1]) };
  const S = 64;
  const out = new Float32Array(2 * 3 * S * S);
  const noColour = { photometricP: 0, width: S, height: S, mean: [0, 0, 0], std: [1, 1, 1] };
  let flips = 0;
  for (let seed = 0; seed < 150; seed++) {
    const r = trainTransform(img, target, new Random(seed), out, 3 * S * S, noColour);
    assert.ok(r.labels.length >= 1 && r.labels.length <= 3);
    for (let i = 0; i < r.labels.length; i++) {
      const [x0, y0, x1, y1] = r.boxes.subarray(4 * i, 4 * i + 4);
      assert.ok(x0 >= 0 && y0 >= 0 && x1 <= 1 && y1 <= 1 && x1 > x0 && y1 > y0, `seed ${seed}: box ${[x0, y0, x1, y1]}`);
      // The object's pixels sit under its box: the box centre is white (when the box is a few pixels wide).
      if ((x1 - x0) * S > 4 && (y1 - y0) * S > 4) {
        const cx = Math.floor(((x0 + x1) / 2) * S), cy = Math.floor(((y0 + y1) / 2) * S);
        assert.ok(out[3 * S * S + cy * S + cx] > 0.9, `seed ${seed}: box ${i} centre is not on its object`);
      }
      assert.equal(r.difficult[i], r.labels[i] === 3 ? 1 : 0);
    }
    // Nothing white lies outside every box.
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        if (out[3 * S * S + y * S + x] < 0.99) continue;
        const u = (x + 0.5) / S, v = (y + 0.5) / S;
        let covered = false;
        for (let i = 0; i < r.labels.length; i++) {
          const b = r.boxes.subarray(4 * i, 4 * i + 4);
          if (u >= b[0] - 1.5 / S && u <= b[2] + 1.5 / S && v >= b[1] - 1.5 / S && v <= b[3] + 1.5 / S) covered = true;
        }
        // A dropped object (centre outside the crop) may show its white edge; kept ones are boxed.
        if (!covered && r.labels.length === 3) assert.fail(`seed ${seed}: white pixel (${x}, ${y}) outside every box`);
      }
    }
    // Label 1's rectangle is left of label 2's in the source: the order flips with the image.
    const i1 = Array.from(r.labels).indexOf(1), i2 = Array.from(r.labels).indexOf(2);
    if (i1 >= 0 && i2 >= 0 && r.boxes[4 * i1 + 2] <= r.boxes[4 * i2]) continue;
    if (i1 >= 0 && i2 >= 0) flips++;
  }
  assert.ok(flips > 20 && flips < 130, `flipped ${flips} of 150`);
});

test('train transform: same seed, same output; another seed, another; input left untouched', () => {
  const img = rectanglesImage(60, 40, [[5, 5, 30, 30], [35, 10, 55, 35]]);
  const copy = img.data.slice();
  const target: Targets = { boxes: Float32Array.from([5, 5, 30, 30, 35, 10, 55, 35]), labels: Int32Array.from([1, 2]), difficult: new Uint8Array(2) };
  const boxesCopy = target.boxes.slice();
  const run = (seed: number) => {
    const out = new Float32Array(3 * 32 * 32);
    const r = trainTransform(img, target, new Random(seed), out, 0, { width: 32, height: 32 });
    return { out, r };
  };
  const a = run(1), b = run(1), c = run(2);
  assert.deepEqual(a.out, b.out);
  assert.deepEqual(a.r, b.r);
  assert.ok(a.out.some((v, i) => v !== c.out[i]));
  assert.deepEqual(img.data, copy);
  assert.deepEqual(target.boxes, boxesCopy);
  assert.ok(a.out.every(Number.isFinite));
});

test('eval transform: resize and normalise only; boxes become fractions of the image', () => {
  const img = rectanglesImage(40, 20, [[10, 5, 30, 15]]);
  const target: Targets = { boxes: Float32Array.from([10, 5, 30, 15]), labels: Int32Array.from([4]), difficult: Uint8Array.from([1]) };
  const out = new Float32Array(3 * 10 * 20);
  const r = evalTransform(img, target, out, 0, { width: 20, height: 10 });
  assert.deepEqual(Array.from(r.boxes), [0.25, 0.25, 0.75, 0.75]);
  assert.deepEqual([r.labels[0], r.difficult[0]], [4, 1]);
  const want = new Float32Array(out.length);
  resampleInto(toPlanar(img), fullWindow(40, 20), want, 0, 20, 10);
  assert.deepEqual(out, want);
  // The white object (value 1) lands where its box says: centre of the output.
  assert.ok(Math.abs(out[5 * 20 + 10] - (1 - IMAGENET_NORMALIZATION.mean[0]) / IMAGENET_NORMALIZATION.std[0]) < 1e-5);
});

// Reference outputs of PIL and torchvision (test/fixtures/datasets/make-pil-reference.py).
const REF = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'datasets', 'pil-reference');
const refManifest = JSON.parse(readFileSync(join(REF, 'manifest.json'), 'utf8')) as Record<string, { file: string; width?: number; height?: number }>;

function refBytes(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(REF, refManifest[name].file)));
}

function refFloats(name: string): Float32Array {
  const b = readFileSync(join(REF, refManifest[name].file));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

test('resize matches PIL bilinear (what the tutorial resizes with), shrinking and enlarging', async () => {
  for (const [src, name] of [['big.png', 'big_resized_16x12'], ['big.png', 'big_resized_30x25'], ['small.png', 'small_resized_20x17']]) {
    const img = toPlanar(await decodeImage(join(REF, src)));
    const { width: W, height: H } = refManifest[name] as { width: number; height: number };
    const out = new Float32Array(3 * W * H);
    resampleInto(img, fullWindow(img.width, img.height), out, 0, W, H, [0, 0, 0], [1, 1, 1]);
    const pil = refBytes(name); // HWC bytes
    let worst = 0;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) {
      worst = Math.max(worst, Math.abs(out[(c * H + y) * W + x] * 255 - pil[3 * (y * W + x) + c]));
    }
    // PIL works in fixed point and rounds to bytes: within one level.
    assert.ok(worst <= 1.01, `${name}: worst difference ${worst} levels`);
  }
});

test('photometric ops match torchvision adjust_brightness/contrast/saturation/hue', async () => {
  const src = await decodeImage(join(REF, 'small.png'));
  const cases: Array<[string, (p: PlanarImage) => void]> = [
    ['brightness_1.3', (p) => adjustBrightness(p, 1.3)],
    ['contrast_0.6', (p) => adjustContrast(p, 0.6)],
    ['saturation_1.4', (p) => adjustSaturation(p, 1.4)],
    ['hue_0.07', (p) => adjustHue(p, 0.07)],
    ['hue_-0.07', (p) => adjustHue(p, -0.07)],
  ];
  for (const [name, op] of cases) {
    const p = toPlanar(src);
    op(p);
    const want = refFloats(name);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(p.data[i] - want[i]));
    assert.ok(worst < 2e-5, `${name}: worst difference ${worst}`);
  }
});
