// Annotated copies of images: a box per detection in its class's colour and a "class 0.87" tag on a filled
// background that stays inside the picture (above the box when there is room, else just inside its top edge).
import sharp, { type OutputInfo } from 'sharp';
import { fillRect, strokeRect, type Canvas, type Rgb } from './canvas.js';
import { classColor, textColorOn } from './palette.js';
import { drawText, textWidth } from './text.js';

/** A detection to draw: box corners in pixels of the (EXIF-oriented) image. */
export interface DrawableDetection {
  label: string;
  score: number;
  box: { xmin: number; ymin: number; xmax: number; ymax: number };
}

/** Options of {@link drawDetections} and {@link annotateImage}. */
export interface AnnotateOptions {
  /** Class names by index (index 0 background) so that each class keeps its palette colour; names not listed
   *  get a colour from a hash of the name. Default none (hash for every name). */
  classNames?: readonly string[];
  /** Box line width in pixels. Default: max(2, round(min(width, height) / 200)). */
  lineWidth?: number;
  /** Label text height in pixels. Default: max(14, round(min(width, height) / 28)). */
  fontSize?: number;
  /** Score digits after the point in the label. Default 2. */
  scoreDigits?: number;
}

/** Where a label tag goes: its rectangle in pixels and the text height that fits. */
export interface LabelPlacement {
  x: number;
  y: number;
  width: number;
  height: number;
  fontSize: number;
}

/**
 * Places a tag for `text` at a box: left-aligned with the box, just above its top edge when that fits in the
 * image, else just below the top edge (inside the box); then clamped so it lies wholly inside the image. A text
 * wider than the image is drawn smaller (down to 8 px) and clipped beyond that.
 */
export function placeLabel(text: string, box: DrawableDetection['box'], imageWidth: number, imageHeight: number, fontSize: number): LabelPlacement {
  let size = fontSize;
  const pad = () => Math.max(2, Math.round(size * 0.2));
  while (size > 8 && textWidth(text, size) + 2 * pad() > imageWidth) size--;
  const width = textWidth(text, size) + 2 * pad();
  const height = size + 2 * Math.max(1, Math.round(size * 0.1));
  const top = Math.round(box.ymin);
  let y = top - height >= 0 ? top - height : top;
  y = Math.max(0, Math.min(y, imageHeight - height));
  const x = Math.max(0, Math.min(Math.round(box.xmin), imageWidth - width));
  return { x, y, width, height, fontSize: size };
}

function hashColor(name: string): Rgb {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return classColor(1 + (h % 20));
}

/** The label text drawn for a detection: "class 0.87". */
export function labelText(d: DrawableDetection, scoreDigits = 2): string {
  return `${d.label} ${d.score.toFixed(scoreDigits)}`;
}

/**
 * Draws `detections` onto `canvas` in place: all boxes first, then all tags, lowest score first so that the
 * best detections stay on top where they overlap.
 */
export function drawDetections(canvas: Canvas, detections: readonly DrawableDetection[], options: AnnotateOptions = {}): void {
  const short = Math.min(canvas.width, canvas.height);
  const lineWidth = options.lineWidth ?? Math.max(2, Math.round(short / 200));
  const fontSize = options.fontSize ?? Math.max(14, Math.round(short / 28));
  const index = new Map((options.classNames ?? []).map((n, i) => [n, i] as const));
  const colorOf = (label: string): Rgb => {
    const i = index.get(label);
    return i === undefined ? hashColor(label) : classColor(i);
  };
  const order = detections.map((_, i) => i).sort((a, b) => detections[a]!.score - detections[b]!.score);
  for (const i of order) {
    const d = detections[i]!;
    strokeRect(canvas, d.box.xmin, d.box.ymin, d.box.xmax, d.box.ymax, lineWidth, colorOf(d.label));
  }
  for (const i of order) {
    const d = detections[i]!;
    const color = colorOf(d.label);
    const text = labelText(d, options.scoreDigits);
    const p = placeLabel(text, d.box, canvas.width, canvas.height, fontSize);
    fillRect(canvas, p.x, p.y, p.x + p.width, p.y + p.height, color);
    const padX = Math.round((p.width - textWidth(text, p.fontSize)) / 2);
    drawText(canvas, text, p.x + padX, p.y + (p.height - p.fontSize) / 2, p.fontSize, textColorOn(color));
  }
}

/** Output encodings of {@link annotateImage}. */
export type ImageFormat = 'jpeg' | 'png' | 'webp';

/**
 * Decodes an image (path or bytes, any format sharp reads), applies its EXIF orientation (detections are in
 * the oriented image's pixels), draws `detections` and encodes the result. Grayscale becomes RGB so colours
 * show; alpha is kept (PNG/WebP). `format` defaults to the input's own when that is JPEG, PNG or WebP, else PNG.
 * Errors name `name` (default: the path, or 'image').
 */
export async function annotateImage(
  input: string | Uint8Array,
  detections: readonly DrawableDetection[],
  options: AnnotateOptions & { format?: ImageFormat; name?: string } = {},
): Promise<{ data: Buffer; format: ImageFormat; width: number; height: number }> {
  const name = options.name ?? (typeof input === 'string' ? input : 'image');
  let decoded: { data: Buffer; info: OutputInfo }, inputFormat: string | undefined;
  try {
    const img = sharp(input, { failOn: 'error' });
    inputFormat = (await img.metadata()).format;
    decoded = await img.rotate().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new Error(`${name}: cannot decode image: ${(e as Error).message}`);
  }
  const { width, height } = decoded.info;
  const canvas = toColorCanvas(decoded.data, width, height, decoded.info.channels);
  drawDetections(canvas, detections, options);
  const format: ImageFormat = options.format ?? (inputFormat === 'jpeg' || inputFormat === 'png' || inputFormat === 'webp' ? inputFormat : 'png');
  let out = sharp(canvas.data, { raw: { width, height, channels: canvas.channels } });
  out = format === 'jpeg' ? out.jpeg({ quality: 90 }) : format === 'webp' ? out.webp({ quality: 90 }) : out.png();
  return { data: await out.toBuffer(), format, width, height };
}

/** Raw pixels as an RGB or RGBA canvas (gray and gray+alpha spread to three colour channels). */
export function toColorCanvas(data: Uint8Array, width: number, height: number, channels: number): Canvas & { channels: 3 | 4 } {
  if (channels === 3 || channels === 4) return { data, width, height, channels };
  if (channels !== 1 && channels !== 2) throw new Error(`image has ${channels} channels; expected 1 to 4`);
  const n = width * height, outCh = channels === 2 ? 4 : 3;
  const out = new Uint8Array(n * outCh);
  for (let i = 0; i < n; i++) {
    const v = data[i * channels]!;
    out[i * outCh] = v;
    out[i * outCh + 1] = v;
    out[i * outCh + 2] = v;
    if (outCh === 4) out[i * outCh + 3] = data[i * channels + 1]!;
  }
  return { data: out, width, height, channels: outCh };
}
