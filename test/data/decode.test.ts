import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeImage, readImageSize } from '../../src/data/decode.js';

test('decodeImage: grayscale spreads to RGB, alpha is dropped, EXIF orientation applied; readImageSize agrees', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssd-decode-'));
  try {
    const gray = join(dir, 'g.png'), rgba = join(dir, 'a.png'), rotated = join(dir, 'r.png');
    await sharp({ create: { width: 5, height: 3, channels: 3, background: '#808080' } }).toColourspace('b-w').png().toFile(gray);
    await sharp({ create: { width: 5, height: 3, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 0.5 } } }).png().toFile(rgba);
    // A 5x3 image stored with EXIF orientation 6 (rotate 90 degrees clockwise to display): 3x5.
    const raw = new Uint8Array(5 * 3 * 3);
    raw.set([255, 255, 255], 0); // top-left pixel white, the rest black
    await sharp(raw, { raw: { width: 5, height: 3, channels: 3 } }).png().withMetadata({ orientation: 6 }).toFile(rotated);
    const g = await decodeImage(gray);
    assert.deepEqual([g.width, g.height, g.data.length], [5, 3, 45]);
    assert.ok(g.data.every((v) => v === 128));
    const a = await decodeImage(rgba);
    assert.deepEqual(Array.from(a.data.subarray(0, 6)), [10, 20, 30, 10, 20, 30]);
    const r = await decodeImage(rotated);
    assert.deepEqual([r.width, r.height], [3, 5]);
    // Rotated clockwise, the stored top-left corner lands top-right.
    assert.deepEqual(Array.from(r.data.subarray(3 * 2, 3 * 3)), [255, 255, 255]);
    assert.deepEqual(Array.from(r.data.subarray(0, 3)), [0, 0, 0]);
    assert.deepEqual(await readImageSize(rotated), { width: 3, height: 5 });
    const broken = join(dir, 'broken.jpg');
    writeFileSync(broken, 'not an image');
    await assert.rejects(decodeImage(broken), (e: Error) => e.message.startsWith(`${broken}: cannot decode image`));
    await assert.rejects(readImageSize(broken), /cannot read image header/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
