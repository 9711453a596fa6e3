// The PyTorch tutorial's "visualising priors" as a picture: one panel per feature map, the image stretched to the
// square input as the network sees it (or a plain canvas), the map's cells, and at chosen points every prior shape
// of the nearest position, in one colour per shape (the caption lists them in those colours). Objects, when given,
// are outlined, and each object's best prior is drawn thick, with its IoU, on the map it lies on.
import sharp from 'sharp';
import { generatePriors, priorsPerLocation, type PriorConfig } from '../boxes/priors.js';
import { fillRect, strokeRect, type Canvas, type Rgb } from './canvas.js';
import { placeLabel } from './annotate.js';
import { classColor, textColorOn } from './palette.js';
import { drawText, textWidth } from './text.js';

/** Space between panels and around them, in pixels. */
export const PRIOR_PICTURE_GAP = 8;
/** Height of a panel's caption (two lines of text), in pixels. */
export const PRIOR_PICTURE_CAPTION = 36;
const FONT = 13;

/** Options of {@link drawPriors}. */
export interface PriorPictureOptions {
  /** The model's input side in pixels: the captions give sizes in its pixels. */
  inputSize: number;
  /** The image to draw on (a path or encoded bytes), stretched to the square input; default a plain canvas. */
  image?: string | Uint8Array;
  /** Points `[x, y]` (fractions of the image) whose nearest position's priors are drawn on every map. Default the centre. */
  points?: ReadonlyArray<readonly [number, number]>;
  /** Objects to outline: boxes as fractions; `bestPrior` (an index into the config's priors) is drawn thick with `bestIou`. */
  objects?: ReadonlyArray<{ box: readonly [number, number, number, number]; bestPrior?: number; bestIou?: number }>;
  /** Side of each map's panel in pixels. Default: the input size, within 240 .. 400. */
  panelSize?: number;
}

/** Where the panels go: `columns` x `rows` panels of `panel` px, each under its caption, with gaps around. */
export interface PriorPictureLayout {
  columns: number;
  rows: number;
  panel: number;
  width: number;
  height: number;
  /** Top-left corner of map k's panel (its caption is above it). */
  origin(k: number): { x: number; y: number };
}

/** The layout for `maps` panels of `panel` px: 1 or 2 maps in a row, up to 4 in two columns, more in three. */
export function priorPictureLayout(maps: number, panel: number): PriorPictureLayout {
  const columns = maps <= 2 ? maps : maps <= 4 ? 2 : 3;
  const rows = Math.ceil(maps / columns);
  const g = PRIOR_PICTURE_GAP, c = PRIOR_PICTURE_CAPTION;
  return {
    columns,
    rows,
    panel,
    width: columns * panel + (columns + 1) * g,
    height: rows * (c + panel) + (rows + 1) * g,
    origin: (k) => ({ x: g + (k % columns) * (panel + g), y: g + Math.floor(k / columns) * (c + panel + g) + c }),
  };
}

/** A ratio as the caption writes it: 2, 1/2, 1.5, 2/3; the extra prior of scale sqrt(s_k s_k+1) is 1'. */
export function ratioLabel(r: number): string {
  if (Math.abs(r - Math.round(r)) < 0.02) return String(Math.round(r));
  const inv = 1 / r;
  if (Math.abs(inv - Math.round(inv)) < 0.02) return `1/${Math.round(inv)}`;
  if (Math.abs(2 * r - Math.round(2 * r)) < 0.02) return `${Math.round(2 * r)}/2`;
  if (Math.abs(2 * inv - Math.round(2 * inv)) < 0.02) return `2/${Math.round(2 * inv)}`;
  return r.toFixed(2);
}

/** The colour of prior shape s (its index within a position). */
export function shapeColor(s: number): Rgb {
  return classColor(s + 1);
}

/** The image stretched to side x side RGB pixels (EXIF orientation applied), or a light grey canvas. */
async function background(image: string | Uint8Array | undefined, side: number): Promise<Uint8Array> {
  if (image === undefined) return new Uint8Array(side * side * 3).fill(236);
  const name = typeof image === 'string' ? image : 'image';
  try {
    const { data } = await sharp(image, { failOn: 'error' }).rotate().resize(side, side, { fit: 'fill' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (e) {
    throw new Error(`${name}: cannot decode image: ${(e as Error).message}`);
  }
}

/** Copies a side x side RGB tile into the canvas at (x, y). */
function blit(c: Canvas, tile: Uint8Array, side: number, x: number, y: number): void {
  for (let r = 0; r < side; r++) c.data.set(tile.subarray(r * side * 3, (r + 1) * side * 3), ((y + r) * c.width + x) * 3);
}

/** Index of the centre nearest v (the lower one on ties). */
function nearestIndex(centres: readonly number[], v: number): number {
  let best = 0;
  for (let i = 1; i < centres.length; i++) if (Math.abs(centres[i]! - v) < Math.abs(centres[best]! - v)) best = i;
  return best;
}

/**
 * Draws the priors of `config` map by map (see the file header) and encodes the picture as PNG. Its size is
 * {@link priorPictureLayout}'s for the config's maps and the panel size.
 */
export async function drawPriors(config: PriorConfig, options: PriorPictureOptions): Promise<{ png: Buffer; width: number; height: number }> {
  const priors = generatePriors(config);
  const per = priorsPerLocation(config);
  const m = config.featureMapSizes.length;
  const panel = Math.round(options.panelSize ?? Math.min(400, Math.max(240, options.inputSize)));
  const layout = priorPictureLayout(m, panel);
  const canvas: Canvas = { data: new Uint8Array(layout.width * layout.height * 3).fill(255), width: layout.width, height: layout.height, channels: 3 };
  const tile = await background(options.image, panel);
  const points = options.points ?? [[0.5, 0.5]];
  const objects = options.objects ?? [];
  const px = (v: number): number => v * panel;
  const black: Rgb = [0, 0, 0], white: Rgb = [255, 255, 255];

  let offset = 0;
  for (let k = 0; k < m; k++) {
    const side = config.featureMapSizes[k]!, a = per[k]!;
    const { x: ox, y: oy } = layout.origin(k);
    blit(canvas, tile, panel, ox, oy);
    const cx = Array.from({ length: side }, (_, j) => priors[4 * (offset + j * a)]!);
    const cy = Array.from({ length: side }, (_, i) => priors[4 * (offset + i * side * a) + 1]!);
    // The map's cells: lines halfway between neighbouring centres, when cells are at least 4 px.
    if (panel / side >= 4) {
      for (let j = 1; j < side; j++) fillRect(canvas, ox + Math.round(px((cx[j - 1]! + cx[j]!) / 2)), oy, ox + Math.round(px((cx[j - 1]! + cx[j]!) / 2)) + 1, oy + panel, black, 0.18);
      for (let i = 1; i < side; i++) fillRect(canvas, ox, oy + Math.round(px((cy[i - 1]! + cy[i]!) / 2)), ox + panel, oy + Math.round(px((cy[i - 1]! + cy[i]!) / 2)) + 1, black, 0.18);
    }
    const clip = { x0: ox, y0: oy, x1: ox + panel, y1: oy + panel };
    const box = (p: number): [number, number, number, number] => {
      const [pcx, pcy, w, h] = [priors[4 * p]!, priors[4 * p + 1]!, priors[4 * p + 2]!, priors[4 * p + 3]!];
      return [ox + px(pcx - w / 2), oy + px(pcy - h / 2), ox + px(pcx + w / 2), oy + px(pcy + h / 2)];
    };
    const inside = (b: [number, number, number, number]): [number, number, number, number] => [Math.max(clip.x0, b[0]), Math.max(clip.y0, b[1]), Math.min(clip.x1, b[2]), Math.min(clip.y1, b[3])];
    for (const o of objects) {
      const b = inside([ox + px(o.box[0]), oy + px(o.box[1]), ox + px(o.box[2]), oy + px(o.box[3])]);
      strokeRect(canvas, b[0], b[1], b[2], b[3], 1, black);
      strokeRect(canvas, b[0] + 1, b[1] + 1, b[2] - 1, b[3] - 1, 1, white);
    }
    for (const [x, y] of points) {
      const i = nearestIndex(cy, y), j = nearestIndex(cx, x);
      for (let s = 0; s < a; s++) {
        const b = inside(box(offset + (i * side + j) * a + s));
        strokeRect(canvas, b[0], b[1], b[2], b[3], 2, shapeColor(s));
      }
      fillRect(canvas, ox + px(cx[j]!) - 2, oy + px(cy[i]!) - 2, ox + px(cx[j]!) + 2, oy + px(cy[i]!) + 2, black);
    }
    for (const o of objects) {
      if (o.bestPrior === undefined || o.bestPrior < offset || o.bestPrior >= offset + side * side * a) continue;
      const color = shapeColor((o.bestPrior - offset) % a);
      const b = inside(box(o.bestPrior));
      strokeRect(canvas, b[0], b[1], b[2], b[3], 3, color);
      if (o.bestIou !== undefined) {
        const text = `IoU ${o.bestIou.toFixed(2)}`;
        const at = placeLabel(text, { xmin: b[0] - ox, ymin: b[1] - oy, xmax: b[2] - ox, ymax: b[3] - oy }, panel, panel, FONT);
        fillRect(canvas, ox + at.x, oy + at.y, ox + at.x + at.width, oy + at.y + at.height, color);
        drawText(canvas, text, ox + at.x + (at.width - textWidth(text, at.fontSize)) / 2, oy + at.y + (at.height - at.fontSize) / 2, at.fontSize, textColorOn(color));
      }
    }
    // Caption: the map, then its prior shapes in their colours.
    const step = config.steps?.[k] ?? 1 / side;
    const size = options.inputSize;
    const line1 = `map ${k + 1}/${m}: ${side}x${side}, step ${(step * size).toFixed(1)} px, scale ${(config.scales[k]! * size).toFixed(0)} px`;
    const labels: string[] = [];
    for (const r of config.aspectRatios[k]!) {
      labels.push(ratioLabel(r));
      if (config.extraPrior && r === 1) labels.push("1'");
    }
    // Text shrinks to the panel's width (the font's cells are half as wide as they are high).
    const fits = (text: string): number => Math.min(FONT, Math.floor((2 * panel) / Math.max(1, text.length)));
    drawText(canvas, line1, ox, oy - PRIOR_PICTURE_CAPTION + 3, fits(line1), black);
    const legend = fits(labels.join('  '));
    let x = ox;
    labels.forEach((label, s) => {
      drawText(canvas, label, x, oy - PRIOR_PICTURE_CAPTION + 5 + FONT + 2, legend, shapeColor(s));
      x += textWidth(`${label}  `, legend);
    });
    offset += side * side * a;
  }
  const png = await sharp(canvas.data, { raw: { width: layout.width, height: layout.height, channels: 3 } }).png().toBuffer();
  return { png, width: layout.width, height: layout.height };
}
