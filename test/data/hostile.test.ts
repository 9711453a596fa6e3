// Hostile and broken dataset files: XML entities and deep nesting, files too large, bytes that are not UTF-8, ids
// that climb out of the dataset. Each is a problem naming its file and line or field; the per-sample ones are
// skipped and counted by skipBad.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCoco } from '../../src/data/coco.js';
import { firstInvalidUtf8, readLines } from '../../src/data/text-file.js';
import { loadVoc, xmlTooDeep } from '../../src/data/voc.js';
import { loadYolo } from '../../src/data/yolo.js';
import { assertProblem, expectDatasetError, fixture } from './helpers.js';

/** A copy of the small VOC fixture (000001..000003) in a temporary folder, with `extra` annotations listed in trainval. */
function vocWith(extra: Record<string, string | Uint8Array>, splitLines?: Uint8Array): { root: string; done: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'ssd-hostile-voc-'));
  cpSync(fixture('voc'), root, { recursive: true });
  const image = readFileSync(join(root, 'JPEGImages', '000002.png'));
  const ids = ['000001', '000002', '000003'];
  for (const [id, xml] of Object.entries(extra)) {
    writeFileSync(join(root, 'Annotations', `${id}.xml`), xml);
    writeFileSync(join(root, 'JPEGImages', `${id}.png`), image);
    ids.push(id);
  }
  writeFileSync(join(root, 'ImageSets', 'Main', 'trainval.txt'), splitLines ?? `${ids.join('\n')}\n`);
  return { root, done: () => rmSync(root, { recursive: true, force: true }) };
}

const GOOD_OBJECT = '<object><name>cat</name><bndbox><xmin>3</xmin><ymin>3</ymin><xmax>6</xmax><ymax>7</ymax></bndbox></object>';
const SIZE = '<size><width>16</width><height>12</height><depth>3</depth></size>';

test('VOC: external and internal entities are refused as problems of their sample, naming file and line; skipBad skips them', async () => {
  const external = `<?xml version="1.0"?>\n<!DOCTYPE annotation [\n<!ENTITY secret SYSTEM "file:///etc/passwd">\n]>\n<annotation><filename>&secret;</filename>${SIZE}${GOOD_OBJECT}</annotation>`;
  // A billion laughs: ten levels of ten references each.
  let laughs = '<!ENTITY l0 "lol">';
  for (let k = 1; k <= 9; k++) laughs += `<!ENTITY l${k} "${`&l${k - 1};`.repeat(10)}">`;
  const internal = `<?xml version="1.0"?>\n\n<!DOCTYPE annotation [${laughs}]>\n<annotation><folder>&l9;</folder>${SIZE}${GOOD_OBJECT}</annotation>`;
  const { root, done } = vocWith({ external, internal });
  try {
    const err = await expectDatasetError(() => loadVoc(root));
    assert.equal(err.problems.length, 2, err.message);
    const message = /has a DOCTYPE declaration: annotation files may not declare a DTD or entities/;
    assertProblem(err, 'Annotations/external.xml', undefined, message, 2);
    assertProblem(err, 'Annotations/internal.xml', undefined, message, 3);
    const d = await loadVoc(root, { skipBad: true });
    assert.deepEqual(d.samples.map((s) => s.id), ['000001', '000002', '000003']);
    assert.equal(d.skipped, 2);
    assert.deepEqual(d.problems.map((p) => p.sampleId).sort(), ['external', 'internal']);
  } finally {
    done();
  }
});

test('VOC: the predefined entities and character references are decoded, and nothing else is', async () => {
  const xml = `<annotation><filename>a&amp;b&#46;png</filename>${SIZE}<object><name>c&#x61;t</name><bndbox><xmin>3</xmin><ymin>3</ymin><xmax>6</xmax><ymax>7</ymax></bndbox></object></annotation>`;
  const { root, done } = vocWith({ amp: xml });
  try {
    writeFileSync(join(root, 'JPEGImages', 'a&b.png'), readFileSync(join(root, 'JPEGImages', '000002.png')));
    const d = await loadVoc(root);
    const s = d.samples.find((x) => x.id === 'amp')!;
    assert.ok(s.imagePath.endsWith('a&b.png'), s.imagePath);
    assert.deepEqual([...s.labels], [8]); // 'cat'
  } finally {
    done();
  }
});

test('VOC: deep nesting is a problem at its line, found without recursion; an annotation over the size limit is one too', async () => {
  const deep = `<annotation>${SIZE}\n${'<a>'.repeat(1000)}${'</a>'.repeat(1000)}</annotation>`;
  const big = `<annotation>${SIZE}${GOOD_OBJECT.repeat(200)}</annotation>`;
  const { root, done } = vocWith({ deep, big });
  try {
    const err = await expectDatasetError(() => loadVoc(root, { maxAnnotationFileBytes: 20_000 }));
    assertProblem(err, 'Annotations/deep.xml', undefined, /elements nest more than 32 deep \(a VOC annotation nests 3 deep\)/, 2);
    assertProblem(err, 'Annotations/big.xml', undefined, /is 2\d\.\d KiB, more than the 19\.5 KiB an annotation file may have \(the maxAnnotationFileBytes option raises the limit\)/);
    const d = await loadVoc(root, { skipBad: true, maxAnnotationFileBytes: 20_000 });
    assert.equal(d.samples.length, 3);
    assert.equal(d.skipped, 2);
    // Under the default 4 MiB limit the large one is read.
    const ok = await loadVoc(root, { skipBad: true });
    assert.equal(ok.samples.find((s) => s.id === 'big')!.labels.length, 200);
  } finally {
    done();
  }
  // The depth walk skips what is not an element: comments, CDATA, attributes holding '>' or '/>'.
  assert.equal(xmlTooDeep('<a><!-- <b><c> --><![CDATA[<d><e>]]><f x="/>" y=\'>\'><g/></f></a>', 2), undefined);
  assert.deepEqual(xmlTooDeep('<a>\n<f x="/>">\n<g>', 2), { line: 3 });
  // A million levels: the walk keeps a counter, not a stack.
  assert.deepEqual(xmlTooDeep(`<r>\n${'<a>'.repeat(1_000_000)}${'</a>'.repeat(1_000_000)}</r>`, 32), { line: 2 });
});

test('VOC: a split file line that is not UTF-8 is a problem at that line, not a bare ENOENT; the other ids are read', async () => {
  const latin1 = Uint8Array.from([...Buffer.from('000001\n000002\n'), ...Buffer.from('caf\xe9\n', 'latin1'), ...Buffer.from('000003\n')]);
  const { root, done } = vocWith({}, latin1);
  try {
    const err = await expectDatasetError(() => loadVoc(root));
    assert.equal(err.problems.length, 1, err.message);
    assertProblem(err, 'ImageSets/Main/trainval.txt', undefined, /^not valid UTF-8 text: byte 0xe9 \(bytes e9\) at column 4; save the file as UTF-8; the image id on this line cannot be read$/, 3);
    const d = await loadVoc(root, { skipBad: true });
    assert.deepEqual(d.samples.map((s) => s.id), ['000001', '000002', '000003']);
    assert.equal(d.skipped, 1);
    // An annotation in Latin-1 is a problem of its sample at its line.
    writeFileSync(join(root, 'ImageSets', 'Main', 'trainval.txt'), '000001\n000002\n');
    writeFileSync(join(root, 'Annotations', '000002.xml'), Buffer.from(`<annotation>\n${SIZE}\n<object><name>caf\xe9</name></object></annotation>`, 'latin1'));
    const xmlErr = await expectDatasetError(() => loadVoc(root));
    assertProblem(xmlErr, 'Annotations/000002.xml', undefined, /^not valid UTF-8 text: byte 0xe9 \(bytes e9 3c 2f 6e\) at byte \d+; save the file as UTF-8$/, 3);
  } finally {
    done();
  }
});

test('VOC: ids and file names that climb out of the dataset are refused', async () => {
  const { root, done } = vocWith({}, Buffer.from('000001\n../../../../etc/passwd\n'));
  try {
    writeFileSync(join(root, 'Annotations', '000001.xml'), `<annotation><filename>../../outside.png</filename>${SIZE}${GOOD_OBJECT}</annotation>`);
    const d = await loadVoc(root, { skipBad: true });
    assert.deepEqual(d.samples.map((s) => s.id), ['000001']);
    // <filename> with a path is not followed: the image is found by its id in JPEGImages.
    assert.equal(d.samples[0]!.imagePath, join(root, 'JPEGImages', '000001.png'));
    assert.equal(d.skipped, 1);
    assert.match(d.problems[0]!.message, /'\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd' is not an image id \(it holds a path separator/);
  } finally {
    done();
  }
});

test('YOLO and COCO: files that are not UTF-8 are problems naming the file and line', async () => {
  const root = mkdtempSync(join(tmpdir(), 'ssd-hostile-yolo-'));
  try {
    cpSync(fixture('yolo'), root, { recursive: true });
    // A label file in Latin-1: a problem of that image, skipped with skipBad.
    writeFileSync(join(root, 'labels', 'train', 'p.txt'), Buffer.from('0 0.5 0.5 0.2 0.2\n# caf\xe9\n', 'latin1'));
    const err = await expectDatasetError(() => loadYolo(join(root, 'data.yaml')));
    assertProblem(err, 'labels/train/p.txt', undefined, /^not valid UTF-8 text: byte 0xe9/, 2);
    const d = await loadYolo(join(root, 'data.yaml'), { skipBad: true });
    assert.equal(d.skipped, 1);
    // data.yaml itself: the whole dataset is refused, naming its line.
    writeFileSync(join(root, 'data.yaml'), Buffer.from('train: images/train\nnames: [caf\xe9]\n', 'latin1'));
    const yamlErr = await expectDatasetError(() => loadYolo(join(root, 'data.yaml'), { skipBad: true }));
    assertProblem(yamlErr, 'data.yaml', undefined, /^not valid UTF-8 text: byte 0xe9/, 2);
    // A COCO JSON in Latin-1.
    const coco = JSON.parse(readFileSync(fixture('coco', 'annotations', 'instances_val.json'), 'utf8')) as { categories: Array<{ name: string }> };
    coco.categories[0]!.name = 'caf\u00e9';
    const json = join(root, 'instances.json');
    writeFileSync(json, Buffer.from(JSON.stringify(coco, null, 1), 'latin1'));
    const cocoErr = await expectDatasetError(() => loadCoco(json));
    const p = assertProblem(cocoErr, 'instances.json', undefined, /^not valid UTF-8 text: byte 0xe9/);
    assert.ok(p.line! > 1);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('UTF-8 checking agrees with TextDecoder on every short byte string; lines are decoded one by one', () => {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let seed = 3;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  const interesting = [0x00, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0x9f, 0xa0, 0x90, 0x8f];
  for (let trial = 0; trial < 20_000; trial++) {
    const bytes = Uint8Array.from({ length: 1 + (next() % 6) }, () => interesting[next() % interesting.length]!);
    let valid = true;
    try {
      decoder.decode(bytes);
    } catch {
      valid = false;
    }
    assert.equal(firstInvalidUtf8(bytes) < 0, valid, `bytes ${[...bytes].map((b) => b.toString(16))}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'ssd-lines-'));
  try {
    const file = join(dir, 'list.txt');
    writeFileSync(file, Buffer.concat([Buffer.from('\ufeffa\r\nb\n'), Buffer.from([0x63, 0xff, 0x0a]), Buffer.from('d')]));
    const lines = readLines(file, { maxBytes: 100, what: 'list', option: 'x' });
    assert.deepEqual(lines.lines, [{ line: 1, text: 'a' }, { line: 2, text: 'b' }, { line: 4, text: 'd' }]);
    assert.deepEqual(lines.invalid.map((l) => l.line), [3]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
