// COCO results files for a dataset: reading them for `ssd eval --detections`, and naming `ssd detect`'s output so
// that both `ssd eval --detections` and pycocotools' COCO.loadRes take it (the dataset's own image and category ids).
import { basename, extname, resolve } from 'node:path';
import { indexFileLimit, readTextFile } from '../data/text-file.js';
import type { Dataset } from '../data/types.js';
import { parseCocoResults, toCocoResults, type CocoResult, type ResultsNaming } from '../eval/results-file.js';
import type { EvaluationDataset, ImageDetections } from './evaluate.js';

/**
 * How `dataset` names images and classes in results files: COCO image ids as numbers and its category ids
 * (e.g. 1..90 with gaps); VOC and YOLO file stems (sample ids, strings such as "000361") and class indices 1..C.
 */
export function resultsNaming(dataset: EvaluationDataset): ResultsNaming {
  const coco = dataset.format === 'coco';
  return {
    imageIds: dataset.samples.map((s) => (coco && /^\d+$/.test(s.id) ? Number(s.id) : s.id)),
    categoryIds: dataset.categoryIds ?? dataset.classNames.map((_, i) => i + 1),
  };
}

/**
 * Reads detections in COCO's results format (`[{image_id, category_id, bbox: [x, y, w, h], score}]`, pixels) for
 * the images of `dataset`, named as {@link resultsNaming} says. Errors name the file, the entry and the field.
 */
export function readCocoResults(path: string, dataset: EvaluationDataset): ImageDetections[] {
  let parsed: unknown;
  try {
    // Bounded in size and checked as UTF-8 before it is parsed, as every dataset file is.
    parsed = JSON.parse(readTextFile(path, indexFileLimit({})));
  } catch (e) {
    throw new Error(`${path}: cannot read detections: ${(e as Error).message}`);
  }
  return parseCocoResults(parsed, resultsNaming(dataset), path).map((d, i) => ({ id: dataset.samples[i]!.id, ...d }));
}

/** The results-file entries of `detections` (one per sample of `dataset`, dataset labels), full precision. */
export function cocoResultsOf(detections: ReadonlyArray<ImageDetections | undefined>, dataset: EvaluationDataset): CocoResult[] {
  return toCocoResults(detections, resultsNaming(dataset));
}

/** One image as `ssd detect` reports it: the file, and detections with the model's class index. */
export interface DetectedImage {
  file: string;
  detections: readonly { classIndex: number; score: number; box: { xmin: number; ymin: number; xmax: number; ymax: number } }[];
}

/** Sample index of each of `files` (by absolute path); throws naming the first file that is not an image of `dataset`. */
export function samplesOfFiles(files: readonly string[], dataset: Pick<Dataset, 'samples'>, what: string): number[] {
  const byPath = new Map(dataset.samples.map((s, i) => [resolve(s.imagePath), i]));
  return files.map((f) => {
    const i = byPath.get(resolve(f));
    if (i === undefined) throw new Error(`${f} is not an image of ${what} (its images are under ${dataset.samples[0] ? resolve(dataset.samples[0].imagePath, '..') : 'nowhere: it has none'})`);
    return i;
  });
}

/**
 * COCO results of `ssd detect`, boxes rounded to 2 decimals.
 *
 * With `dataset`: image_id and category_id are the dataset's own ({@link resultsNaming}); model classes map to the
 * dataset's by name, and detections of classes the dataset does not have are left out and counted in `dropped`.
 * Every file must be an image of the dataset.
 *
 * Without: image_id is the file's stem, as a number when it is all digits (COCO's own file names, e.g.
 * 000000397133.jpg -> 397133) and a string otherwise; category_id is the model's class index (1-based, background
 * excluded). Two files with the same stem are refused: their detections would merge.
 */
export function detectionsToCocoResults(
  images: readonly DetectedImage[],
  modelClassNames: readonly string[],
  dataset?: { data: EvaluationDataset; what: string },
): { results: CocoResult[]; dropped: Map<string, number> } {
  const dropped = new Map<string, number>();
  let naming: ResultsNaming;
  let imageOf: number[];
  let labelOf: (classIndex: number) => number;
  if (dataset !== undefined) {
    naming = resultsNaming(dataset.data);
    imageOf = samplesOfFiles(images.map((im) => im.file), dataset.data, dataset.what);
    const index = new Map(dataset.data.classNames.map((n, i) => [n, i + 1]));
    if (!modelClassNames.slice(1).some((n) => index.has(n))) {
      throw new Error(`none of the model's classes (${modelClassNames.slice(1, 6).join(', ')}${modelClassNames.length > 6 ? ', ...' : ''}) is a class of ${dataset.what} (${dataset.data.classNames.slice(0, 5).join(', ')}${dataset.data.classNames.length > 5 ? ', ...' : ''})`);
    }
    labelOf = (k) => index.get(modelClassNames[k]!) ?? 0;
  } else {
    const stems = images.map((im) => basename(im.file, extname(im.file)));
    const seen = new Map<string, string>();
    images.forEach((im, i) => {
      const other = seen.get(stems[i]!);
      if (other !== undefined) throw new Error(`${other} and ${im.file} would both be image_id ${JSON.stringify(stems[i])}: COCO results need one name per image (give --data, or detect them in separate runs)`);
      seen.set(stems[i]!, im.file);
    });
    naming = { imageIds: stems.map((s) => (/^\d+$/.test(s) ? Number(s) : s)), categoryIds: modelClassNames.slice(1).map((_, i) => i + 1) };
    imageOf = images.map((_, i) => i);
    labelOf = (k) => k;
  }
  const perImage: ImageDetections[] = naming.imageIds.map((id) => ({ id: String(id), boxes: new Float64Array(0), labels: new Int32Array(0), scores: new Float64Array(0) }));
  images.forEach((im, i) => {
    const kept = im.detections.filter((d) => {
      if (labelOf(d.classIndex) > 0) return true;
      const name = modelClassNames[d.classIndex] ?? String(d.classIndex);
      dropped.set(name, (dropped.get(name) ?? 0) + 1);
      return false;
    });
    perImage[imageOf[i]!] = {
      id: String(naming.imageIds[imageOf[i]!]),
      boxes: Float64Array.from(kept.flatMap((d) => [d.box.xmin, d.box.ymin, d.box.xmax, d.box.ymax])),
      labels: Int32Array.from(kept, (d) => labelOf(d.classIndex)),
      scores: Float64Array.from(kept, (d) => d.score),
    };
  });
  // Dataset images the run did not cover (failed or not asked for) have no entries, as pycocotools expects.
  return { results: toCocoResults(perImage, naming, 2), dropped };
}
