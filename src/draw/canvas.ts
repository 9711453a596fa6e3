// A raw 8-bit image to draw on in place: what sharp's `.raw()` gives (interleaved channels, rows top to bottom).
// Drawing blends an RGB colour with a coverage in [0, 1]; an alpha channel, when there is one, is made opaque
// where something is drawn so the annotation shows on transparent pixels too.

/** Interleaved pixels: `channels` bytes a pixel (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA), `width * height` pixels. */
export interface Canvas {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

/** An sRGB colour, 0..255 per channel. */
export type Rgb = readonly [number, number, number];

/** Blends `color` into pixel (x, y) with coverage `a` (0..1). Pixels outside the canvas are ignored. */
export function blendPixel(c: Canvas, x: number, y: number, color: Rgb, a: number): void {
  if (a <= 0 || x < 0 || y < 0 || x >= c.width || y >= c.height) return;
  if (a > 1) a = 1;
  const ch = c.channels;
  const i = (y * c.width + x) * ch;
  const d = c.data;
  if (ch >= 3) {
    d[i] = d[i]! + (color[0] - d[i]!) * a + 0.5;
    d[i + 1] = d[i + 1]! + (color[1] - d[i + 1]!) * a + 0.5;
    d[i + 2] = d[i + 2]! + (color[2] - d[i + 2]!) * a + 0.5;
    if (ch === 4) d[i + 3] = d[i + 3]! + (255 - d[i + 3]!) * a + 0.5;
  } else {
    const gray = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2];
    d[i] = d[i]! + (gray - d[i]!) * a + 0.5;
    if (ch === 2) d[i + 1] = d[i + 1]! + (255 - d[i + 1]!) * a + 0.5;
  }
}

/** Fills the rectangle [x0, x1) x [y0, y1) (clipped to the canvas) with `color` at opacity `a`. */
export function fillRect(c: Canvas, x0: number, y0: number, x1: number, y1: number, color: Rgb, a = 1): void {
  const xa = Math.max(0, Math.round(x0)), xb = Math.min(c.width, Math.round(x1));
  const ya = Math.max(0, Math.round(y0)), yb = Math.min(c.height, Math.round(y1));
  for (let y = ya; y < yb; y++) for (let x = xa; x < xb; x++) blendPixel(c, x, y, color, a);
}

/**
 * Outlines the box with corners (x0, y0), (x1, y1) in pixels with a line `thickness` pixels wide, drawn
 * inside the box so that it never covers the object's surroundings more than it must; clipped to the canvas.
 */
export function strokeRect(c: Canvas, x0: number, y0: number, x1: number, y1: number, thickness: number, color: Rgb): void {
  const l = Math.round(x0), t = Math.round(y0), r = Math.round(x1), b = Math.round(y1);
  const w = Math.max(1, Math.min(Math.round(thickness), Math.ceil((r - l) / 2), Math.ceil((b - t) / 2)));
  fillRect(c, l, t, r, t + w, color);
  fillRect(c, l, b - w, r, b, color);
  fillRect(c, l, t + w, l + w, b - w, color);
  fillRect(c, r - w, t + w, r, b - w, color);
}
