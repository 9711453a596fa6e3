// The priors picture: its size from the documented layout, each map's priors drawn where the prior config puts
// them, in their shape's colour, on a plain canvas or on the image stretched to the panel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { SSD300_PRIORS } from '../../src/boxes/index.js';
import { drawPriors, ratioLabel, shapeColor } from '../../src/draw/index.js';
import { ssdTinyPriors } from '../../src/nn/models/ssd-tiny.js';

async function decode(png: Buffer): Promise<{ data: Buffer; width: number; height: number; at: (x: number, y: number) => number[] }> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  return { data, width: info.width, height: info.height, at: (x, y) => Array.from(data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)) };
}

test("SSD300's six maps: three panels by two, each under a 36 px caption, 8 px apart; the priors where the config puts them", async () => {
  const { png, width, height } = await drawPriors(SSD300_PRIORS, { inputSize: 300 });
  const img = await decode(png);
  // Panels of the input size (300): 3 x 300 + 4 x 8 wide, 2 x (36 + 300) + 3 x 8 high.
  assert.deepEqual([img.width, img.height, width, height], [932, 696, 932, 696]);
  // Map 3 (10x10, scale 0.375) is the third panel of the first row: x from 8 + 2 x 308 = 624, y from 8 + 36 = 44.
  // Its position nearest the centre is column 4 (centre 0.45, the lower of the two at 0.05 from 0.5), row 4; the
  // ratio-1 prior spans 0.45 -+ 0.1875: its left edge is at x = 0.2625 x 300 = 78.75 px, a 2 px line inside the box.
  const ox = 624, oy = 44;
  assert.deepEqual(img.at(ox + 79, oy + 135), [...shapeColor(0)], 'left edge of the ratio-1 prior, mid-height');
  assert.deepEqual(img.at(ox + 80, oy + 135), [...shapeColor(0)]);
  // Its ratio-2 prior (third shape: 1, 1', 2) is 0.375 x sqrt(2) wide: left edge at (0.45 - 0.2652) x 300 = 55.4 px.
  assert.deepEqual(img.at(ox + 56, oy + 135), [...shapeColor(2)]);
  // Inside the priors, away from every line: the plain canvas.
  assert.deepEqual(img.at(ox + 100, oy + 100), [236, 236, 236]);
  // Between panels: white.
  assert.deepEqual(img.at(ox - 4, oy + 150), [255, 255, 255]);
});

test('on an image: the image stretched to the panel, objects outlined, the best prior drawn thick', async () => {
  // A 64 x 32 image, left half red, right half blue: stretched to the 240 px panel of a 96 px ssd-tiny (pixels
  // read off the map's cell lines, every 20 px).
  const raw = Buffer.alloc(64 * 32 * 3);
  for (let y = 0; y < 32; y++) for (let x = 0; x < 64; x++) raw.set(x < 32 ? [200, 0, 0] : [0, 0, 200], (y * 64 + x) * 3);
  const image = await sharp(raw, { raw: { width: 64, height: 32, channels: 3 } }).png().toBuffer();
  const config = ssdTinyPriors(96);
  const { png, width, height } = await drawPriors(config, { inputSize: 96, image, points: [], objects: [{ box: [0.25, 0.25, 0.75, 0.75], bestPrior: 0, bestIou: 0.1 }] });
  const img = await decode(png);
  // Four maps: two columns, two rows of 240 px panels (96 px is raised to the 240 minimum).
  assert.deepEqual([width, height], [2 * 240 + 3 * 8, 2 * (36 + 240) + 3 * 8]);
  const ox = 8, oy = 44;
  const near = (a: number[], b: number[]) => a.every((v, i) => Math.abs(v - b[i]!) <= 12);
  assert.ok(near(img.at(ox + 30, oy + 190), [200, 0, 0]), `left half red: ${img.at(ox + 30, oy + 190)}`);
  assert.ok(near(img.at(ox + 210, oy + 190), [0, 0, 200]), `right half blue: ${img.at(ox + 210, oy + 190)}`);
  // The object outline: black outside, white inside, at 0.25 x 240 = 60 px.
  assert.deepEqual(img.at(ox + 60, oy + 120), [0, 0, 0]);
  assert.deepEqual(img.at(ox + 61, oy + 120), [255, 255, 255]);
  // Prior 0 (map 1, row 0, column 0, ratio 1) drawn 3 px thick in the first shape's colour, at its left edge 0.
  assert.deepEqual(img.at(ox + 2, oy + 5), [...shapeColor(0)]);
});

test('ratio labels', () => {
  assert.deepEqual([1, 2, 0.5, 3, 0.333, 1.5, 2 / 3, 0.7].map(ratioLabel), ['1', '2', '1/2', '3', '1/3', '3/2', '2/3', '0.70']);
});
