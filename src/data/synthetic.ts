// The generated shapes dataset, for demos and tests: scenes of coloured shapes (circles, squares,
// triangles, stars, hexagons, crosses) of varied size, colour and rotation, overlapping and partly
// occluding each other, on textured, noisy backgrounds (gradient + waves + lines + pixel noise).
// Scenes are rendered here in TypeScript (anti-aliased by analytic coverage: each pixel's signed
// distance to the shape's outline) and written in Pascal VOC layout, so the real VOC reader reads
// them back.
//
// Ground truth: each object's box is the tight box of the pixels it owns in the finished image
// (pixels whose centre it covers and that no later shape covers). Heavy occlusion never happens:
// a placement that would leave any shape less than `minVisible` (default 60%) visible is drawn
// again elsewhere (or the shape is left out), so every annotated shape is mostly visible and none
// is marked difficult. Shapes lie fully inside the image (truncated = 0).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { deriveSeed, Random } from './random.js';

/** Every shape the generator can draw. */
export const SHAPE_CLASSES = ['circle', 'square', 'triangle', 'star', 'hexagon', 'cross'] as const;
/** A shape the generator can draw. */
export type ShapeClass = (typeof SHAPE_CLASSES)[number];
/** The classes drawn by default (hexagons are left out: at small sizes they look like circles). */
export const DEFAULT_SHAPE_CLASSES: readonly ShapeClass[] = ['circle', 'square', 'triangle', 'star', 'cross'];

/** Options of one scene. */
export interface SceneOptions {
  /** Image size in pixels: one number (square) or [min, max] for width and height drawn independently. Default 256. */
  size?: number | [number, number];
  /** The shape classes, in label order (label k = classes[k-1]). Default DEFAULT_SHAPE_CLASSES. */
  classes?: readonly ShapeClass[];
  /** Objects per scene, drawn uniformly. Default [1, 6]. */
  objects?: [number, number];
  /** Shape size (circumscribed diameter) as a fraction of the image's shorter side. Default [0.12, 0.45]. */
  scale?: [number, number];
  /** The least visible fraction any shape may keep once later shapes cover it. Default 0.6. */
  minVisible?: number;
  /** Standard deviation of the pixel noise, in 0..255 units, drawn per image from [0, noise]. Default 12. */
  noise?: number;
}

/** A rendered scene. */
export interface Scene {
  width: number;
  height: number;
  /** width*height*3 bytes, RGB interleaved (HWC). */
  rgb: Uint8Array;
  /** Per pixel, the index (into labels) of the object owning it, or -1 for the background. */
  owner: Int16Array;
  /** n boxes `[xmin, ymin, xmax, ymax]` in continuous pixels: the tight box of each object's owned pixels. */
  boxes: Float32Array;
  /** n labels, 1..C (index into the classes plus one). */
  labels: Int32Array;
  /** n visible fractions (owned pixels / pixels the shape covers on its own). */
  visible: Float32Array;
}

// ---------------------------------------------------------------------------------------------
// Geometry

/** Outline of a shape of circumradius 1 at the origin (x, y pairs), or null for the circle. */
function unitOutline(shape: ShapeClass): number[] | null {
  const ring = (k: number, phase: number, radius: (i: number) => number) => {
    const out: number[] = [];
    for (let i = 0; i < k; i++) {
      const a = phase + (2 * Math.PI * i) / k;
      out.push(radius(i) * Math.cos(a), radius(i) * Math.sin(a));
    }
    return out;
  };
  switch (shape) {
    case 'circle': return null;
    case 'square': return ring(4, Math.PI / 4, () => 1);
    case 'triangle': return ring(3, -Math.PI / 2, () => 1);
    case 'hexagon': return ring(6, 0, () => 1);
    case 'star': return ring(10, -Math.PI / 2, (i) => (i % 2 === 0 ? 1 : 0.45));
    case 'cross': {
      const a = 0.34; // a plus sign with arms 2a wide, the arms' outer corners on the unit circle
      const L = Math.sqrt(1 - a * a);
      return [a, -L, a, -a, L, -a, L, a, a, a, a, L, -a, L, -a, a, -L, a, -L, -a, -a, -a, -a, -L];
    }
  }
}

/**
 * Coverage (0..1) of each pixel of the window [x0, x0+w) x [y0, y0+h) by a shape, from the signed
 * distance of the pixel's centre to the outline (anti-aliasing over one pixel).
 */
function coverage(poly: Float64Array | null, cx: number, cy: number, r: number, x0: number, y0: number, w: number, h: number, out: Float32Array): void {
  if (poly === null) {
    for (let y = 0; y < h; y++) {
      const dy = y0 + y + 0.5 - cy;
      for (let x = 0; x < w; x++) {
        const dx = x0 + x + 0.5 - cx;
        const c = r + 0.5 - Math.sqrt(dx * dx + dy * dy);
        out[y * w + x] = c <= 0 ? 0 : c >= 1 ? 1 : c;
      }
    }
    return;
  }
  const n = poly.length / 2;
  for (let y = 0; y < h; y++) {
    const py = y0 + y + 0.5;
    for (let x = 0; x < w; x++) {
      const px = x0 + x + 0.5;
      let d2 = Infinity;
      let inside = false;
      for (let i = 0, j = n - 1; i < n; j = i++) {
        const ax = poly[2 * j], ay = poly[2 * j + 1], bx = poly[2 * i], by = poly[2 * i + 1];
        const ex = bx - ax, ey = by - ay, wx = px - ax, wy = py - ay;
        let t = (wx * ex + wy * ey) / (ex * ex + ey * ey);
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        const qx = wx - ex * t, qy = wy - ey * t;
        const dd = qx * qx + qy * qy;
        if (dd < d2) d2 = dd;
        if ((ay > py) !== (by > py) && px < ((bx - ax) * (py - ay)) / (by - ay) + ax) inside = !inside;
      }
      const sd = inside ? -Math.sqrt(d2) : Math.sqrt(d2);
      const c = 0.5 - sd;
      out[y * w + x] = c <= 0 ? 0 : c >= 1 ? 1 : c;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Colours

function hsv(h: number, s: number, v: number): [number, number, number] {
  const f = (n: number) => {
    const k = (n + h * 6) % 6;
    return v - v * s * Math.max(0, Math.min(k, 4 - k, 1));
  };
  return [f(5), f(3), f(1)];
}

// ---------------------------------------------------------------------------------------------
// Background

function paintBackground(img: Float32Array, W: number, H: number, rng: Random): void {
  // Gradient between two muted colours along a random direction.
  const c0 = hsv(rng.next(), rng.uniform(0, 0.5), rng.uniform(0.25, 0.95));
  const c1 = hsv(rng.next(), rng.uniform(0, 0.5), rng.uniform(0.25, 0.95));
  const ang = rng.uniform(0, 2 * Math.PI);
  const gx = Math.cos(ang) / W, gy = Math.sin(ang) / H;
  const off = Math.min(0, gx * W) + Math.min(0, gy * H);
  const span = Math.abs(gx * W) + Math.abs(gy * H);
  // Texture: two waves, separable via sin(a+b) = sin a cos b + cos a sin b.
  const waves = [0, 1].map(() => ({ fx: rng.uniform(-0.25, 0.25), fy: rng.uniform(-0.25, 0.25), phase: rng.uniform(0, 6.3), amp: rng.uniform(0, 0.08) }));
  const [w0, w1] = waves;
  const s0 = new Float32Array(W), c0s = new Float32Array(W), s1 = new Float32Array(W), c1s = new Float32Array(W);
  for (let x = 0; x < W; x++) {
    s0[x] = w0.amp * Math.sin(w0.fx * x + w0.phase); c0s[x] = w0.amp * Math.cos(w0.fx * x + w0.phase);
    s1[x] = w1.amp * Math.sin(w1.fx * x + w1.phase); c1s[x] = w1.amp * Math.cos(w1.fx * x + w1.phase);
  }
  const n = W * H;
  const dr = c1[0] - c0[0], dg = c1[1] - c0[1], db = c1[2] - c0[2];
  for (let y = 0; y < H; y++) {
    const rs0 = Math.sin(w0.fy * y), rc0 = Math.cos(w0.fy * y), rs1 = Math.sin(w1.fy * y), rc1 = Math.cos(w1.fy * y);
    const ty = gy * y - off;
    for (let x = 0; x < W; x++) {
      const t = (gx * x + ty) / span;
      const tex = s0[x] * rc0 + c0s[x] * rs0 + s1[x] * rc1 + c1s[x] * rs1;
      const p = y * W + x;
      img[p] = c0[0] + dr * t + tex;
      img[n + p] = c0[1] + dg * t + tex;
      img[2 * n + p] = c0[2] + db * t + tex;
    }
  }
  // Random straight lines (clutter the detector must learn to ignore).
  const lines = rng.int(2, 8);
  for (let l = 0; l < lines; l++) {
    const ax = rng.uniform(-0.1, 1.1) * W, ay = rng.uniform(-0.1, 1.1) * H;
    const bx = rng.uniform(-0.1, 1.1) * W, by = rng.uniform(-0.1, 1.1) * H;
    const half = rng.uniform(0.4, 2);
    const col = hsv(rng.next(), rng.uniform(0, 0.7), rng.uniform(0.1, 1));
    const ex = bx - ax, ey = by - ay, len2 = ex * ex + ey * ey || 1;
    const xl = Math.max(0, Math.floor(Math.min(ax, bx) - half - 1)), xh = Math.min(W, Math.ceil(Math.max(ax, bx) + half + 1));
    const yl = Math.max(0, Math.floor(Math.min(ay, by) - half - 1)), yh = Math.min(H, Math.ceil(Math.max(ay, by) + half + 1));
    for (let y = yl; y < yh; y++) {
      for (let x = xl; x < xh; x++) {
        const wx = x + 0.5 - ax, wy = y + 0.5 - ay;
        let t = (wx * ex + wy * ey) / len2;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        const qx = wx - ex * t, qy = wy - ey * t;
        const a = half + 0.5 - Math.sqrt(qx * qx + qy * qy);
        if (a <= 0) continue;
        const alpha = a >= 1 ? 1 : a;
        const p = y * W + x;
        img[p] += (col[0] - img[p]) * alpha;
        img[n + p] += (col[1] - img[n + p]) * alpha;
        img[2 * n + p] += (col[2] - img[2 * n + p]) * alpha;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Scenes

/**
 * Renders one scene from a seed: background, then shapes one over another, then pixel noise.
 * The same seed and options always give the same scene.
 */
export function renderScene(seed: number, options: SceneOptions = {}): Scene {
  const rng = new Random(seed);
  const size = options.size ?? 256;
  const W = typeof size === 'number' ? size : rng.int(size[0], size[1]);
  const H = typeof size === 'number' ? size : rng.int(size[0], size[1]);
  const classes = options.classes ?? DEFAULT_SHAPE_CLASSES;
  const [minObjects, maxObjects] = options.objects ?? [1, 6];
  const [minScale, maxScale] = options.scale ?? [0.12, 0.45];
  const minVisible = options.minVisible ?? 0.6;
  const n = W * H;
  const img = new Float32Array(3 * n);
  paintBackground(img, W, H, rng);

  const owner = new Int16Array(n).fill(-1);
  const labels: number[] = [];
  const area: number[] = []; // pixels each shape covers on its own
  const owned: number[] = []; // pixels it still owns
  const count = rng.int(minObjects, maxObjects);
  let cov = new Float32Array(0);
  for (let k = 0; k < count; k++) {
    const cls = rng.int(0, classes.length - 1);
    const outline = unitOutline(classes[cls]);
    for (let attempt = 0; attempt < 20; attempt++) {
      const r = (rng.uniform(minScale, maxScale) * Math.min(W, H)) / 2;
      const cx = rng.uniform(r + 1, W - r - 1), cy = rng.uniform(r + 1, H - r - 1);
      const rot = rng.uniform(0, 2 * Math.PI), cos = Math.cos(rot), sin = Math.sin(rot);
      let poly: Float64Array | null = null;
      if (outline !== null) {
        poly = new Float64Array(outline.length);
        for (let i = 0; i < outline.length; i += 2) {
          poly[i] = cx + r * (cos * outline[i] - sin * outline[i + 1]);
          poly[i + 1] = cy + r * (sin * outline[i] + cos * outline[i + 1]);
        }
      }
      const x0 = Math.max(0, Math.floor(cx - r - 1)), y0 = Math.max(0, Math.floor(cy - r - 1));
      const w = Math.min(W, Math.ceil(cx + r + 1)) - x0, h = Math.min(H, Math.ceil(cy + r + 1)) - y0;
      if (cov.length < w * h) cov = new Float32Array(w * h);
      coverage(poly, cx, cy, r, x0, y0, w, h, cov);
      // Would this placement leave an earlier shape less than minVisible visible?
      const taken = new Array<number>(labels.length).fill(0);
      let mine = 0;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          if (cov[y * w + x] < 0.5) continue;
          mine++;
          const o = owner[(y0 + y) * W + x0 + x];
          if (o >= 0) taken[o]++;
        }
      }
      if (mine < 4 || taken.some((t, j) => owned[j] - t < minVisible * area[j])) continue;
      // Colour: saturated, and far enough from the background under the shape's centre.
      const pc = Math.floor(cy) * W + Math.floor(cx);
      let col = hsv(rng.next(), rng.uniform(0.45, 1), rng.uniform(0.35, 1));
      for (let tries = 0; tries < 10; tries++) {
        const d = Math.abs(col[0] - img[pc]) + Math.abs(col[1] - img[n + pc]) + Math.abs(col[2] - img[2 * n + pc]);
        if (d > 0.45) break;
        col = hsv(rng.next(), rng.uniform(0.45, 1), rng.uniform(0.35, 1));
      }
      // Shading: a gentle linear light across the shape.
      const la = rng.uniform(0, 2 * Math.PI), ls = rng.uniform(0, 0.25) / r;
      const lx = Math.cos(la) * ls, ly = Math.sin(la) * ls;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const a = cov[y * w + x];
          if (a <= 0) continue;
          const p = (y0 + y) * W + x0 + x;
          const shade = 1 + lx * (x0 + x - cx) + ly * (y0 + y - cy);
          img[p] += (col[0] * shade - img[p]) * a;
          img[n + p] += (col[1] * shade - img[n + p]) * a;
          img[2 * n + p] += (col[2] * shade - img[2 * n + p]) * a;
          if (a >= 0.5) owner[p] = labels.length;
        }
      }
      for (let j = 0; j < taken.length; j++) owned[j] -= taken[j];
      labels.push(cls + 1);
      area.push(mine);
      owned.push(mine);
      break;
    }
  }

  // Pixel noise over everything, then to bytes. An inline xorshift32 (seeded from rng) gives two
  // 16-bit uniforms per step; their sum is a cheap bell-shaped noise of standard deviation sigma.
  const sigma = rng.uniform(0, options.noise ?? 12) / 255;
  const amp = (sigma * 2.449) / 65536;
  let state = (rng.next() * 4294967296) | 1;
  const rgb = new Uint8Array(3 * n);
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      const u = (state & 0xffff) + ((state >>> 16) & 0xffff) - 65535;
      const v = img[c * n + p] + amp * u;
      rgb[3 * p + c] = v <= 0 ? 0 : v >= 1 ? 255 : (v * 255 + 0.5) | 0;
    }
  }

  // Tight boxes of the owned pixels.
  const m = labels.length;
  const b = new Float32Array(4 * m);
  for (let j = 0; j < m; j++) b.set([W, H, 0, 0], 4 * j);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = owner[y * W + x];
      if (o < 0) continue;
      const q = 4 * o;
      if (x < b[q]) b[q] = x;
      if (y < b[q + 1]) b[q + 1] = y;
      if (x + 1 > b[q + 2]) b[q + 2] = x + 1;
      if (y + 1 > b[q + 3]) b[q + 3] = y + 1;
    }
  }
  const visible = Float32Array.from(owned.map((v, j) => v / area[j]));
  return { width: W, height: H, rgb, owner, boxes: b, labels: Int32Array.from(labels), visible };
}

// ---------------------------------------------------------------------------------------------
// The dataset on disk

/** Options of {@link generateShapesDataset}. */
export interface ShapesDatasetOptions extends SceneOptions {
  /** Number of images. Default 500. */
  images?: number;
  /** Seed of the whole dataset; image i is renderScene(deriveSeed(seed, i), options). Default 0. */
  seed?: number;
  /** Fractions of the images in train, val and test (in that order of ids). Default { train: 0.8, val: 0.1, test: 0.1 }. */
  splits?: { train: number; val: number; test: number };
  /** JPEG quality. Default 92. */
  quality?: number;
}

/** What {@link generateShapesDataset} wrote. */
export interface ShapesDatasetSummary {
  root: string;
  classNames: string[];
  /** Image ids per split (trainval = train + val). */
  splits: { train: string[]; val: string[]; test: string[] };
  objects: number;
  seconds: number;
}

/** The image id of scene i: six digits from 000001, as in VOC2007. */
export function shapesImageId(index: number): string {
  return String(index + 1).padStart(6, '0');
}

function annotationXml(id: string, scene: Scene, classes: readonly string[], seed: number): string {
  const objs: string[] = [];
  for (let j = 0; j < scene.labels.length; j++) {
    const q = 4 * j;
    // VOC's 1-based inclusive pixel indices: owned columns a..b are written as a+1..b+1.
    objs.push(
      `  <object>\n    <name>${classes[scene.labels[j] - 1]}</name>\n    <pose>Unspecified</pose>\n    <truncated>0</truncated>\n    <difficult>0</difficult>\n` +
      `    <bndbox>\n      <xmin>${scene.boxes[q] + 1}</xmin>\n      <ymin>${scene.boxes[q + 1] + 1}</ymin>\n      <xmax>${scene.boxes[q + 2]}</xmax>\n      <ymax>${scene.boxes[q + 3]}</ymax>\n    </bndbox>\n  </object>\n`,
    );
  }
  return `<annotation>\n  <folder>shapes</folder>\n  <filename>${id}.jpg</filename>\n  <source>\n    <database>ssd-ts generated shapes</database>\n    <seed>${seed}</seed>\n  </source>\n` +
    `  <size>\n    <width>${scene.width}</width>\n    <height>${scene.height}</height>\n    <depth>3</depth>\n  </size>\n  <segmented>0</segmented>\n${objs.join('')}</annotation>\n`;
}

/**
 * Renders `images` scenes and writes them in Pascal VOC layout under `dir`:
 * `JPEGImages/<id>.jpg`, `Annotations/<id>.xml`, `ImageSets/Main/{train,val,trainval,test}.txt`
 * and `classes.txt` (which the VOC reader uses as the class list). Seeded: the same options give
 * the same files. Returns the ids per split and the time taken.
 */
export async function generateShapesDataset(dir: string, options: ShapesDatasetOptions = {}): Promise<ShapesDatasetSummary> {
  const t0 = performance.now();
  const root = resolve(dir);
  const images = options.images ?? 500;
  const seed = options.seed ?? 0;
  const classes = options.classes ?? DEFAULT_SHAPE_CLASSES;
  for (const c of classes) if (!SHAPE_CLASSES.includes(c)) throw new Error(`generateShapesDataset: unknown shape class '${c}' (known: ${SHAPE_CLASSES.join(', ')})`);
  if (!Number.isInteger(images) || images < 1) throw new Error(`generateShapesDataset: images must be a positive integer, got ${images}`);
  const fr = options.splits ?? { train: 0.8, val: 0.1, test: 0.1 };
  const total = fr.train + fr.val + fr.test;
  if (!(total > 0) || fr.train < 0 || fr.val < 0 || fr.test < 0) throw new Error(`generateShapesDataset: split fractions must be non-negative with a positive sum, got ${JSON.stringify(fr)}`);
  const nTrain = Math.round((images * fr.train) / total), nVal = Math.round((images * (fr.train + fr.val)) / total) - nTrain;

  for (const sub of ['JPEGImages', 'Annotations', join('ImageSets', 'Main')]) mkdirSync(join(root, sub), { recursive: true });
  const ids = Array.from({ length: images }, (_, i) => shapesImageId(i));
  let objects = 0;
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < images; i++) {
    const sceneSeed = deriveSeed(seed, i);
    const scene = renderScene(sceneSeed, options);
    objects += scene.labels.length;
    writeFileSync(join(root, 'Annotations', `${ids[i]}.xml`), annotationXml(ids[i], scene, classes, sceneSeed));
    const job = sharp(scene.rgb, { raw: { width: scene.width, height: scene.height, channels: 3 } })
      .jpeg({ quality: options.quality ?? 92, chromaSubsampling: '4:4:4' }) // full-resolution colour: small shapes keep their hue
      .toFile(join(root, 'JPEGImages', `${ids[i]}.jpg`));
    inFlight.add(job);
    void job.finally(() => inFlight.delete(job)).catch(() => undefined);
    if (inFlight.size >= 4) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const splits = { train: ids.slice(0, nTrain), val: ids.slice(nTrain, nTrain + nVal), test: ids.slice(nTrain + nVal) };
  const list = (xs: string[]) => xs.map((x) => `${x}\n`).join('');
  writeFileSync(join(root, 'ImageSets', 'Main', 'train.txt'), list(splits.train));
  writeFileSync(join(root, 'ImageSets', 'Main', 'val.txt'), list(splits.val));
  writeFileSync(join(root, 'ImageSets', 'Main', 'trainval.txt'), list([...splits.train, ...splits.val]));
  writeFileSync(join(root, 'ImageSets', 'Main', 'test.txt'), list(splits.test));
  writeFileSync(join(root, 'classes.txt'), list([...classes]));
  return { root, classNames: [...classes], splits, objects, seconds: (performance.now() - t0) / 1000 };
}
