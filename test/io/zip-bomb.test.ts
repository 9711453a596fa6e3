// Zip bombs: a 2 MB .pth whose entry inflates to 2 GiB is refused before the memory is spent, whether its
// directory declares the 2 GiB (refused by the limit on inflated data) or lies (inflating stops at the declared
// size). This file runs first in its own process, so the peak RSS it measures is the bomb's and nothing else's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants, deflateRawSync } from 'node:zlib';
import { loadTorchFile } from '../../src/io/torch/load.js';
import { ZipArchive } from '../../src/io/torch/zip.js';
import { writeZip, type EntryToWrite } from './zip-writer.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'torch');
const MiB = 2 ** 20;

/**
 * A raw deflate stream of `mib` MiB of zeros, about 1 KB a MiB: one MiB deflated and sync-flushed (it refers
 * to nothing before its own start, so copies of it can follow each other), repeated, then an empty final block.
 */
function zeroBomb(mib: number): Uint8Array {
  const chunk = deflateRawSync(new Uint8Array(MiB), { level: 9, finishFlush: constants.Z_SYNC_FLUSH });
  const out = new Uint8Array(chunk.byteLength * mib + 2);
  for (let i = 0; i < mib; i++) out.set(chunk, i * chunk.byteLength);
  out.set([0x03, 0x00], chunk.byteLength * mib);
  return out;
}

/** The entries of a real torch.save file, with `data.pkl` replaced by `pkl`. */
function torchFileWithPickle(pkl: Omit<EntryToWrite, 'name'>): Uint8Array {
  const real = new ZipArchive(Uint8Array.from(readFileSync(join(fixtures, 'tensors_zip.pth'))), 'tensors_zip.pth');
  const entries: EntryToWrite[] = [...real.entries.keys()].map((name) => (name.endsWith('/data.pkl') ? { name, ...pkl } : { name, data: real.read(name) }));
  return writeZip(entries);
}

/** Peak RSS growth (MB) while `fn` runs. */
function peakGrowthMB(fn: () => void): number {
  const before = process.resourceUsage().maxRSS;
  fn();
  return (process.resourceUsage().maxRSS - before) / 1024;
}

test('a 2 MB .pth whose pickle inflates to 2 GiB is refused, with peak memory growth well under 200 MB', () => {
  const bomb = zeroBomb(2048);
  assert.ok(bomb.byteLength < 2.2e6, `the bomb is ${bomb.byteLength} bytes`);
  const dir = mkdtempSync(join(tmpdir(), 'ssd-bomb-'));
  try {
    // The directory declares the real 2 GiB: refused by the 1 GiB default limit before a byte is inflated.
    const honest = join(dir, 'honest.pth');
    writeFileSync(honest, torchFileWithPickle({ data: bomb, method: 8, size: 2 ** 31, crc: 0 }));
    let message = '';
    const honestGrowth = peakGrowthMB(() => {
      try {
        loadTorchFile(honest);
      } catch (e) {
        message = (e as Error).message;
      }
    });
    assert.match(message, /^zip '.*honest\.pth': entry 'tensors_zip\/data\.pkl' declares 2 GiB inflated \(from 2\.\d+ MiB\), more than the 1 GiB left of the limit on inflated data \(maxInflatedBytes\); refusing it as a possible zip bomb$/);
    assert.ok(honestGrowth < 200, `peak RSS grew ${honestGrowth} MB`);

    // The directory lies (a 1 KiB pickle): inflating stops at 1 KiB.
    const liar = join(dir, 'liar.pth');
    writeFileSync(liar, torchFileWithPickle({ data: bomb, method: 8, size: 1024, crc: 0 }));
    const liarGrowth = peakGrowthMB(() => {
      try {
        loadTorchFile(liar);
        message = '';
      } catch (e) {
        message = (e as Error).message;
      }
    });
    assert.match(message, /^zip '.*liar\.pth': entry 'tensors_zip\/data\.pkl': inflates to more than the 1024 bytes the directory declares; the archive is corrupt or hostile \(a zip bomb\)$/);
    assert.ok(liarGrowth < 200, `peak RSS grew ${liarGrowth} MB`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the limit counts every entry inflated; a genuine deflated file reads within it and is refused under a smaller one', () => {
  // Three 64 MiB storages against a 160 MiB limit: the third does not fit what the first two left.
  const entries = [0, 1, 2].map((k) => ({ name: `a/data/${k}`, data: zeroBomb(64), method: 8 as const, size: 64 * MiB }));
  const zip = new ZipArchive(writeZip(entries), 'three.zip', { maxInflatedBytes: 160 * MiB });
  // The CRCs written are of the deflated bytes, so the first read ends at the CRC check, after inflating.
  assert.throws(() => zip.read('a/data/0'), /entry 'a\/data\/0': CRC-32 mismatch/);
  assert.throws(() => zip.read('a/data/1'), /CRC-32 mismatch/);
  assert.throws(() => zip.read('a/data/2'), /entry 'a\/data\/2' declares 64 MiB inflated .* more than the 32 MiB left of the limit/);
  // torchvision's ssd300_vgg16 at full size, deflated (105 MB of float32): its 16 MB conv6 is over a 4 MiB limit.
  assert.throws(
    () => loadTorchFile(join(fixtures, 'ssd300_vgg16_full_deflated.pth'), { maxInflatedBytes: 4 * MiB }),
    /ssd300_vgg16_full_deflated\.pth': entry '[^']+\/data\/\d+' declares \d+(\.\d+)? MiB inflated .*maxInflatedBytes/,
  );
});

test('a deflated entry shorter than declared, or corrupt, is an error naming the archive and the entry', () => {
  const data = new TextEncoder().encode('hello, zip');
  const deflated = deflateRawSync(data);
  const short = new ZipArchive(writeZip([{ name: 'x/short', data: deflated, method: 8, size: 100 }]), 'short.zip');
  assert.throws(() => short.read('x/short'), /^Error: zip 'short\.zip': entry 'x\/short': holds 10 bytes, the directory says 100$/);
  const junk = new ZipArchive(writeZip([{ name: 'x/junk', data: Uint8Array.from([0xff, 0xff, 0xff, 0xff]), method: 8, size: 10 }]), 'junk.zip');
  assert.throws(() => junk.read('x/junk'), /zip 'junk\.zip': entry 'x\/junk': deflate data is corrupt/);
  const ok = new ZipArchive(writeZip([{ name: 'x/ok', data: deflated, method: 8, size: 10, crc: new ZipArchive(writeZip([{ name: 'y', data }]), 'y').entries.get('y')!.crc32 }]), 'ok.zip');
  assert.equal(new TextDecoder().decode(ok.read('x/ok')), 'hello, zip');
});
