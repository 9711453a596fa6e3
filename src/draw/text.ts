// Text from the embedded bitmap font (font-data.ts), drawn at any pixel height by bilinear sampling of the glyph
// coverage. No system fonts are needed. Characters outside printable ASCII are drawn as '?'.
import { blendPixel, type Canvas, type Rgb } from './canvas.js';
import { FONT } from './font-data.js';

let glyphs: Uint8Array | undefined;

/** The font's coverage, one byte (0..255) per cell pixel, glyph after glyph; decoded once. */
function coverage(): Uint8Array {
  if (glyphs) return glyphs;
  const packed = Buffer.from(FONT.coverage, 'base64');
  const n = (FONT.last - FONT.first + 1) * FONT.width * FONT.height;
  const out = new Uint8Array(n);
  for (let k = 0; k < n; k++) out[k] = (((k & 1) === 0 ? packed[k >> 1]! >> 4 : packed[k >> 1]! & 15) * 17);
  glyphs = out;
  return out;
}

/** Width in pixels of `text` drawn `height` pixels tall (the font is monospaced). */
export function textWidth(text: string, height: number): number {
  return Math.ceil((text.length * FONT.width * height) / FONT.height);
}

/** Draws `text` with its cell's top-left corner at (x, y), `height` pixels tall, clipped to the canvas. */
export function drawText(c: Canvas, text: string, x: number, y: number, height: number, color: Rgb): void {
  const cov = coverage();
  const s = FONT.height / height; // font pixels per canvas pixel
  const cw = FONT.width, chh = FONT.height, cell = cw * chh;
  const advance = (cw * height) / chh;
  const x0 = Math.round(x), y0 = Math.round(y);
  const wPx = Math.ceil(advance), hPx = Math.ceil(height);
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code < FONT.first || code > FONT.last) code = 63; // '?'
    if (code === 32) continue;
    const base = (code - FONT.first) * cell;
    const gx = x0 + Math.round(i * advance);
    for (let py = 0; py < hPx; py++) {
      // Sample the glyph at the centre of the canvas pixel.
      const fy = (py + 0.5) * s - 0.5;
      const yA = Math.floor(fy), ty = fy - yA;
      for (let px = 0; px < wPx; px++) {
        const fx = (px + 0.5) * s - 0.5;
        const xA = Math.floor(fx), tx = fx - xA;
        const at = (xx: number, yy: number) => (xx < 0 || yy < 0 || xx >= cw || yy >= chh ? 0 : cov[base + yy * cw + xx]!);
        const v = (at(xA, yA) * (1 - tx) + at(xA + 1, yA) * tx) * (1 - ty) + (at(xA, yA + 1) * (1 - tx) + at(xA + 1, yA + 1) * tx) * ty;
        if (v > 0) blendPixel(c, gx + px, y0 + py, color, v / 255);
      }
    }
  }
}
