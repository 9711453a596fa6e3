// Pascal VOC in its devkit layout:
//   <root>/Annotations/<id>.xml, <root>/JPEGImages/<id>.jpg, <root>/ImageSets/Main/<split>.txt
// Several roots can be read as one dataset (VOC2007 + VOC2012 trainval, the tutorial's training set).
import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { checkBox, finishDataset, FolderIndex, fmt, mapLimit, ProblemLog, SampleBuilder, sizeOrProblem } from './check.js';
import { annotationFileLimit, indexFileLimit, listFolder, readLines, readTextFile, TextFileError, type TextFileLimit } from './text-file.js';
import { DatasetError, type Dataset, type ReadOptions, type Sample } from './types.js';

/** The 20 Pascal VOC classes in the devkit's (alphabetical) order; label k is VOC_CLASS_NAMES[k-1]. */
export const VOC_CLASS_NAMES: readonly string[] = [
  'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
  'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor',
];

const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.JPG', '.JPEG', '.PNG', '.webp', '.bmp', '.tif', '.tiff'];

/** Options of {@link loadVoc}. */
export interface VocOptions extends ReadOptions {
  /**
   * The split file `ImageSets/Main/<split>.txt`. Default 'trainval'; when that file does not exist
   * and no split was asked for, every `Annotations/*.xml` is read.
   */
  split?: string;
}

/** Whether a folder looks like a VOC devkit root (it has an Annotations folder). */
export function isVocRoot(dir: string): boolean {
  return existsSync(join(dir, 'Annotations')) && statSync(join(dir, 'Annotations')).isDirectory();
}

/**
 * The class names of a VOC root: `options.classNames` when given, else `classes.txt` in the first
 * root (one name a line, as the shapes generator writes), else the 20 VOC classes.
 */
export function vocClassNames(root: string, given?: string[], options: Pick<ReadOptions, 'maxIndexFileBytes'> = {}): string[] {
  if (given !== undefined) return [...given];
  const file = join(root, 'classes.txt');
  if (existsSync(file)) {
    let source: string;
    try {
      source = readTextFile(file, indexFileLimit(options));
    } catch (e) {
      if (!(e instanceof TextFileError)) throw e;
      throw new DatasetError(root, [{ file, message: e.message, ...(e.line !== undefined ? { line: e.line } : {}) }]);
    }
    const names = source.split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
    if (names.length === 0) throw new DatasetError(root, [{ file, message: 'classes.txt lists no class names' }]);
    return names;
  }
  return [...VOC_CLASS_NAMES];
}

/** Elements nest at most this deep in an annotation (VOC's own go 3 deep: annotation > object > bndbox > xmin). */
export const MAX_XML_DEPTH = 32;

// No entity is ever expanded by the parser (a DOCTYPE, which is where entities are declared, is refused before
// parsing); the five predefined entities and character references are decoded in `text`.
const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false, // keep text: we parse numbers ourselves to report the ones that are not
  trimValues: true,
  processEntities: false,
  htmlEntities: false,
  maxNestedTags: MAX_XML_DEPTH + 1,
  isArray: (name, jpath) => name === 'object' && jpath === 'annotation.object',
});

type XmlNode = Record<string, unknown>;

const PREDEFINED_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Decodes XML's predefined entities and character references (`&amp;`, `&#233;`, `&#xE9;`); others stay as written. */
function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-z]+);/g, (whole, ref: string) => {
    if (ref[0] !== '#') return PREDEFINED_ENTITIES[ref] ?? whole;
    const cp = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    return cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) ? String.fromCodePoint(cp) : whole;
  });
}

function text(node: unknown): string | undefined {
  if (node === undefined || node === null) return undefined;
  if (typeof node === 'string' || typeof node === 'number') return decodeEntities(String(node).trim());
  return undefined;
}

/** 1-based line of `offset` in `s`. */
function lineAt(s: string, offset: number): number {
  let line = 1;
  for (let i = s.indexOf('\n'); i >= 0 && i < offset; i = s.indexOf('\n', i + 1)) line++;
  return line;
}

/**
 * Where well-formed `xml` first nests elements deeper than `limit` (its line), or undefined. Walks the markup
 * without recursion, skipping comments, CDATA, processing instructions and quoted attribute values.
 */
export function xmlTooDeep(xml: string, limit: number): { line: number } | undefined {
  let depth = 0;
  let i = xml.indexOf('<');
  const skipTo = (from: number, end: string): number => {
    const k = xml.indexOf(end, from);
    return k < 0 ? xml.length : k + end.length;
  };
  while (i >= 0 && i < xml.length) {
    let next: number;
    if (xml.startsWith('<!--', i)) next = skipTo(i + 4, '-->');
    else if (xml.startsWith('<![CDATA[', i)) next = skipTo(i + 9, ']]>');
    else if (xml.startsWith('<?', i) || xml.startsWith('<!', i)) next = skipTo(i + 2, '>');
    else if (xml[i + 1] === '/') {
      depth--;
      next = skipTo(i + 2, '>');
    } else {
      let j = i + 1;
      let quote = '';
      for (; j < xml.length; j++) {
        const c = xml[j];
        if (quote) {
          if (c === quote) quote = '';
        } else if (c === '"' || c === "'") quote = c;
        else if (c === '>') break;
      }
      if (xml[j - 1] !== '/' && ++depth > limit) return { line: lineAt(xml, i) };
      next = j + 1;
    }
    i = xml.indexOf('<', next);
  }
  return undefined;
}

/**
 * Reads Pascal VOC from one devkit root or several joined (e.g. `[voc2007, voc2012]`). Returns the
 * split's samples with `difficult` kept, boxes converted from VOC's 1-based pixel indices to
 * continuous pixel coordinates ([xmin-1, ymin-1, xmax, ymax]). Validates every annotation and
 * throws a DatasetError listing every problem (file and field), unless `skipBad`.
 */
export async function loadVoc(roots: string | string[], options: VocOptions = {}): Promise<Dataset> {
  const rootList = (Array.isArray(roots) ? roots : [roots]).map((r) => resolve(r));
  if (rootList.length === 0) throw new Error('loadVoc: no root given');
  const log = new ProblemLog();
  for (const root of rootList) {
    if (!isVocRoot(root)) log.add({ file: root, message: 'not a Pascal VOC root: it has no Annotations folder' });
  }
  if (log.problems.length > 0) throw new DatasetError('Pascal VOC', log.problems);
  const classNames = vocClassNames(rootList[0], options.classNames, options);
  const classIndex = new Map(classNames.map((n, i) => [n, i + 1]));
  const samples: Sample[] = [];
  const seen = new Set<string>();
  const folders = new FolderIndex();
  const pending: Array<{ id: string; imagePath: string; builder: SampleBuilder; annotationFile: string; width: number; height: number }> = [];

  const annotationLimit = annotationFileLimit(options);
  let unreadable = 0;
  for (const root of rootList) {
    const split = splitIds(root, options, log);
    unreadable += split.unreadable;
    for (const stem of split.ids) {
      const id = seen.has(stem) ? `${basename(root)}/${stem}` : stem;
      seen.add(id);
      // An id names files inside the root: one that climbs out of it (../../x) is refused.
      if (/[/\\\0]/.test(stem) || stem === '..' || stem === '.') {
        log.add({ file: join(root, 'ImageSets', 'Main', `${options.split ?? 'trainval'}.txt`), message: `'${stem}' is not an image id (it holds a path separator or is '.' or '..')`, sampleId: id });
        continue;
      }
      const annotationFile = join(root, 'Annotations', `${stem}.xml`);
      const item = readAnnotation(annotationFile, root, stem, id, classIndex, classNames, log, folders, annotationLimit);
      if (item !== undefined) pending.push({ id, annotationFile, ...item });
    }
  }

  // Image sizes the annotations do not give (or all of them, with checkImageSizes) come from the headers.
  await mapLimit(pending, 16, async (p) => {
    if (log.has(p.id)) return;
    if (p.width > 0 && p.height > 0 && !options.checkImageSizes) return;
    const size = await sizeOrProblem(log, p.imagePath, p.id);
    if (size === undefined) return;
    if (p.width > 0 && p.height > 0 && (size.width !== p.width || size.height !== p.height)) {
      log.add({ file: p.annotationFile, field: 'size', message: `says ${p.width}x${p.height} but the image ${p.imagePath} is ${size.width}x${size.height}`, sampleId: p.id });
      return;
    }
    if (p.width === 0) {
      p.width = size.width;
      p.height = size.height;
      recheckBoxes(p.annotationFile, p.id, p.builder, size.width, size.height, log);
    }
  });
  for (const p of pending) samples.push(p.builder.build(p.id, p.imagePath, p.width, p.height));
  return finishDataset(`Pascal VOC ${rootList.join(' + ')}`, seen.size + unreadable, samples, log, options, { format: 'voc', classNames, root: rootList[0], sources: rootList });
}

/**
 * The image ids of a root's split, and how many entries could not be read: lines of the split file that are
 * not UTF-8, or annotation files whose names are not (each a problem of its own sample, which skipBad skips).
 */
function splitIds(root: string, options: VocOptions, log: ProblemLog): { ids: string[]; unreadable: number } {
  const name = options.split ?? 'trainval';
  const file = join(root, 'ImageSets', 'Main', `${name}.txt`);
  if (!existsSync(file)) {
    if (options.split === undefined) {
      const folder = listFolder(join(root, 'Annotations'));
      for (const path of folder.invalid) {
        log.add({ file: path, message: 'the file name is not valid UTF-8 (shown as Latin-1); rename the file', sampleId: path });
      }
      return { ids: folder.names.filter((f) => f.endsWith('.xml')).map((f) => f.slice(0, -4)).sort(), unreadable: folder.invalid.length };
    }
    log.add({ file, message: `split file not found (split '${name}')` });
    return { ids: [], unreadable: 0 };
  }
  let list: ReturnType<typeof readLines>;
  try {
    list = readLines(file, indexFileLimit(options));
  } catch (e) {
    if (!(e instanceof TextFileError)) throw e;
    log.add({ file, message: e.message });
    return { ids: [], unreadable: 0 };
  }
  for (const bad of list.invalid) log.add({ file, line: bad.line, message: `${bad.message}; the image id on this line cannot be read`, sampleId: `${file}:${bad.line}` });
  const ids: string[] = [];
  for (const { text: line } of list.lines) {
    const id = line.trim().split(/\s+/)[0];
    if (id) ids.push(id);
  }
  if (ids.length === 0 && list.invalid.length === 0) log.add({ file, message: 'split file lists no image ids' });
  return { ids, unreadable: list.invalid.length };
}

function findImage(root: string, stem: string, filename: string | undefined, folders: FolderIndex): string | undefined {
  // <filename> is a name in JPEGImages; one with a path in it (../../x.jpg) is not followed out of the root.
  if (filename && !/[/\\]/.test(filename) && filename !== '..') {
    const p = join(root, 'JPEGImages', filename);
    if (folders.exists(p)) return p;
  }
  for (const ext of IMAGE_EXTENSIONS) {
    const p = join(root, 'JPEGImages', stem + ext);
    if (folders.exists(p)) return p;
  }
  return undefined;
}

interface PendingBoxes {
  imagePath: string;
  builder: SampleBuilder;
  width: number;
  height: number;
}

function readAnnotation(
  file: string, root: string, stem: string, id: string, classIndex: Map<string, number>, classNames: string[],
  log: ProblemLog, folders: FolderIndex, limit: TextFileLimit,
): PendingBoxes | undefined {
  const problem = (message: string, field?: string) => log.add({ file, message, sampleId: id, ...(field !== undefined ? { field } : {}) });
  if (!folders.exists(file)) {
    problem('annotation file not found');
    return undefined;
  }
  const doc = parseAnnotation(file, id, log, limit);
  if (doc === undefined) return undefined;
  const ann = doc.annotation as XmlNode | undefined;
  if (ann === undefined || typeof ann !== 'object') {
    problem('no <annotation> element', 'annotation');
    return undefined;
  }
  const filename = text(ann.filename);
  const imagePath = findImage(root, stem, filename, folders);
  if (imagePath === undefined) {
    log.add({ file: join(root, 'JPEGImages', filename || `${stem}.jpg`), message: `image file not found (annotated by ${file})`, sampleId: id });
  }

  let width = 0, height = 0;
  const size = ann.size as XmlNode | undefined;
  if (size !== undefined && typeof size === 'object') {
    const w = numberField(text(size.width), 'size.width', problem);
    const h = numberField(text(size.height), 'size.height', problem);
    if (w !== undefined && h !== undefined) {
      if (w > 0 && h > 0) { width = w; height = h; }
      else if (w < 0 || h < 0) problem(`negative image size ${fmt(w)}x${fmt(h)}`, 'size');
      // 0x0 (some tools write it): the header tells the real size.
    }
  }

  const builder = new SampleBuilder();
  const objects = (ann.object ?? []) as unknown[];
  objects.forEach((node, i) => {
    const field = `object[${i}]`;
    if (node === null || typeof node !== 'object') {
      problem('empty <object> element', field);
      return;
    }
    const obj = node as XmlNode;
    const name = text(obj.name);
    let label = 0;
    if (!name) problem('missing class name', `${field}.name`);
    else {
      label = classIndex.get(name) ?? 0;
      if (label === 0) problem(`unknown class '${name}' (classes: ${listNames(classNames)})`, `${field}.name`);
    }
    const difficultText = text(obj.difficult);
    let difficult = false;
    if (difficultText !== undefined && difficultText !== '') {
      if (difficultText === '1' || difficultText === '0') difficult = difficultText === '1';
      else problem(`must be 0 or 1, got '${difficultText}'`, `${field}.difficult`);
    }
    const bb = obj.bndbox as XmlNode | undefined;
    if (bb === undefined || bb === null || typeof bb !== 'object') {
      problem('missing <bndbox>', `${field}.bndbox`);
      return;
    }
    const v = ['xmin', 'ymin', 'xmax', 'ymax'].map((k) => numberField(text(bb[k]), `${field}.bndbox.${k}`, problem));
    if (v.some((x) => x === undefined)) return;
    const [x0, y0, x1, y1] = [v[0]! - 1, v[1]! - 1, v[2]!, v[3]!];
    if (checkBox(log, file, `${field}.bndbox`, id, undefined, vocWritten(v as number[]), x0, y0, x1, y1, width, height) && label > 0) {
      builder.add(x0, y0, x1, y1, label, difficult);
    }
  });
  if (imagePath === undefined) return undefined;
  return { imagePath, builder, width, height };
}

/**
 * Reads and parses one annotation file with bounded cost, adding a problem of sample `id` (file, line, what is
 * wrong) when it cannot: unreadable, too large, not UTF-8, empty, a DOCTYPE (entity declarations), malformed,
 * nested deeper than MAX_XML_DEPTH.
 */
function parseAnnotation(file: string, id: string, log: ProblemLog, limit: TextFileLimit): XmlNode | undefined {
  const problem = (message: string, line?: number) => log.add({ file, message, sampleId: id, ...(line !== undefined ? { line } : {}) });
  let xml: string;
  try {
    xml = readTextFile(file, limit);
  } catch (e) {
    if (!(e instanceof TextFileError)) throw e;
    problem(e.message, e.line);
    return undefined;
  }
  if (xml.trim().length === 0) {
    problem('empty annotation file');
    return undefined;
  }
  const doctype = /<!DOCTYPE|<!ENTITY/i.exec(xml);
  if (doctype) {
    problem(`has a ${doctype[0].slice(2).toUpperCase()} declaration: annotation files may not declare a DTD or entities (they can expand to gigabytes or name other files)`, lineAt(xml, doctype.index));
    return undefined;
  }
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    problem(`malformed XML: ${valid.err.msg} (column ${valid.err.col})`, valid.err.line);
    return undefined;
  }
  const deep = xmlTooDeep(xml, MAX_XML_DEPTH);
  if (deep) {
    problem(`elements nest more than ${MAX_XML_DEPTH} deep (a VOC annotation nests 3 deep)`, deep.line);
    return undefined;
  }
  try {
    return parser.parse(xml) as XmlNode;
  } catch (e) {
    problem(`cannot parse XML: ${(e as Error).message}`);
    return undefined;
  }
}

function recheckBoxes(file: string, id: string, builder: SampleBuilder, width: number, height: number, log: ProblemLog): void {
  const b = builder.coordinates;
  for (let o = 0; o < b.length; o += 4) {
    checkBox(log, file, `object[${o / 4}].bndbox`, id, undefined, vocWritten([b[o] + 1, b[o + 1] + 1, b[o + 2], b[o + 3]]), b[o], b[o + 1], b[o + 2], b[o + 3], width, height);
  }
}

function vocWritten(v: number[]): string {
  return `xmin ${fmt(v[0])}, ymin ${fmt(v[1])}, xmax ${fmt(v[2])}, ymax ${fmt(v[3])}`;
}

function numberField(value: string | undefined, field: string, problem: (m: string, f?: string) => void): number | undefined {
  if (value === undefined || value === '') {
    problem('missing', field);
    return undefined;
  }
  const n = Number(value);
  if (!Number.isFinite(n)) {
    problem(`not a number: '${value}'`, field);
    return undefined;
  }
  return n;
}

/** A class list for messages, cut after 30 names. */
export function listNames(names: readonly string[]): string {
  return names.length <= 30 ? names.join(', ') : `${names.slice(0, 30).join(', ')}, ... (${names.length} in all)`;
}
