// YOLO text labels (the Ultralytics layout): a data.yaml naming the classes and the split folders,
// images under .../images/..., one label file per image under .../labels/... with lines
// `class cx cy w h` (normalised 0..1; class 0-based), or `class x1 y1 x2 y2 ...` polygons.
import { existsSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { checkBox, finishDataset, FolderIndex, fmt, mapLimit, ProblemLog, SampleBuilder, sizeOrProblem } from './check.js';
import { annotationFileLimit, indexFileLimit, listFolder, readLines, readTextFile, TextFileError, type TextFileLimit } from './text-file.js';
import { DatasetError, type Dataset, type ReadOptions, type Sample } from './types.js';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff', '.gif', '.avif']);

/** Options of {@link loadYolo}. */
export interface YoloOptions extends ReadOptions {
  /** The data.yaml key of the split to read: 'train' (default), 'val' or 'test'. */
  split?: string;
}

/** The label file of an image, as Ultralytics finds it: the last `/images/` becomes `/labels/`, the extension `.txt`. */
export function yoloLabelPath(imagePath: string): string {
  const a = `${sep}images${sep}`;
  const k = imagePath.lastIndexOf(a);
  const swapped = k >= 0 ? `${imagePath.slice(0, k)}${sep}labels${sep}${imagePath.slice(k + a.length)}` : imagePath;
  const dot = swapped.lastIndexOf('.');
  return `${dot > swapped.lastIndexOf(sep) ? swapped.slice(0, dot) : swapped}.txt`;
}

/** The images under `dir`, recursively, sorted; names that are not UTF-8 go to `invalid` (they cannot be opened by name). */
function listImages(dir: string, invalid: string[]): string[] {
  const out: string[] = [];
  const folder = listFolder(dir);
  invalid.push(...folder.invalid);
  for (const name of folder.names.sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listImages(p, invalid));
    else if (IMAGE_EXTENSIONS.has(extname(name).toLowerCase())) out.push(p);
  }
  return out;
}

/**
 * Reads a YOLO dataset described by a data.yaml (`path:` optional root, `train:`/`val:`/`test:` an
 * image folder, a .txt list of images, or a list of those; `names:` a list or a map from index to
 * name; `nc:` optional). Labels become 1..C (YOLO class + 1); boxes are converted to pixels using
 * each image's size read from its header. An image with no label file has no objects.
 */
export async function loadYolo(yamlFile: string, options: YoloOptions = {}): Promise<Dataset> {
  yamlFile = resolve(yamlFile);
  const log = new ProblemLog();
  const fatal = (field: string | undefined, message: string) => {
    log.add({ file: yamlFile, message, ...(field !== undefined ? { field } : {}) });
    return new DatasetError(`YOLO ${yamlFile}`, log.problems);
  };
  if (!existsSync(yamlFile)) throw fatal(undefined, 'file not found');
  let source: string;
  try {
    source = readTextFile(yamlFile, indexFileLimit(options));
  } catch (e) {
    if (!(e instanceof TextFileError)) throw e;
    log.add({ file: yamlFile, message: e.message, ...(e.line !== undefined ? { line: e.line } : {}) });
    throw new DatasetError(`YOLO ${yamlFile}`, log.problems);
  }
  if (source.trim() === '') throw fatal(undefined, 'empty YAML file');
  let doc: unknown;
  try {
    doc = parseYaml(source);
  } catch (e) {
    const err = e as Error & { linePos?: Array<{ line: number; col: number }> };
    const line = err.linePos?.[0]?.line;
    log.add({ file: yamlFile, message: `malformed YAML: ${err.message.split('\n')[0]}`, ...(line !== undefined ? { line } : {}) });
    throw new DatasetError(`YOLO ${yamlFile}`, log.problems);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw fatal(undefined, 'must be a mapping with names and train/val keys');
  const cfg = doc as Record<string, unknown>;

  const classNames = options.classNames !== undefined ? [...options.classNames] : yamlNames(cfg, yamlFile, log);
  if (log.problems.length > 0) throw new DatasetError(`YOLO ${yamlFile}`, log.problems);

  const base = dirname(yamlFile);
  const root = typeof cfg.path === 'string' && cfg.path !== '' ? resolve(base, cfg.path) : base;
  const split = options.split ?? 'train';
  const entry = cfg[split];
  if (entry === undefined || entry === null || entry === '') throw fatal(split, `no '${split}' entry (the images of split '${split}')`);
  const lists = Array.isArray(entry) ? entry : [entry];
  const imagePaths: string[] = [];
  // Images that cannot be named (a file name, or a line of an image list, that is not UTF-8): each a problem of its own.
  const unreadable: Array<{ file: string; line?: number; message: string }> = [];
  const invalidNames: string[] = [];
  for (const [i, item] of lists.entries()) {
    const field = Array.isArray(entry) ? `${split}[${i}]` : split;
    if (typeof item !== 'string') {
      log.add({ file: yamlFile, field, message: `must be a path, got ${JSON.stringify(item)}` });
      continue;
    }
    const p = isAbsolute(item) ? item : resolve(root, item);
    if (!existsSync(p)) log.add({ file: yamlFile, field, message: `${p} not found` });
    else if (statSync(p).isDirectory()) imagePaths.push(...listImages(p, invalidNames));
    else if (p.endsWith('.txt')) {
      try {
        const list = readLines(p, indexFileLimit(options));
        for (const { text } of list.lines) {
          const s = text.trim();
          if (s !== '') imagePaths.push(isAbsolute(s) ? s : resolve(root, s));
        }
        for (const bad of list.invalid) unreadable.push({ file: p, line: bad.line, message: `${bad.message}; the image path on this line cannot be read` });
      } catch (e) {
        if (!(e instanceof TextFileError)) throw e;
        log.add({ file: p, message: e.message });
      }
    } else log.add({ file: yamlFile, field, message: `${p} is neither a folder of images nor a .txt list of images` });
  }
  for (const path of invalidNames) unreadable.push({ file: path, message: 'the file name is not valid UTF-8 (shown as Latin-1); rename the file' });
  if (log.problems.length > 0) throw new DatasetError(`YOLO ${yamlFile}`, log.problems);
  if (imagePaths.length === 0 && unreadable.length === 0) throw fatal(split, 'lists no images');
  for (const u of unreadable) log.add({ ...u, sampleId: u.line !== undefined ? `${u.file}:${u.line}` : u.file });

  // Ids: file stems, or relative paths where two images share a stem.
  const stems = imagePaths.map((p) => p.slice(p.lastIndexOf(sep) + 1, p.length - extname(p).length));
  const counts = new Map<string, number>();
  for (const s of stems) counts.set(s, (counts.get(s) ?? 0) + 1);
  const ids = imagePaths.map((p, i) => (counts.get(stems[i])! > 1 ? relative(root, p).slice(0, -extname(p).length) : stems[i]));

  const folders = new FolderIndex();
  const labelLimit = annotationFileLimit(options);
  const samples = await mapLimit(imagePaths, 16, async (imagePath, i): Promise<Sample | undefined> => {
    const id = ids[i];
    if (!folders.exists(imagePath)) {
      log.add({ file: imagePath, message: `image file not found (listed by '${split}' of ${yamlFile})`, sampleId: id });
      return undefined;
    }
    const size = await sizeOrProblem(log, imagePath, id);
    if (size === undefined) return undefined;
    const builder = new SampleBuilder();
    const labelFile = yoloLabelPath(imagePath);
    if (folders.exists(labelFile)) readLabels(labelFile, id, size.width, size.height, classNames, builder, log, labelLimit);
    return builder.build(id, imagePath, size.width, size.height);
  });
  return finishDataset(`YOLO ${yamlFile}`, imagePaths.length + unreadable.length, samples.filter((s): s is Sample => s !== undefined), log, options, { format: 'yolo', classNames, root, sources: [yamlFile] });
}

function yamlNames(cfg: Record<string, unknown>, file: string, log: ProblemLog): string[] {
  const names = cfg.names;
  let out: string[] = [];
  if (Array.isArray(names)) {
    names.forEach((n, i) => {
      if (typeof n !== 'string' && typeof n !== 'number') log.add({ file, field: `names[${i}]`, message: `not a name: ${JSON.stringify(n)}` });
      out.push(String(n));
    });
  } else if (typeof names === 'object' && names !== null) {
    const entries = Object.entries(names as Record<string, unknown>);
    out = new Array<string>(entries.length);
    for (const [k, v] of entries) {
      const i = Number(k);
      if (!Number.isInteger(i) || i < 0 || i >= entries.length) log.add({ file, field: `names.${k}`, message: `keys must be the class indices 0..${entries.length - 1}` });
      else out[i] = String(v);
    }
  } else {
    log.add({ file, field: 'names', message: 'missing: must be a list of class names or a map from class index to name' });
  }
  if (out.length === 0 && log.problems.length === 0) log.add({ file, field: 'names', message: 'lists no classes' });
  if (cfg.nc !== undefined && cfg.nc !== out.length) log.add({ file, field: 'nc', message: `is ${JSON.stringify(cfg.nc)} but names lists ${out.length} classes` });
  return out;
}

const FIELDS = ['class', 'cx', 'cy', 'w', 'h'];

function readLabels(file: string, id: string, width: number, height: number, classNames: string[], builder: SampleBuilder, log: ProblemLog, limit: TextFileLimit): void {
  let source: string;
  try {
    source = readTextFile(file, limit);
  } catch (e) {
    if (!(e instanceof TextFileError)) throw e;
    log.add({ file, message: e.message, sampleId: id, ...(e.line !== undefined ? { line: e.line } : {}) });
    return;
  }
  const lines = source.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const s = raw.trim();
    if (s === '') return;
    const problem = (field: string, message: string) => log.add({ file, line, field, message, sampleId: id });
    const tokens = s.split(/\s+/);
    const polygon = tokens.length >= 7 && tokens.length % 2 === 1;
    if (tokens.length !== 5 && !polygon) return void problem('(line)', `expected 'class cx cy w h' (5 fields) or a polygon 'class x1 y1 x2 y2 x3 y3 ...', got ${tokens.length} fields`);
    const v = tokens.map(Number);
    let ok = true;
    v.forEach((x, k) => {
      if (!Number.isFinite(x)) {
        problem(polygon ? (k === 0 ? 'class' : `${k % 2 === 1 ? 'x' : 'y'}${Math.ceil(k / 2)}`) : FIELDS[k], `not a number: '${tokens[k]}'`);
        ok = false;
      }
    });
    if (!ok) return;
    const cls = v[0];
    if (!Number.isInteger(cls) || cls < 0 || cls >= classNames.length) {
      problem('class', `unknown class ${tokens[0]} (classes are 0..${classNames.length - 1})`);
      ok = false;
    }
    let x0: number, y0: number, x1: number, y1: number;
    if (polygon) {
      x0 = y0 = Infinity;
      x1 = y1 = -Infinity;
      for (let k = 1; k < v.length; k += 2) {
        x0 = Math.min(x0, v[k]); x1 = Math.max(x1, v[k]);
        y0 = Math.min(y0, v[k + 1]); y1 = Math.max(y1, v[k + 1]);
      }
    } else {
      if (v[3] <= 0 || v[4] <= 0) return void problem(v[3] <= 0 ? 'w' : 'h', `must be positive, got ${fmt(v[3] <= 0 ? v[3] : v[4])}`);
      x0 = v[1] - v[3] / 2; x1 = v[1] + v[3] / 2;
      y0 = v[2] - v[4] / 2; y1 = v[2] + v[4] / 2;
    }
    const px = [x0 * width, y0 * height, x1 * width, y1 * height];
    const written = polygon
      ? `polygon spanning x ${fmt(x0)}..${fmt(x1)}, y ${fmt(y0)}..${fmt(y1)} (${fmt(px[0])}..${fmt(px[2])}, ${fmt(px[1])}..${fmt(px[3])} px)`
      : `cx ${tokens[1]} cy ${tokens[2]} w ${tokens[3]} h ${tokens[4]} (x ${fmt(px[0])}..${fmt(px[2])}, y ${fmt(px[1])}..${fmt(px[3])} px)`;
    if (checkBox(log, file, polygon ? 'polygon' : 'box', id, line, written, px[0], px[1], px[2], px[3], width, height) && ok) {
      builder.add(px[0], px[1], px[2], px[3], cls + 1, false);
    }
  });
}
