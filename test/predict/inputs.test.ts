// The folder walk survives what real folders hold: a dangling symbolic link, a link to itself, a link back to an
// ancestor folder (a loop), two links to one folder, a FIFO named like an image, a link to the output folder, and
// names that are not UTF-8 (made with Buffer paths). Each is skipped with a reason naming it; every image is still
// found. And the output folder must lie outside the inputs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectInputs, InputPathError } from '../../src/predict/inputs.js';
import { checkOutDir, UnsafeOutDirError } from '../../src/predict/out-dir.js';

let dir: string;
let root: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ssd-inputs-'));
  root = join(dir, 'photos');
  mkdirSync(join(root, 'trip', 'day1'), { recursive: true });
  mkdirSync(join(dir, 'out'));
  writeFileSync(join(root, 'a.jpg'), 'a');
  writeFileSync(join(root, 'clip.MP4'), 'v');
  writeFileSync(join(root, 'notes.txt'), 'ignored');
  writeFileSync(join(root, 'trip', 'day1', 'b.png'), 'b');
  symlinkSync(join(dir, 'gone.jpg'), join(root, 'dangling.jpg')); // target never existed
  symlinkSync('self.jpg', join(root, 'self.jpg')); // ELOOP
  symlinkSync('..', join(root, 'trip', 'day1', 'up')); // loop back to trip
  symlinkSync(join(root, 'trip'), join(root, 'trip-again')); // a second way into trip
  symlinkSync(join(dir, 'out'), join(root, 'results')); // the output folder
  execFileSync('mkfifo', [join(root, 'pipe.jpg')]);
  // Names that are not UTF-8: "café.jpg" and a folder "día" in Latin-1 bytes, and a text file, which is not named.
  const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
  writeFileSync(Buffer.concat([Buffer.from(root + '/'), latin1('caf\xe9.jpg')]), 'c');
  mkdirSync(Buffer.concat([Buffer.from(root + '/'), latin1('d\xeda')]));
  writeFileSync(Buffer.concat([Buffer.from(root + '/'), latin1('d\xeda/inside.jpg')]), 'd');
  writeFileSync(Buffer.concat([Buffer.from(root + '/'), latin1('r\xe9sum\xe9.txt')]), 't');
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('a folder walk skips and names dangling links, loops, folders seen before, FIFOs, the output folder and names that are not UTF-8', () => {
  const r = collectInputs([root], { exclude: join(dir, 'out') });
  assert.deepEqual(r.images, [join(root, 'a.jpg'), join(root, 'trip', 'day1', 'b.png')]);
  assert.deepEqual(r.videos, [join(root, 'clip.MP4')]);
  const reasons = Object.fromEntries(r.skipped.map((s) => [s.path.slice(root.length + 1), s.reason]));
  assert.deepEqual(reasons, {
    'caf\xe9.jpg': 'the file name is not valid UTF-8 (shown as Latin-1); rename it',
    'd\xeda': 'the folder name is not valid UTF-8 (shown as Latin-1); rename it',
    'dangling.jpg': `a symbolic link to '${join(dir, 'gone.jpg')}', which does not exist`,
    'pipe.jpg': 'a FIFO (named pipe), not a file',
    results: 'the output folder: not searched for inputs',
    'self.jpg': 'a symbolic link loop (it leads back to itself)',
    'trip-again': `a link to a folder already searched as '${join(root, 'trip')}'`,
    'trip/day1/up': `a link to a folder already searched as '${join(root, 'trip')}'`,
  });
});

test('paths named: a file is taken whatever its name, a video by its extension; a missing path, a dangling link or a loop is an error naming it', () => {
  const r = collectInputs([join(root, 'notes.txt'), join(root, 'clip.MP4'), join(root, 'pipe.jpg')]);
  assert.deepEqual(r.images, [join(root, 'notes.txt')]);
  assert.deepEqual(r.videos, [join(root, 'clip.MP4')]);
  assert.deepEqual(r.skipped, [{ path: join(root, 'pipe.jpg'), reason: 'a FIFO (named pipe), not a file' }]);
  assert.throws(() => collectInputs([join(root, 'missing.jpg')]), (e: Error) => e instanceof InputPathError && e.message === `'${join(root, 'missing.jpg')}' does not exist`);
  assert.throws(() => collectInputs([join(root, 'dangling.jpg')]), new RegExp(`dangling\\.jpg' is a symbolic link to '.*gone\\.jpg', which does not exist`));
  assert.throws(() => collectInputs([join(root, 'self.jpg')]), /self\.jpg' is a symbolic link loop/);
  // One folder named twice is searched once.
  const twice = collectInputs([join(root, 'trip'), join(root, 'trip-again')]);
  assert.deepEqual(twice.images, [join(root, 'trip', 'day1', 'b.png')]);
  assert.deepEqual(twice.skipped.map((s) => s.path), [join(root, 'trip', 'day1', 'up'), join(root, 'trip-again')]);
});

test('a character device named like an image (a link to /dev/zero) is skipped, never read; an unreadable file or folder is skipped and named', () => {
  const box = join(dir, 'devices');
  mkdirSync(join(box, 'locked'), { recursive: true });
  symlinkSync('/dev/zero', join(box, 'zero.jpg'));
  writeFileSync(join(box, 'secret.jpg'), 's');
  writeFileSync(join(box, 'ok.png'), 'o');
  writeFileSync(join(box, 'locked', 'inside.jpg'), 'i');
  chmodSync(join(box, 'secret.jpg'), 0o000);
  chmodSync(join(box, 'locked'), 0o000);
  try {
    const r = collectInputs([box]);
    const root = process.getuid?.() === 0; // root reads every file whatever its mode
    assert.deepEqual(r.images, root ? [join(box, 'locked', 'inside.jpg'), join(box, 'ok.png'), join(box, 'secret.jpg')] : [join(box, 'ok.png')]);
    const { locked, ...reasons } = Object.fromEntries(r.skipped.map((s) => [s.path.slice(box.length + 1), s.reason]));
    assert.deepEqual(reasons, { 'zero.jpg': 'a character device, not a file', ...(root ? {} : { 'secret.jpg': 'cannot be read: permission denied' }) });
    if (root) assert.equal(locked, undefined);
    else assert.match(locked ?? '', /^the folder cannot be read: EACCES: permission denied/);
    assert.deepEqual(collectInputs([join(box, 'zero.jpg')]), { images: [], videos: [], skipped: [{ path: join(box, 'zero.jpg'), reason: 'a character device, not a file' }] });
  } finally {
    chmodSync(join(box, 'locked'), 0o755);
  }
});

test('the output folder may not be an input folder, lie inside one, or hold an input file; links are resolved', () => {
  const refused = (out: string, inputs: string[], pattern: RegExp) =>
    assert.throws(() => checkOutDir(out, inputs), (e: Error) => e instanceof UnsafeOutDirError && pattern.test(e.message), `${out} for ${inputs.join(' ')}`);
  refused(root, [root], /is the input folder .*photos: annotated copies would replace the originals, or be taken as inputs by the next run over .*; give an --out outside the inputs$/);
  refused(join(root, 'trip', 'detect'), [root], /is inside the input folder/); // does not exist yet
  refused(join(root, 'trip-again', 'new', 'deeper'), [root], /is inside the input folder/); // through a link
  refused(join(dir, 'out'), [join(root, 'results')], /is the input folder/); // the input is a link to the output
  refused(root, [join(root, 'a.jpg')], /holds the input .*a\.jpg: its annotated copy would replace it/);
  // Beside the inputs, or above them, is fine: the copies go to the top of --out, never into the inputs.
  checkOutDir(join(dir, 'out'), [root, join(root, 'a.jpg')]);
  checkOutDir(dir, [join(root, 'trip'), join(root, 'a.jpg')]);
  checkOutDir(join(dir, 'photos-detect'), [root]);
});
