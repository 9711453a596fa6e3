// The images the tests of `ssd detect` and src/predict run on: a scene of coloured rectangles as JPEG (also one
// turned by EXIF), grayscale PNG, PNG with alpha, two files of one base name, a broken JPEG and a text file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

/** Writes the images under `dir`/in (and in/sub). */
export async function writeInputImages(dir: string): Promise<void> {
  mkdirSync(join(dir, 'in', 'sub'), { recursive: true });
  const scene = (w: number, h: number) =>
    sharp({ create: { width: w, height: h, channels: 3, background: { r: 30, g: 110, b: 200 } } }).composite([
      { input: { create: { width: Math.round(w / 3), height: Math.round(h / 2), channels: 3, background: { r: 240, g: 200, b: 20 } } }, left: Math.round(w / 4), top: Math.round(h / 5) },
      { input: { create: { width: Math.round(w / 5), height: Math.round(h / 5), channels: 3, background: { r: 250, g: 20, b: 20 } } }, left: Math.round((2 * w) / 3), top: Math.round((2 * h) / 3) },
    ]);
  await scene(640, 480).jpeg().toFile(join(dir, 'in', '000000000042.jpg'));
  await scene(500, 333).jpeg().withMetadata({ orientation: 6 }).toFile(join(dir, 'in', 'rotated.jpg'));
  await scene(320, 240).grayscale().png().toFile(join(dir, 'in', 'gray.png'));
  await scene(256, 256).ensureAlpha(0.6).png().toFile(join(dir, 'in', 'sub', 'alpha.png'));
  await scene(256, 256).png().toFile(join(dir, 'in', 'sub', 'gray.png')); // same base name as another input
  writeFileSync(join(dir, 'in', 'broken.jpg'), 'not a jpeg');
  writeFileSync(join(dir, 'in', 'notes.txt'), 'not an image and not taken from a folder');
}
