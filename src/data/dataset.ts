// One entry point for every format: looks at the path and hands it to the right reader.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadCoco, type CocoOptions } from './coco.js';
import { DatasetError, type Dataset, type DatasetFormat } from './types.js';
import { isVocRoot, loadVoc } from './voc.js';
import { loadYolo } from './yolo.js';

/** Options of {@link loadDataset}: those of every reader. */
export interface LoadDatasetOptions extends CocoOptions {
  /**
   * The split: VOC `ImageSets/Main/<split>.txt` (default 'trainval', or every annotation when that
   * file is absent), YOLO data.yaml key (default 'train'), COCO `annotations/instances_<split>.json`
   * when given a COCO folder. Ignored for a COCO JSON file (the file is the split).
   */
  split?: string;
  /** Force a format instead of detecting it. */
  format?: DatasetFormat;
}

/**
 * Which reader a path needs: a folder with `Annotations/` is Pascal VOC, a `.json` file COCO, a
 * `.yaml`/`.yml` file YOLO; a folder holding `data.yaml` is YOLO, one holding
 * `annotations/instances_*.json` COCO. Returns the format and the file or folder to read.
 */
export function detectFormat(path: string, split?: string): { format: DatasetFormat; path: string } {
  const p = resolve(path);
  if (!existsSync(p)) throw new DatasetError(`dataset ${p}`, [{ file: p, message: 'no such file or folder' }]);
  if (statSync(p).isFile()) {
    if (/\.json$/i.test(p)) return { format: 'coco', path: p };
    if (/\.ya?ml$/i.test(p)) return { format: 'yolo', path: p };
    throw new DatasetError(`dataset ${p}`, [{ file: p, message: 'unknown dataset file: expected a COCO .json or a YOLO .yaml' }]);
  }
  if (isVocRoot(p)) return { format: 'voc', path: p };
  for (const name of ['data.yaml', 'data.yml', 'dataset.yaml']) if (existsSync(join(p, name))) return { format: 'yolo', path: join(p, name) };
  const ann = join(p, 'annotations');
  if (existsSync(ann) && statSync(ann).isDirectory()) {
    const files = readdirSync(ann).filter((f) => /^instances_.+\.json$/.test(f)).sort();
    const wanted = split !== undefined ? `instances_${split}.json` : files.length === 1 ? files[0] : undefined;
    if (wanted !== undefined && files.includes(wanted)) return { format: 'coco', path: join(ann, wanted) };
    if (files.length > 0) {
      throw new DatasetError(`dataset ${p}`, [{ file: ann, message: `${split !== undefined ? `no instances_${split}.json` : 'several annotation files'}: pick one with split (${files.map((f) => f.slice(10, -5)).join(', ')})` }]);
    }
  }
  throw new DatasetError(`dataset ${p}`, [{ file: p, message: 'not a dataset: expected a Pascal VOC root (Annotations/), a COCO instances JSON or a YOLO data.yaml' }]);
}

/**
 * Reads a dataset in any supported format (see {@link detectFormat}); an array of folders joins
 * several Pascal VOC roots (VOC2007 + VOC2012). Validates everything and throws a DatasetError
 * listing every problem with its file and field, or with `skipBad` drops the bad samples and
 * reports them in `problems` / `skipped`.
 */
export async function loadDataset(pathOrFile: string | string[], options: LoadDatasetOptions = {}): Promise<Dataset> {
  if (Array.isArray(pathOrFile)) {
    if (pathOrFile.length === 1) return loadDataset(pathOrFile[0], options);
    const notVoc = pathOrFile.filter((p) => !isVocRoot(resolve(p)));
    if (notVoc.length > 0) throw new DatasetError('dataset', notVoc.map((p) => ({ file: resolve(p), message: 'only Pascal VOC roots can be joined, and this is not one (no Annotations folder)' })));
    return loadVoc(pathOrFile, options);
  }
  const found = options.format !== undefined ? { format: options.format, path: resolve(pathOrFile) } : detectFormat(pathOrFile, options.split);
  switch (found.format) {
    case 'voc': return loadVoc(found.path, options);
    case 'coco': {
      const { split: _split, ...rest } = options;
      return loadCoco(found.path, rest);
    }
    case 'yolo': return loadYolo(found.path, options);
  }
}

/**
 * The split to validate on, when the dataset holds one besides `trainSplit`: for Pascal VOC a non-empty
 * `ImageSets/Main/test.txt` (VOC2007's convention) or `val.txt`; for YOLO the data.yaml's `val` (or `test`)
 * entry. COCO keeps its splits in separate files, so it has none here (give the validation file). Joined VOC
 * roots look in the first root.
 */
export function findValidationSplit(pathOrFile: string | string[], trainSplit?: string): string | undefined {
  const path = Array.isArray(pathOrFile) ? pathOrFile[0] : pathOrFile;
  if (path === undefined) return undefined;
  let found: { format: DatasetFormat; path: string };
  try {
    found = detectFormat(path, trainSplit);
  } catch {
    return undefined;
  }
  const candidates = ['test', 'val'].filter((s) => s !== trainSplit);
  if (found.format === 'voc') {
    return candidates.find((s) => {
      const f = join(found.path, 'ImageSets', 'Main', `${s}.txt`);
      return existsSync(f) && statSync(f).isFile() && statSync(f).size > 0;
    });
  }
  if (found.format === 'yolo') {
    const text = readFileSync(found.path, 'utf8');
    return ['val', 'test'].filter((s) => s !== trainSplit).find((s) => new RegExp(`^${s}\\s*:\\s*\\S`, 'm').test(text));
  }
  return undefined;
}
