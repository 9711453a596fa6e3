// Reads the pycocotools fixtures of test/fixtures/coco/ (made by make_coco_fixtures.py): the COCO ground truth, the
// results file and the numbers pycocotools computed; and loads a set as a dataset the way `ssd eval` does.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCoco } from '../../src/data/coco.js';
import type { Dataset } from '../../src/data/types.js';
import type { CocoSummary, ImageResult } from '../../src/eval/types.js';

export const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'coco');
export const FIXTURE_SETS = ['crowd', 'empty-images', 'sparse-ids', 'many-dets', 'areas', 'ties'] as const;

/** pycocotools' stats order, as the fixtures list them. */
export const STAT_NAMES: readonly (keyof CocoSummary)[] = ['ap', 'ap50', 'ap75', 'apSmall', 'apMedium', 'apLarge', 'ar1', 'ar10', 'ar100', 'arSmall', 'arMedium', 'arLarge'];

export interface CocoJson {
  images: { id: number; file_name: string; width: number; height: number }[];
  annotations: { id: number; image_id: number; category_id: number; bbox: number[]; area: number; iscrowd: number }[];
  categories: { id: number; name: string }[];
}

export interface ResultJson {
  image_id: number;
  category_id: number;
  bbox: number[];
  score: number;
}

export interface Expected {
  set: string;
  description: string;
  images: number;
  annotations: number;
  crowd: number;
  results: number;
  /** COCOeval.stats: -1 where pycocotools has nothing to average. */
  stats: number[];
  /** The lines COCOeval.summarize() printed. */
  summary: string[];
  categories: { id: number; stats: number[] }[];
}

export interface FixtureSet {
  name: string;
  instancesFile: string;
  resultsFile: string;
  instances: CocoJson;
  results: ResultJson[];
  expected: Expected;
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

export function readFixtureSet(name: string): FixtureSet {
  const dir = join(FIXTURE_DIR, name);
  const instancesFile = join(dir, 'instances.json');
  const resultsFile = join(dir, 'results.json');
  return { name, instancesFile, resultsFile, instances: readJson(instancesFile), results: readJson(resultsFile), expected: readJson(join(dir, 'expected.json')) };
}

/** A summary as pycocotools' stats array (-1 for null). */
export function statsOf(s: CocoSummary): number[] {
  return STAT_NAMES.map((k) => s[k] ?? -1);
}

const corners = (b: readonly number[]) => [b[0]!, b[1]!, b[0]! + b[2]!, b[1]! + b[3]!];

/**
 * The set as evaluation input, straight from the JSON (double precision): images in ascending id (pycocotools'
 * order), categories in ascending id as labels 1..K, crowd flags and areas from the annotations.
 */
export function fixtureImages(set: FixtureSet): { images: ImageResult[]; numClasses: number; categoryIds: number[] } {
  const categoryIds = set.instances.categories.map((c) => c.id).sort((a, b) => a - b);
  const label = new Map(categoryIds.map((id, i) => [id, i + 1]));
  const ids = set.instances.images.map((im) => im.id).sort((a, b) => a - b);
  const images = ids.map((id): ImageResult => {
    const gt = set.instances.annotations.filter((a) => a.image_id === id);
    const det = set.results.filter((r) => r.image_id === id);
    return {
      groundTruth: {
        boxes: Float64Array.from(gt.flatMap((a) => corners(a.bbox))),
        labels: Int32Array.from(gt, (a) => label.get(a.category_id)!),
        crowd: Uint8Array.from(gt, (a) => a.iscrowd),
        area: Float64Array.from(gt, (a) => a.area),
      },
      detections: {
        boxes: Float64Array.from(det.flatMap((r) => corners(r.bbox))),
        labels: Int32Array.from(det, (r) => label.get(r.category_id)!),
        scores: Float64Array.from(det, (r) => r.score),
      },
    };
  });
  return { images, numClasses: categoryIds.length, categoryIds };
}

/** The set read by the COCO reader, its images stood in for by empty files in a temporary folder (only their names are read). */
export async function loadFixtureDataset(set: FixtureSet): Promise<Dataset> {
  const imageDir = join(tmpdir(), `ssd-coco-fixture-${process.pid}`, set.name);
  mkdirSync(imageDir, { recursive: true });
  for (const im of set.instances.images) writeFileSync(join(imageDir, im.file_name), '');
  return loadCoco(set.instancesFile, { imageDir });
}
