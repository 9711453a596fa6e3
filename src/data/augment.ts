// The SSD300 tutorial's data augmentation, on typed arrays.
//
// Training (in the tutorial's order and with its random draws): photometric distortions on the
// decoded image, zoom-out expand (p=0.5, up to 4x, filled with the ImageNet mean), random crop
// (minimum overlap drawn from {0, .1, .3, .5, .7, .9, keep the image}, 50 trials per draw),
// horizontal flip (p=0.5), resize to the model size and ImageNet normalisation.
// Evaluation: resize and normalisation only.
//
// Images are float32 planar (CHW) RGB with values in 0..1 while they are distorted. Expand, crop,
// flip and resize are not applied to pixels one after the other: they compose into one window of a
// virtual canvas (the image placed on a mean-coloured canvas), and a single resampling pass (PIL's
// bilinear: a triangle filter widened when shrinking, so downscaling does not alias) reads that
// window and writes the normalised result straight into the caller's batch slot (CHW). A 4x
// expand thus never allocates a 16x canvas.
import { iouOfCorners } from '../boxes/iou.js';
import type { DecodedImage } from './decode.js';
import { IMAGENET_NORMALIZATION } from './normalization.js';
import type { Random } from './random.js';

const IMAGENET_MEAN = IMAGENET_NORMALIZATION.mean;
const IMAGENET_STD = IMAGENET_NORMALIZATION.std;
/** The tutorial's crop minimum overlaps; `null` keeps the whole image. */
export const TUTORIAL_MIN_OVERLAPS: readonly (number | null)[] = [0, 0.1, 0.3, 0.5, 0.7, 0.9, null];

/** An image as float32 planes: data[c*height*width + y*width + x], c = R, G, B, values 0..1. */
export interface PlanarImage {
  data: Float32Array;
  width: number;
  height: number;
}

/** A sample's objects: boxes `[xmin, ymin, xmax, ymax]` rows (length 4*n), labels and difficult flags. */
export interface Targets {
  boxes: Float32Array;
  labels: Int32Array;
  difficult: Uint8Array;
}

/** Options shared by the training and evaluation transforms. */
export interface ResizeOptions {
  /** Output width in pixels. Default 300. */
  width?: number;
  /** Output height in pixels. Default 300. */
  height?: number;
  /** Per-channel mean subtracted after resizing (0..1 scale). Default IMAGENET_MEAN. */
  mean?: readonly number[];
  /** Per-channel standard deviation divided by after subtracting the mean. Default IMAGENET_STD. */
  std?: readonly number[];
}

/** Options of {@link trainTransform}: the tutorial's values are the defaults. */
export interface AugmentOptions extends ResizeOptions {
  /** Probability of each photometric distortion. Default 0.5. */
  photometricP?: number;
  /** Probability of the zoom-out expand. Default 0.5. */
  expandP?: number;
  /** Largest expand factor (per side). Default 4. */
  expandMaxScale?: number;
  /** Minimum-overlap choices of the random crop (null = keep the image). Default TUTORIAL_MIN_OVERLAPS. */
  minOverlaps?: readonly (number | null)[];
  /** Crop trials per drawn minimum overlap. Default 50. */
  cropTrials?: number;
  /** Smallest crop side as a fraction of the (expanded) image side. Default 0.3. */
  cropMinScale?: number;
  /** Probability of the horizontal flip. Default 0.5. */
  flipP?: number;
}

// ---------------------------------------------------------------------------------------------
// Layout conversion

/** Converts interleaved RGB bytes (HWC) to float planes (CHW) in 0..1; `out` (3*w*h) is reused when given. */
export function toPlanar(image: DecodedImage, out?: Float32Array): PlanarImage {
  const n = image.width * image.height;
  if (image.data.length !== 3 * n) throw new Error(`toPlanar: data has ${image.data.length} bytes, a ${image.width}x${image.height} RGB image needs ${3 * n}`);
  const data = out !== undefined && out.length >= 3 * n ? out : new Float32Array(3 * n);
  const src = image.data;
  const k = 1 / 255;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    data[i] = src[j] * k;
    data[n + i] = src[j + 1] * k;
    data[2 * n + i] = src[j + 2] * k;
  }
  return { data, width: image.width, height: image.height };
}

// ---------------------------------------------------------------------------------------------
// Photometric distortions (torchvision's adjust_* on float images, clamped to 0..1), in place.
// Gray is torchvision's rgb_to_grayscale: 0.2989 R + 0.587 G + 0.114 B.

const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

/** Multiplies every value by `factor` (torchvision adjust_brightness). */
export function adjustBrightness(img: PlanarImage, factor: number): void {
  const d = img.data, n = 3 * img.width * img.height;
  for (let i = 0; i < n; i++) d[i] = clamp01(d[i] * factor);
}

/** Blends with the image's mean gray level (torchvision adjust_contrast). */
export function adjustContrast(img: PlanarImage, factor: number): void {
  const d = img.data, n = img.width * img.height;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += 0.2989 * d[i] + 0.587 * d[n + i] + 0.114 * d[2 * n + i];
  const m = (1 - factor) * (sum / n);
  for (let i = 0; i < 3 * n; i++) d[i] = clamp01(factor * d[i] + m);
}

/** Blends each pixel with its own gray level (torchvision adjust_saturation). */
export function adjustSaturation(img: PlanarImage, factor: number): void {
  const d = img.data, n = img.width * img.height, g = 1 - factor;
  for (let i = 0; i < n; i++) {
    const gray = g * (0.2989 * d[i] + 0.587 * d[n + i] + 0.114 * d[2 * n + i]);
    d[i] = clamp01(factor * d[i] + gray);
    d[n + i] = clamp01(factor * d[n + i] + gray);
    d[2 * n + i] = clamp01(factor * d[2 * n + i] + gray);
  }
}

/** Rotates the hue by `shift` turns (-0.5..0.5) in HSV space (torchvision adjust_hue). */
export function adjustHue(img: PlanarImage, shift: number): void {
  const d = img.data, n = img.width * img.height;
  for (let i = 0; i < n; i++) {
    const r = d[i], g = d[n + i], b = d[2 * n + i];
    const max = r > g ? (r > b ? r : b) : g > b ? g : b;
    const min = r < g ? (r < b ? r : b) : g < b ? g : b;
    const c = max - min;
    if (c <= 0) continue; // gray: hue undefined, unchanged
    let h: number;
    if (max === r) h = (g - b) / c;
    else if (max === g) h = (b - r) / c + 2;
    else h = (r - g) / c + 4;
    h = h / 6 + shift;
    h -= Math.floor(h);
    // back to RGB with the same value (max) and chroma (c)
    const h6 = h * 6;
    const sector = Math.floor(h6);
    const f = h6 - sector;
    const p = min, q = max - c * f, t = min + c * f;
    let ro: number, go: number, bo: number;
    switch (sector) {
      case 0: ro = max; go = t; bo = p; break;
      case 1: ro = q; go = max; bo = p; break;
      case 2: ro = p; go = max; bo = t; break;
      case 3: ro = p; go = q; bo = max; break;
      case 4: ro = t; go = p; bo = max; break;
      default: ro = max; go = p; bo = q; break;
    }
    d[i] = ro;
    d[n + i] = go;
    d[2 * n + i] = bo;
  }
}

/**
 * The tutorial's photometric_distort: brightness, contrast, saturation and hue in a random order,
 * each applied with probability `p`; factors uniform in 0.5..1.5, hue shift uniform in
 * -18/255..18/255 turns. In place.
 */
export function photometricDistort(img: PlanarImage, rng: Random, p = 0.5): void {
  const ops = rng.shuffle([0, 1, 2, 3]);
  for (const op of ops) {
    if (rng.next() >= p) continue;
    if (op === 3) adjustHue(img, rng.uniform(-18 / 255, 18 / 255));
    else {
      const f = rng.uniform(0.5, 1.5);
      if (op === 0) adjustBrightness(img, f);
      else if (op === 1) adjustContrast(img, f);
      else adjustSaturation(img, f);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Geometry: boxes and the window of the virtual canvas

/**
 * Where the output comes from: the image placed at (left, top) on a canvas filled with the mean,
 * and the window [x0, x1) x [y0, y1) of that canvas (integers), mirrored when `flip`.
 */
export interface Window {
  left: number;
  top: number;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  flip: boolean;
}

/** The whole image, unflipped. */
export function fullWindow(width: number, height: number): Window {
  return { left: 0, top: 0, x0: 0, y0: 0, x1: width, y1: height, flip: false };
}

/**
 * The tutorial's expand: a canvas `scale` (uniform 1..maxScale) times the image size, the image at a
 * random integer position. Returns the canvas size, the image's position and the shifted boxes.
 */
export function randomExpand(width: number, height: number, boxes: Float32Array, rng: Random, maxScale = 4): { width: number; height: number; left: number; top: number; boxes: Float32Array } {
  const scale = rng.uniform(1, maxScale);
  const w = Math.floor(scale * width), h = Math.floor(scale * height);
  const left = rng.int(0, w - width), top = rng.int(0, h - height);
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    out[i] = boxes[i] + left;
    out[i + 1] = boxes[i + 1] + top;
    out[i + 2] = boxes[i + 2] + left;
    out[i + 3] = boxes[i + 3] + top;
  }
  return { width: w, height: h, left, top, boxes: out };
}

/**
 * The tutorial's random_crop of a width x height image: draw a minimum overlap (null = keep the
 * image), then up to `trials` crops with sides `minScale..1` of the image's and aspect ratio
 * (h/w) strictly between 0.5 and 2, until one has IoU >= the minimum overlap with some object and
 * contains the centre of at least one; keeps exactly the objects whose centres lie strictly
 * inside, clipped to the crop and shifted to its origin. Draws again while no crop fits. With no
 * objects the image is kept. Returns the crop rectangle (integers) and the kept targets.
 */
export function randomCrop(
  width: number, height: number, target: Targets, rng: Random,
  minOverlaps: readonly (number | null)[] = TUTORIAL_MIN_OVERLAPS, trials = 50, minScale = 0.3,
): { x0: number; y0: number; x1: number; y1: number; target: Targets } {
  const { boxes } = target;
  const n = boxes.length / 4;
  const whole = { x0: 0, y0: 0, x1: width, y1: height, target };
  if (n === 0) return whole;
  for (let draws = 0; draws < 1000; draws++) {
    const minOverlap = rng.choice(minOverlaps);
    if (minOverlap === null) return whole;
    for (let t = 0; t < trials; t++) {
      const newH = Math.floor(rng.uniform(minScale, 1) * height); // height first, as the tutorial draws
      const newW = Math.floor(rng.uniform(minScale, 1) * width);
      const aspect = newH / newW;
      if (!(aspect > 0.5 && aspect < 2)) continue;
      const left = rng.int(0, width - newW), top = rng.int(0, height - newH);
      const right = left + newW, bottom = top + newH;
      let best = 0;
      for (let i = 0; i < n; i++) {
        const o = 4 * i;
        const v = iouOfCorners(left, top, right, bottom, boxes[o], boxes[o + 1], boxes[o + 2], boxes[o + 3]);
        if (v > best) best = v;
      }
      if (best < minOverlap) continue;
      const keep: number[] = [];
      for (let i = 0; i < n; i++) {
        const o = 4 * i;
        const cx = (boxes[o] + boxes[o + 2]) / 2, cy = (boxes[o + 1] + boxes[o + 3]) / 2;
        if (cx > left && cx < right && cy > top && cy < bottom) keep.push(i);
      }
      if (keep.length === 0) continue;
      return { x0: left, y0: top, x1: right, y1: bottom, target: selectTargets(target, keep, left, top, right, bottom) };
    }
  }
  return whole; // unreachable in practice: only when minOverlaps has no null and nothing ever fits
}

function selectTargets(t: Targets, keep: number[], left: number, top: number, right: number, bottom: number): Targets {
  const boxes = new Float32Array(4 * keep.length);
  const labels = new Int32Array(keep.length);
  const difficult = new Uint8Array(keep.length);
  keep.forEach((i, k) => {
    const o = 4 * i, q = 4 * k;
    boxes[q] = Math.max(t.boxes[o], left) - left;
    boxes[q + 1] = Math.max(t.boxes[o + 1], top) - top;
    boxes[q + 2] = Math.min(t.boxes[o + 2], right) - left;
    boxes[q + 3] = Math.min(t.boxes[o + 3], bottom) - top;
    labels[k] = t.labels[i];
    difficult[k] = t.difficult[i];
  });
  return { boxes, labels, difficult };
}

/** Mirrors boxes of an image `width` wide: [xmin, y0, xmax, y1] -> [width - xmax, y0, width - xmin, y1]. New array. */
export function flipBoxes(boxes: Float32Array, width: number): Float32Array {
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    out[i] = width - boxes[i + 2];
    out[i + 1] = boxes[i + 1];
    out[i + 2] = width - boxes[i];
    out[i + 3] = boxes[i + 3];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Resampling: PIL's bilinear filter, one pass per axis, with the canvas filler handled analytically

interface AxisCoefficients {
  /** Source index of each output's first in-image tap. */
  first: Int32Array;
  /** Number of in-image taps of each output. */
  count: Int32Array;
  /** Summed weight of each output's taps that fall on the canvas filler. */
  outside: Float64Array;
  /** Normalised in-image weights, `taps` per output. */
  weights: Float64Array;
  taps: number;
}

/**
 * Triangle-filter coefficients mapping the canvas span [start, start+inSize) to `outSize` outputs;
 * the image occupies canvas [offset, offset+srcSize). PIL's precompute_coeffs with support 1 * scale.
 */
function axisCoefficients(start: number, inSize: number, outSize: number, offset: number, srcSize: number): AxisCoefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize), count = new Int32Array(outSize);
  const outside = new Float64Array(outSize), weights = new Float64Array(outSize * taps);
  const w = new Float64Array(taps);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(center + support + 0.5));
    let total = 0;
    for (let x = lo; x < hi; x++) {
      const t = Math.abs((x - center + 0.5) / filterScale);
      const v = t < 1 ? 1 - t : 0;
      w[x - lo] = v;
      total += v;
    }
    // Source taps: canvas index start + x lies in the image when offset <= start + x < offset + srcSize.
    const sLo = Math.max(lo, offset - start), sHi = Math.min(hi, offset + srcSize - start);
    let inside = 0, k = 0;
    for (let x = sLo; x < sHi; x++, k++) {
      const v = w[x - lo] / total;
      weights[o * taps + k] = v;
      inside += v;
    }
    first[o] = sHi > sLo ? start + sLo - offset : 0;
    count[o] = Math.max(0, sHi - sLo);
    outside[o] = 1 - inside;
  }
  return { first, count, outside, weights, taps };
}

let scratch = new Float32Array(0);

/**
 * Resamples `window` of the canvas holding `src` to outW x outH (PIL bilinear; mirrored when
 * window.flip), the canvas outside the image being the mean, and writes (value - mean) / std into
 * `out` from `offset`, as CHW planes: out[offset + c*outH*outW + y*outW + x]. `src` is float
 * planes (0..1) or decoded bytes (RGB HWC, 0..255), read as they are.
 */
export function resampleInto(src: PlanarImage | DecodedImage, window: Window, out: Float32Array, offset: number, outW: number, outH: number, mean: readonly number[] = IMAGENET_MEAN, std: readonly number[] = IMAGENET_STD): void {
  if (offset < 0 || offset + 3 * outW * outH > out.length) throw new Error(`resampleInto: a 3x${outH}x${outW} image at offset ${offset} does not fit in an output of length ${out.length}`);
  const { width: W, height: H, data } = src;
  if (data.length < 3 * W * H) throw new Error(`resampleInto: image data has ${data.length} values, a ${W}x${H} RGB image needs ${3 * W * H}`);
  const cw = window.x1 - window.x0, ch = window.y1 - window.y0;
  if (!(cw > 0 && ch > 0)) throw new Error(`resampleInto: empty window [${window.x0}, ${window.y0}, ${window.x1}, ${window.y1}]`);
  const hx = axisCoefficients(window.x0, cw, outW, window.left, W);
  const vy = axisCoefficients(window.y0, ch, outH, window.top, H);
  // Image rows the vertical pass reads.
  const rowLo = Math.max(0, window.y0 - window.top), rowHi = Math.min(H, window.y1 - window.top);
  const rows = Math.max(0, rowHi - rowLo);
  const need = 3 * rows * outW;
  if (scratch.length < need) scratch = new Float32Array(need);
  const tmp = scratch;
  const plane = W * H;
  // Horizontal pass over the image rows in the window (locals keep the inner loops tight).
  const hFirst = hx.first, hCount = hx.count, hOut = hx.outside, hW = hx.weights, hTaps = hx.taps, flip = window.flip;
  if (data instanceof Uint8Array) {
    // Decoded bytes (HWC): all three channels per tap, scaled to 0..1 on the way.
    const k255 = 1 / 255, f0 = mean[0], f1 = mean[1], f2 = mean[2];
    for (let r = 0; r < rows; r++) {
      const rowBase = (rowLo + r) * W;
      const t0 = r * outW, t1 = (rows + r) * outW, t2 = (2 * rows + r) * outW;
      for (let o = 0; o < outW; o++) {
        let a0 = 0, a1 = 0, a2 = 0;
        const f = 3 * (rowBase + hFirst[o]), wb = o * hTaps, k = hCount[o];
        for (let j = 0, q = f; j < k; j++, q += 3) {
          const w = hW[wb + j];
          a0 += w * data[q];
          a1 += w * data[q + 1];
          a2 += w * data[q + 2];
        }
        const u = flip ? outW - 1 - o : o, wo = hOut[o];
        tmp[t0 + u] = a0 * k255 + wo * f0;
        tmp[t1 + u] = a1 * k255 + wo * f1;
        tmp[t2 + u] = a2 * k255 + wo * f2;
      }
    }
  } else {
    for (let c = 0; c < 3; c++) {
      const fill = mean[c];
      for (let r = 0; r < rows; r++) {
        const rowBase = c * plane + (rowLo + r) * W;
        const tBase = (c * rows + r) * outW;
        for (let o = 0; o < outW; o++) {
          let acc = hOut[o] * fill;
          const f = rowBase + hFirst[o], wb = o * hTaps, k = hCount[o];
          let j = 0;
          for (; j + 1 < k; j += 2) acc += hW[wb + j] * data[f + j] + hW[wb + j + 1] * data[f + j + 1];
          if (j < k) acc += hW[wb + j] * data[f + j];
          tmp[tBase + (flip ? outW - 1 - o : o)] = acc;
        }
      }
    }
  }
  // Vertical pass, normalising on the way out: accumulate whole rows (contiguous reads) per tap.
  const vFirst = vy.first, vCount = vy.count, vOut = vy.outside, vW = vy.weights, vTaps = vy.taps;
  for (let c = 0; c < 3; c++) {
    const m = mean[c], s = 1 / std[c];
    const outBase = offset + c * outW * outH;
    for (let o = 0; o < outH; o++) {
      const k = vCount[o], wb = o * vTaps;
      const base = (c * rows + (vFirst[o] - rowLo)) * outW;
      const dst = outBase + o * outW;
      const start = (vOut[o] * m - m) * s; // the filler's share, already normalised
      if (k === 0) {
        for (let x = 0; x < outW; x++) out[dst + x] = start;
        continue;
      }
      // Taps unrolled by two: most outputs read 2 to 4 rows.
      let j = 0;
      if (k >= 2) {
        const w0 = vW[wb] * s, w1 = vW[wb + 1] * s, r0 = base, r1 = base + outW;
        for (let x = 0; x < outW; x++) out[dst + x] = start + w0 * tmp[r0 + x] + w1 * tmp[r1 + x];
        j = 2;
      } else {
        const w0 = vW[wb] * s;
        for (let x = 0; x < outW; x++) out[dst + x] = start + w0 * tmp[base + x];
        j = 1;
      }
      for (; j + 1 < k; j += 2) {
        const w0 = vW[wb + j] * s, w1 = vW[wb + j + 1] * s, r0 = base + j * outW, r1 = r0 + outW;
        for (let x = 0; x < outW; x++) out[dst + x] += w0 * tmp[r0 + x] + w1 * tmp[r1 + x];
      }
      if (j < k) {
        const w0 = vW[wb + j] * s, r0 = base + j * outW;
        for (let x = 0; x < outW; x++) out[dst + x] += w0 * tmp[r0 + x];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The whole transforms

function scaleBoxes(boxes: Float32Array, w: number, h: number): Float32Array {
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    out[i] = boxes[i] / w;
    out[i + 1] = boxes[i + 1] / h;
    out[i + 2] = boxes[i + 2] / w;
    out[i + 3] = boxes[i + 3] / h;
  }
  return out;
}

let planarScratch = new Float32Array(0);

function planarCopy(image: DecodedImage | PlanarImage): PlanarImage {
  const n = 3 * image.width * image.height;
  if (planarScratch.length < n) planarScratch = new Float32Array(n);
  if (image.data instanceof Float32Array) {
    planarScratch.set(image.data.subarray(0, n));
    return { data: planarScratch, width: image.width, height: image.height };
  }
  return toPlanar(image as DecodedImage, planarScratch);
}

/**
 * The tutorial's training transform of one image: photometric distortions, expand, random crop,
 * flip, resize and normalise. The image (decoded bytes or float planes; left unchanged) goes into
 * `out` at `offset` as a normalised 3 x height x width CHW block. `target` boxes are pixels of the
 * image; the returned boxes are fractions (0..1) of the output, with the labels and difficult
 * flags of the objects kept by the crop. Every random choice comes from `rng`.
 */
export function trainTransform(image: DecodedImage | PlanarImage, target: Targets, rng: Random, out: Float32Array, offset = 0, options: AugmentOptions = {}): Targets {
  const outW = options.width ?? 300, outH = options.height ?? 300;
  const mean = options.mean ?? IMAGENET_MEAN, std = options.std ?? IMAGENET_STD;
  const src = planarCopy(image);
  photometricDistort(src, rng, options.photometricP ?? 0.5);
  let canvasW = src.width, canvasH = src.height, left = 0, top = 0, boxes = target.boxes;
  if (rng.next() < (options.expandP ?? 0.5)) {
    const e = randomExpand(src.width, src.height, boxes, rng, options.expandMaxScale ?? 4);
    canvasW = e.width; canvasH = e.height; left = e.left; top = e.top; boxes = e.boxes;
  }
  const crop = randomCrop(canvasW, canvasH, { boxes, labels: target.labels, difficult: target.difficult }, rng, options.minOverlaps ?? TUTORIAL_MIN_OVERLAPS, options.cropTrials ?? 50, options.cropMinScale ?? 0.3);
  const cw = crop.x1 - crop.x0, ch = crop.y1 - crop.y0;
  // Labels and flags are returned as new arrays, never the caller's.
  const kept = crop.target.labels === target.labels ? { ...crop.target, labels: target.labels.slice(), difficult: target.difficult.slice() } : crop.target;
  const flip = rng.next() < (options.flipP ?? 0.5);
  let cropBoxes = kept.boxes;
  if (flip) cropBoxes = flipBoxes(cropBoxes, cw);
  resampleInto(src, { left, top, x0: crop.x0, y0: crop.y0, x1: crop.x1, y1: crop.y1, flip }, out, offset, outW, outH, mean, std);
  return { boxes: scaleBoxes(cropBoxes, cw, ch), labels: kept.labels, difficult: kept.difficult };
}

/**
 * The evaluation transform: resize to width x height and normalise, into `out` at `offset` (CHW).
 * Returns the boxes as fractions of the image (0..1), labels and flags copied.
 */
export function evalTransform(image: DecodedImage | PlanarImage, target: Targets, out: Float32Array, offset = 0, options: ResizeOptions = {}): Targets {
  const outW = options.width ?? 300, outH = options.height ?? 300;
  resampleInto(image, fullWindow(image.width, image.height), out, offset, outW, outH, options.mean ?? IMAGENET_MEAN, options.std ?? IMAGENET_STD);
  return { boxes: scaleBoxes(target.boxes, image.width, image.height), labels: target.labels.slice(), difficult: target.difficult.slice() };
}
