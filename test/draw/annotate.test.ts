// Annotated images: boxes in per-class colours, labels on a filled tag that stays inside the picture, text from
// the embedded font, and every kind of input (EXIF-rotated, grayscale, alpha) handled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { annotateImage, classColor, drawDetections, drawText, placeLabel, textColorOn, textWidth, type Canvas, type DrawableDetection } from '../../src/draw/index.js';
import { FONT } from '../../src/draw/font-data.js';

const NAMES = ['background', 'cat', 'dog', 'person'];

function blank(width: number, height: number, value = 0, channels: 3 | 4 = 3): Canvas {
  return { data: new Uint8Array(width * height * channels).fill(value), width, height, channels };
}

function pixel(c: { data: Uint8Array; width: number; channels: number }, x: number, y: number): number[] {
  const i = (y * c.width + x) * c.channels;
  return Array.from(c.data.subarray(i, i + c.channels));
}

test('placeLabel: above the box when it fits, else just inside its top edge; always inside the image', () => {
  const box = { xmin: 50, ymin: 100, xmax: 150, ymax: 200 };
  const above = placeLabel('cat 0.87', box, 400, 300, 14);
  assert.equal(above.y + above.height, 100, 'sits on the box top');
  assert.equal(above.x, 50);
  const top = placeLabel('cat 0.87', { ...box, ymin: 3 }, 400, 300, 14);
  assert.equal(top.y, 3, 'flipped below the box top');
  const right = placeLabel('a long label 0.99', { xmin: 380, ymin: 100, xmax: 400, ymax: 150 }, 400, 300, 14);
  assert.equal(right.x + right.width, 400, 'clamped at the right edge');
  const bottom = placeLabel('cat 0.5', { xmin: 10, ymin: 299, xmax: 40, ymax: 300 }, 400, 300, 14);
  assert.ok(bottom.y + bottom.height <= 300 && bottom.y >= 0, 'clamped at the bottom');
  const narrow = placeLabel('diningtable 0.87', box, 90, 300, 14);
  assert.ok(narrow.width <= 90 && narrow.fontSize < 14, `shrunk to fit a 90 px wide image (width ${narrow.width}, size ${narrow.fontSize})`);
});

test('embedded font: printable ASCII cells decode, text has ink, scales with height', () => {
  assert.equal(FONT.last - FONT.first + 1, 95);
  const c = blank(200, 40);
  drawText(c, 'M', 0, 0, 24, [255, 255, 255]);
  drawText(c, '.', 50, 0, 24, [255, 255, 255]);
  const ink = (x0: number, x1: number) => {
    let s = 0;
    for (let y = 0; y < 40; y++) for (let x = x0; x < x1; x++) s += pixel(c, x, y)[0]!;
    return s;
  };
  assert.ok(ink(0, 13) > 4 * ink(50, 63), "'M' has much more ink than '.'");
  assert.ok(ink(50, 63) > 0, "'.' has some ink");
  assert.equal(ink(100, 200), 0, 'nothing drawn outside the text');
  assert.equal(textWidth('abcd', 24), 4 * FONT.width);
  assert.equal(textWidth('abcd', 12), 2 * FONT.width);
  const big = blank(400, 100);
  drawText(big, 'M', 0, 0, 96, [255, 255, 255]);
  let rows = 0;
  for (let y = 0; y < 100; y++) if ([...Array(48).keys()].some((x) => pixel(big, x, y)[0]! > 128)) rows++;
  assert.ok(rows > 40 && rows < 96, `a 96 px 'M' is tall (${rows} rows with ink; cap height under the cell)`);
});

test('drawDetections: box edges in the class colour, a filled tag with contrasting text', () => {
  const c = blank(300, 200, 128);
  const d: DrawableDetection = { label: 'dog', score: 0.87, box: { xmin: 40, ymin: 60, xmax: 200, ymax: 180 } };
  drawDetections(c, [d], { classNames: NAMES, lineWidth: 3, fontSize: 16 });
  const color = classColor(2);
  assert.deepEqual(pixel(c, 100, 179), [...color], 'bottom edge');
  assert.deepEqual(pixel(c, 41, 120), [...color], 'left edge');
  assert.deepEqual(pixel(c, 120, 120), [128, 128, 128], 'inside untouched');
  const tag = placeLabel('dog 0.87', d.box, 300, 200, 16);
  // The tag's corner is background colour; somewhere inside it the text colour shows.
  assert.deepEqual(pixel(c, tag.x, tag.y), [...color]);
  const text = textColorOn(color);
  let textPixels = 0;
  for (let y = tag.y; y < tag.y + tag.height; y++) for (let x = tag.x; x < tag.x + tag.width; x++) if (pixel(c, x, y).every((v, i) => Math.abs(v - text[i]!) < 10)) textPixels++;
  assert.ok(textPixels > 20, `the label text is drawn (${textPixels} pixels)`);
  // Another class gets another colour.
  assert.notDeepEqual(classColor(1), classColor(2));
});

test('annotateImage: EXIF orientation applied, format kept, grayscale to colour, alpha kept', async () => {
  const det: DrawableDetection[] = [{ label: 'cat', score: 0.5, box: { xmin: 10, ymin: 10, xmax: 60, ymax: 90 } }];
  // Stored 120x80 with orientation 6 (rotate 90 degrees): displayed 80x120.
  const rotated = await sharp({ create: { width: 120, height: 80, channels: 3, background: { r: 0, g: 0, b: 0 } } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
  const r = await annotateImage(rotated, det, { classNames: NAMES });
  assert.equal(r.format, 'jpeg');
  const meta = await sharp(r.data).metadata();
  assert.deepEqual([meta.width, meta.height, meta.orientation], [80, 120, undefined]);

  const gray = await sharp({ create: { width: 100, height: 100, channels: 3, background: { r: 90, g: 90, b: 90 } } }).grayscale().png().toBuffer();
  const g = await annotateImage(gray, det, { classNames: NAMES, lineWidth: 2 });
  const gd = await sharp(g.data).raw().toBuffer({ resolveWithObject: true });
  assert.equal(gd.info.channels, 3);
  assert.deepEqual(pixel({ data: gd.data, width: 100, channels: 3 }, 30, 88), [...classColor(1)], 'the box is in colour on a gray picture');

  const clear = await sharp({ create: { width: 100, height: 100, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
  const a = await annotateImage(clear, det, { classNames: NAMES, lineWidth: 2 });
  const ad = await sharp(a.data).raw().toBuffer({ resolveWithObject: true });
  assert.equal(ad.info.channels, 4);
  const ap = (x: number, y: number) => pixel({ data: ad.data, width: 100, channels: 4 }, x, y);
  assert.equal(ap(95, 95)[3], 0, 'transparent where nothing is drawn');
  assert.equal(ap(30, 88)[3], 255, 'opaque on the box');

  const gif = await sharp({ create: { width: 50, height: 50, channels: 3, background: { r: 9, g: 9, b: 9 } } }).gif().toBuffer();
  assert.equal((await annotateImage(gif, [])).format, 'png', 'formats other than JPEG/PNG/WebP become PNG');
  await assert.rejects(annotateImage(Buffer.from('nope'), [], { name: 'x.jpg' }), /x\.jpg: cannot decode image/);
});
