// COCO object detection annotations (`instances_*.json`): images, annotations with [x, y, w, h]
// boxes, categories with arbitrary ids mapped to contiguous labels 1..C.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { checkBox, finishDataset, FolderIndex, fmt, mapLimit, ProblemLog, SampleBuilder, sizeOrProblem } from './check.js';
import { DatasetError, type Dataset, type ReadOptions, type Sample } from './types.js';
import { listNames } from './voc.js';
import { indexFileLimit, readTextFile, TextFileError } from './text-file.js';

/** Options of {@link loadCoco}. */
export interface CocoOptions extends ReadOptions {
  /**
   * The folder the images' `file_name`s are relative to. Default: the first of `../<set>`,
   * `../images/<set>`, `<set>`, `images/<set>`, `images`, `../images`, `.` (relative to the JSON
   * file, `<set>` being `val2017` for `instances_val2017.json`) that holds the first image.
   */
  imageDir?: string;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses a JSON file of at most `maxIndexFileBytes`, turning an unreadable file, bytes that are not UTF-8 or a
 * syntax error into a problem with its line.
 */
export function parseJsonFile(file: string, log: ProblemLog, options: Pick<CocoOptions, 'maxIndexFileBytes'> = {}): unknown {
  if (!existsSync(file)) {
    log.add({ file, message: 'file not found' });
    return undefined;
  }
  let textContent: string;
  try {
    textContent = readTextFile(file, indexFileLimit(options));
  } catch (e) {
    if (!(e instanceof TextFileError)) throw e;
    log.add({ file, message: e.message, ...(e.line !== undefined ? { line: e.line } : {}) });
    return undefined;
  }
  if (textContent.trim().length === 0) {
    log.add({ file, message: 'empty JSON file' });
    return undefined;
  }
  try {
    return JSON.parse(textContent);
  } catch (e) {
    const message = (e as Error).message;
    const m = /position (\d+)/.exec(message);
    if (m) {
      const before = textContent.slice(0, Number(m[1]));
      const line = before.split('\n').length;
      const col = before.length - before.lastIndexOf('\n');
      log.add({ file, line, message: `malformed JSON: ${message} (line ${line}, column ${col})` });
    } else log.add({ file, message: `malformed JSON: ${message}` });
    return undefined;
  }
}

/**
 * Reads a COCO instances JSON. Categories become labels 1..C in the order of their ids (the names
 * in Dataset.classNames, the original ids in Dataset.categoryIds for exporting results); with
 * `classNames` given, categories are matched to it by name instead. `iscrowd` regions are kept with
 * crowd = 1 and difficult = 1 (training drops them, evaluation ignores them), each annotation's `area`
 * (box area where absent) in Sample.area. Boxes [x, y, w, h] become [x, y, x+w, y+h] pixels.
 * Sample ids are the COCO image ids as strings. Images without annotations are kept (no boxes).
 */
export async function loadCoco(file: string, options: CocoOptions = {}): Promise<Dataset> {
  file = resolve(file);
  const log = new ProblemLog();
  const doc = parseJsonFile(file, log, options);
  if (doc === undefined) throw new DatasetError(`COCO ${file}`, log.problems);
  const fatal = (field: string, message: string) => {
    log.add({ file, field, message });
    return new DatasetError(`COCO ${file}`, log.problems);
  };
  if (!isObject(doc)) throw fatal('(top level)', 'must be an object with images, annotations and categories');
  if (!Array.isArray(doc.images)) throw fatal('images', 'missing or not an array');
  if (!Array.isArray(doc.categories)) throw fatal('categories', 'missing or not an array');
  if (doc.annotations !== undefined && !Array.isArray(doc.annotations)) throw fatal('annotations', 'not an array');
  const images = doc.images as unknown[];
  const annotations = (doc.annotations ?? []) as unknown[];

  // Categories, in id order.
  const cats: Array<{ id: number; name: string }> = [];
  (doc.categories as unknown[]).forEach((c, i) => {
    const field = `categories[${i}]`;
    if (!isObject(c)) return void log.add({ file, field, message: 'not an object' });
    if (typeof c.id !== 'number' || !Number.isInteger(c.id)) return void log.add({ file, field: `${field}.id`, message: `not an integer: ${JSON.stringify(c.id)}` });
    if (typeof c.name !== 'string' || c.name === '') return void log.add({ file, field: `${field}.name`, message: `not a non-empty string: ${JSON.stringify(c.name)}` });
    if (cats.some((d) => d.id === c.id)) return void log.add({ file, field: `${field}.id`, message: `duplicate category id ${c.id}` });
    cats.push({ id: c.id, name: c.name });
  });
  cats.sort((a, b) => a.id - b.id);
  let classNames = cats.map((c) => c.name);
  let categoryIds = cats.map((c) => c.id);
  if (options.classNames !== undefined) {
    classNames = [...options.classNames];
    categoryIds = classNames.map((n) => {
      const c = cats.find((d) => d.name === n);
      if (c === undefined) log.add({ file, field: 'categories', message: `class '${n}' is not a category of this file (categories: ${listNames(cats.map((d) => d.name))})` });
      return c?.id ?? -1;
    });
  }
  if (classNames.length === 0 && log.problems.length === 0) log.add({ file, field: 'categories', message: 'no categories' });
  const labelOf = new Map<number, number>();
  categoryIds.forEach((id, k) => labelOf.set(id, k + 1));
  if (log.problems.length > 0) throw new DatasetError(`COCO ${file}`, log.problems);

  // Images.
  const imageDir = options.imageDir !== undefined ? resolve(options.imageDir) : findImageDir(file, images);
  const folders = new FolderIndex();
  interface Entry { id: string; imagePath: string; width: number; height: number; builder: SampleBuilder; ok: boolean }
  const byId = new Map<number, Entry>();
  const entries: Entry[] = [];
  images.forEach((im, i) => {
    const field = `images[${i}]`;
    if (!isObject(im)) return void log.add({ file, field, message: 'not an object' });
    if (typeof im.id !== 'number' || !Number.isInteger(im.id)) return void log.add({ file, field: `${field}.id`, message: `not an integer: ${JSON.stringify(im.id)}` });
    const id = String(im.id);
    if (byId.has(im.id)) return void log.add({ file, field: `${field}.id`, message: `duplicate image id ${im.id}`, sampleId: id });
    if (typeof im.file_name !== 'string' || im.file_name === '') {
      log.add({ file, field: `${field}.file_name`, message: `not a non-empty string: ${JSON.stringify(im.file_name)}`, sampleId: id });
    }
    const imagePath = typeof im.file_name === 'string' ? (isAbsolute(im.file_name) ? im.file_name : join(imageDir, im.file_name)) : '';
    if (imagePath !== '' && !folders.exists(imagePath)) log.add({ file: imagePath, message: `image file not found (${field}.file_name of ${file})`, sampleId: id });
    let width = 0, height = 0;
    for (const k of ['width', 'height'] as const) {
      const v = im[k];
      if (v === undefined) continue;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) log.add({ file, field: `${field}.${k}`, message: `not a non-negative number: ${JSON.stringify(v)}`, sampleId: id });
      else if (k === 'width') width = v;
      else height = v;
    }
    const entry: Entry = { id, imagePath, width, height, builder: new SampleBuilder(), ok: true };
    byId.set(im.id, entry);
    entries.push(entry);
  });

  // Image sizes missing from the file (or all, with checkImageSizes) come from the image headers.
  await mapLimit(entries, 16, async (e) => {
    if (log.has(e.id)) return;
    if (e.width > 0 && e.height > 0 && !options.checkImageSizes) return;
    const size = await sizeOrProblem(log, e.imagePath, e.id);
    if (size === undefined) return;
    if (e.width > 0 && e.height > 0 && (size.width !== e.width || size.height !== e.height)) {
      log.add({ file, field: `images[id=${e.id}]`, message: `says ${e.width}x${e.height} but the image ${e.imagePath} is ${size.width}x${size.height}`, sampleId: e.id });
    }
    e.width = size.width;
    e.height = size.height;
  });

  // Annotations.
  annotations.forEach((a, i) => {
    const field = `annotations[${i}]`;
    if (!isObject(a)) return void log.add({ file, field, message: 'not an object' });
    const entry = typeof a.image_id === 'number' ? byId.get(a.image_id) : undefined;
    if (entry === undefined) {
      return void log.add({ file, field: `${field}.image_id`, message: `no image with id ${JSON.stringify(a.image_id)}`, sampleId: String(a.image_id) });
    }
    const problem = (f: string, message: string) => log.add({ file, field: `${field}.${f}`, message, sampleId: entry.id });
    const label = typeof a.category_id === 'number' ? labelOf.get(a.category_id) ?? 0 : 0;
    if (label === 0) problem('category_id', `unknown category id ${JSON.stringify(a.category_id)}`);
    let crowd = false;
    if (a.iscrowd !== undefined) {
      if (a.iscrowd === 0 || a.iscrowd === 1 || typeof a.iscrowd === 'boolean') crowd = a.iscrowd === 1 || a.iscrowd === true;
      else problem('iscrowd', `must be 0 or 1, got ${JSON.stringify(a.iscrowd)}`);
    }
    const bbox = a.bbox;
    if (!Array.isArray(bbox) || bbox.length !== 4) return void problem('bbox', `must be [x, y, width, height], got ${JSON.stringify(bbox)}`);
    const bad = bbox.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
    if (bad >= 0) return void problem(`bbox[${bad}]`, `not a number: ${JSON.stringify(bbox[bad])}`);
    const [x, y, w, h] = bbox as number[];
    if (w <= 0 || h <= 0) return void problem('bbox', `width ${fmt(w)} and height ${fmt(h)} must be positive`);
    // COCO's area is the segmentation's (evaluation's small / medium / large); without one, the box's.
    let area = w * h;
    if (a.area !== undefined) {
      if (typeof a.area !== 'number' || !Number.isFinite(a.area) || a.area < 0) return void problem('area', `must be a number >= 0, got ${JSON.stringify(a.area)}`);
      area = a.area;
    }
    const written = `[x ${fmt(x)}, y ${fmt(y)}, width ${fmt(w)}, height ${fmt(h)}]`;
    if (checkBox(log, file, `${field}.bbox`, entry.id, undefined, written, x, y, x + w, y + h, entry.width, entry.height) && label > 0) {
      entry.builder.add(x, y, x + w, y + h, label, crowd, { crowd, area });
    }
  });

  const samples: Sample[] = entries.map((e) => e.builder.build(e.id, e.imagePath, e.width, e.height));
  return finishDataset(`COCO ${file}`, images.length, samples, log, options, { format: 'coco', classNames, root: imageDir, sources: [file], categoryIds });
}

function findImageDir(file: string, images: unknown[]): string {
  const dir = dirname(file);
  const set = /^(?:instances|image_info)_(.+)\.json$/.exec(basename(file))?.[1];
  const candidates = [
    ...(set ? [join(dir, '..', set), join(dir, '..', 'images', set), join(dir, set), join(dir, 'images', set)] : []),
    join(dir, 'images'), join(dir, '..', 'images'), dir,
  ].map((p) => resolve(p));
  const first = images.find((im) => isObject(im) && typeof im.file_name === 'string') as Json | undefined;
  if (first !== undefined) {
    for (const c of candidates) if (existsSync(join(c, first.file_name as string))) return c;
  }
  for (const c of candidates) if (existsSync(c) && statSync(c).isDirectory() && c !== resolve(dir)) return c;
  return resolve(dir);
}
