// What every reader shares: collecting problems per sample, checking boxes, and the final decision
// (throw listing every problem, or skip the bad samples and report them).
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { readImageSize } from './decode.js';
import { DatasetError, type Dataset, type Problem, type ReadOptions, type Sample } from './types.js';

/** Boxes may stick out of the image by this many pixels (annotation tools round outwards). */
export const BOX_TOLERANCE_PX = 1;

/** Builds one sample's typed arrays from objects added one by one. */
export class SampleBuilder {
  private readonly coords: number[] = [];

  /** The boxes added so far, unclamped, 4 numbers a box. */
  get coordinates(): readonly number[] {
    return this.coords;
  }
  private readonly classes: number[] = [];
  private readonly flags: number[] = [];
  private readonly crowdFlags: number[] = [];
  private readonly areas: number[] = [];

  /** One object; `coco` carries a COCO annotation's iscrowd (also flagged difficult) and area. */
  add(xmin: number, ymin: number, xmax: number, ymax: number, label: number, difficult: boolean, coco?: { crowd: boolean; area: number }): void {
    this.coords.push(xmin, ymin, xmax, ymax);
    this.classes.push(label);
    this.flags.push(difficult || coco?.crowd ? 1 : 0);
    if (coco !== undefined) {
      this.crowdFlags.push(coco.crowd ? 1 : 0);
      this.areas.push(coco.area);
    }
  }

  /** The sample, with boxes clamped to the image (they were checked to lie within the tolerance). */
  build(id: string, imagePath: string, width: number, height: number): Sample {
    const boxes = Float32Array.from(this.coords);
    for (let i = 0; i < boxes.length; i += 4) {
      boxes[i] = Math.max(0, boxes[i]);
      boxes[i + 1] = Math.max(0, boxes[i + 1]);
      boxes[i + 2] = Math.min(width, boxes[i + 2]);
      boxes[i + 3] = Math.min(height, boxes[i + 3]);
    }
    const sample: Sample = { id, imagePath, width, height, boxes, labels: Int32Array.from(this.classes), difficult: Uint8Array.from(this.flags) };
    if (this.areas.length > 0) {
      if (this.areas.length !== this.classes.length) throw new Error(`SampleBuilder: ${id}: COCO fields given for ${this.areas.length} of ${this.classes.length} objects`);
      sample.crowd = Uint8Array.from(this.crowdFlags);
      sample.area = Float64Array.from(this.areas);
    }
    return sample;
  }
}

/** Collects problems for a dataset being read. */
export class ProblemLog {
  readonly problems: Problem[] = [];
  private readonly samplesWithProblems = new Set<string>();

  add(p: Problem): void {
    this.problems.push(p);
    if (p.sampleId !== undefined) this.samplesWithProblems.add(p.sampleId);
  }

  /** Whether the sample with this id has a problem so far. */
  has(sampleId: string): boolean {
    return this.samplesWithProblems.has(sampleId);
  }
}

/** Formats a number as written in a message. */
export function fmt(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(7))) : String(v);
}

/**
 * Checks one box in pixels against its image; adds a problem for each thing wrong and returns
 * whether the box is usable. `field` names the box in its file (e.g. `object[2].bndbox`) and
 * `written` shows it as the file writes it, for the messages. Size checks are skipped when the
 * image size is unknown (0).
 */
export function checkBox(
  log: ProblemLog, file: string, field: string, sampleId: string, line: number | undefined, written: string,
  xmin: number, ymin: number, xmax: number, ymax: number, width: number, height: number,
): boolean {
  const at = (message: string) => log.add({ file, field, message, sampleId, ...(line !== undefined ? { line } : {}) });
  if (![xmin, ymin, xmax, ymax].every(Number.isFinite)) {
    at(`not finite numbers: ${written}`);
    return false;
  }
  let ok = true;
  if (xmax <= xmin) { at(`xmax <= xmin, the box has no width: ${written}`); ok = false; }
  if (ymax <= ymin) { at(`ymax <= ymin, the box has no height: ${written}`); ok = false; }
  if (width > 0 && height > 0) {
    const t = BOX_TOLERANCE_PX;
    if (xmin < -t || ymin < -t || xmax > width + t || ymax > height + t) {
      at(`box outside the ${width}x${height} image: ${written}`);
      ok = false;
    }
  }
  return ok;
}

/** Lists the files of a folder once (a Set of names), so existence checks cost no system call each. */
export class FolderIndex {
  private readonly cache = new Map<string, Set<string>>();

  exists(path: string): boolean {
    const dir = dirname(path);
    let names = this.cache.get(dir);
    if (names === undefined) {
      names = existsSync(dir) ? new Set(readdirSync(dir)) : new Set();
      this.cache.set(dir, names);
    }
    return names.has(basename(path));
  }
}

/** Runs `fn` over `items` with at most `limit` calls in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Reads an image's size, adding a problem naming the image (and returning undefined) when it cannot. */
export async function sizeOrProblem(log: ProblemLog, imagePath: string, sampleId: string): Promise<{ width: number; height: number } | undefined> {
  try {
    return await readImageSize(imagePath);
  } catch (e) {
    log.add({ file: imagePath, message: (e as Error).message, sampleId });
    return undefined;
  }
}

/**
 * The readers' last step: with problems and no skipBad, throws a DatasetError listing them all;
 * with skipBad, drops the samples that have problems and reports them (`candidates`: how many
 * samples the split lists, so skipped = candidates - kept). Problems that concern the whole dataset
 * (no sampleId) always throw.
 */
export function finishDataset(
  what: string, candidates: number, samples: Sample[], log: ProblemLog, options: ReadOptions, rest: Omit<Dataset, 'samples' | 'problems' | 'skipped'>,
): Dataset {
  const problems = log.problems;
  if (problems.length > 0 && (!options.skipBad || problems.some((p) => p.sampleId === undefined))) {
    throw new DatasetError(what, options.skipBad ? problems.filter((p) => p.sampleId === undefined) : problems);
  }
  const bad = new Set(problems.map((p) => p.sampleId));
  const kept = samples.filter((s) => !bad.has(s.id));
  return { ...rest, samples: kept, problems, skipped: candidates - kept.length };
}
