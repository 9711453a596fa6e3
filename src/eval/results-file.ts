// COCO's results format, the file pycocotools' COCO.loadRes reads: [{image_id, category_id, bbox: [x, y, w, h], score}].
// Image and category ids are the dataset's own (see ResultsNaming); boxes are pixels.
import type { DetectionSet } from './types.js';

/** One detection of a results file. */
export interface CocoResult {
  image_id: number | string;
  category_id: number;
  /** [x, y, width, height] in pixels. */
  bbox: [number, number, number, number];
  score: number;
}

/** How a dataset names its images and classes in results files. */
export interface ResultsNaming {
  /** imageIds[i]: the image_id of image i (COCO: its numeric id; VOC and YOLO: its file stem, a string). */
  imageIds: readonly (number | string)[];
  /** categoryIds[c - 1]: the category_id of class c (COCO: the category's id, e.g. 1..90 with gaps; else c). */
  categoryIds: readonly number[];
}

/** Detections read from a results file: boxes `[xmin, ymin, xmax, ymax]` and scores kept in double precision. */
export interface ParsedDetections extends DetectionSet {
  boxes: Float64Array;
  labels: Int32Array;
  scores: Float64Array;
}

function round(x: number, decimals: number | undefined): number {
  if (decimals === undefined) return x;
  const f = 10 ** decimals;
  return Math.round(x * f) / f;
}

/**
 * The results-file entries of `detections` (one DetectionSet per image, labels 1..C), named by `naming`.
 * `decimals` rounds box coordinates (x, y, width, height); default: full precision.
 */
export function toCocoResults(detections: ReadonlyArray<DetectionSet | undefined>, naming: ResultsNaming, decimals?: number): CocoResult[] {
  if (detections.length !== naming.imageIds.length) {
    throw new Error(`toCocoResults: ${detections.length} images of detections, but ${naming.imageIds.length} image ids`);
  }
  const out: CocoResult[] = [];
  detections.forEach((det, i) => {
    if (!det) return; // an image left out (e.g. one that could not be decoded)
    for (let k = 0; k < det.labels.length; k++) {
      const category = naming.categoryIds[det.labels[k] - 1];
      if (category === undefined) throw new Error(`toCocoResults: image ${naming.imageIds[i]}: label ${det.labels[k]} has no category id (1..${naming.categoryIds.length})`);
      const x1 = det.boxes[4 * k], y1 = det.boxes[4 * k + 1], x2 = det.boxes[4 * k + 2], y2 = det.boxes[4 * k + 3];
      out.push({
        image_id: naming.imageIds[i],
        category_id: category,
        bbox: [round(x1, decimals), round(y1, decimals), round(x2 - x1, decimals), round(y2 - y1, decimals)],
        score: det.scores[k],
      });
    }
  });
  return out;
}

const preview = (ids: readonly (number | string)[]) => ids.slice(0, 3).map((v) => JSON.stringify(v)).join(', ') + (ids.length > 3 ? ', ...' : '');

/**
 * Detections of every image of `naming` (in its order) from a parsed results file. Every entry is checked, and
 * the first bad one throws an Error naming `where`, the entry and the field. An image_id matches an image whose id
 * is the same number or string (a number matches a stem written with the same digits).
 */
export function parseCocoResults(value: unknown, naming: ResultsNaming, where: string): ParsedDetections[] {
  if (!Array.isArray(value)) throw new Error(`${where}: detections must be a JSON array of {image_id, category_id, bbox, score}`);
  const imageIndex = new Map(naming.imageIds.map((id, i) => [String(id), i]));
  const label = new Map(naming.categoryIds.map((id, i) => [id, i + 1]));
  const counts = new Int32Array(naming.imageIds.length);
  const entries = value as unknown[];
  const image = new Int32Array(entries.length);
  entries.forEach((entry, i) => {
    const fail = (field: string, what: string): never => {
      throw new Error(`${where}: [${i}]${field ? `.${field}` : ''} ${what}`);
    };
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail('', 'is not an object {image_id, category_id, bbox, score}');
    const r = entry as Partial<Record<keyof CocoResult, unknown>>;
    if (typeof r.image_id !== 'number' && typeof r.image_id !== 'string') fail('image_id', `must be a number or a string, got ${JSON.stringify(r.image_id)}`);
    const s = imageIndex.get(String(r.image_id));
    if (s === undefined) {
      const padded = typeof r.image_id === 'number' ? naming.imageIds.find((id) => typeof id === 'string' && /^\d+$/.test(id) && Number(id) === r.image_id) : undefined;
      fail('image_id', `${JSON.stringify(r.image_id)} is not an image of the dataset (its ids: ${preview(naming.imageIds)})${padded !== undefined ? `; did you mean the string ${JSON.stringify(padded)}? A number loses the leading zeros of a file stem` : ''}`);
    }
    if (typeof r.category_id !== 'number' || !label.has(r.category_id)) {
      fail('category_id', `must be a category id of the dataset (${preview(naming.categoryIds)}${naming.categoryIds.length > 3 ? ` of ${naming.categoryIds.length}` : ''}), got ${JSON.stringify(r.category_id)}`);
    }
    const b = r.bbox;
    if (!Array.isArray(b) || b.length !== 4 || !b.every((v) => typeof v === 'number' && Number.isFinite(v))) fail('bbox', `must be [x, y, width, height] numbers, got ${JSON.stringify(b)}`);
    if ((b as number[])[2] < 0 || (b as number[])[3] < 0) fail('bbox', `has a negative width or height: ${JSON.stringify(b)}`);
    if (typeof r.score !== 'number' || !Number.isFinite(r.score)) fail('score', `must be a finite number, got ${JSON.stringify(r.score)}`);
    image[i] = s!;
    counts[s!]++;
  });
  const out: ParsedDetections[] = Array.from(counts, (n) => ({ boxes: new Float64Array(4 * n), labels: new Int32Array(n), scores: new Float64Array(n) }));
  const fill = new Int32Array(naming.imageIds.length);
  entries.forEach((entry, i) => {
    const r = entry as CocoResult;
    const d = out[image[i]];
    const k = fill[image[i]]++;
    const [x, y, w, h] = r.bbox;
    d.boxes[4 * k] = x;
    d.boxes[4 * k + 1] = y;
    d.boxes[4 * k + 2] = x + w;
    d.boxes[4 * k + 3] = y + h;
    d.labels[k] = label.get(r.category_id)!;
    d.scores[k] = r.score;
  });
  return out;
}
