// The common shape every dataset reader produces, and the problem report they share.

/**
 * One annotated image. Boxes are in continuous pixel coordinates of the stored image: (0, 0) is the
 * top-left corner of the top-left pixel and (width, height) the bottom-right corner of the image, so
 * a box covering pixel columns a..b (0-based, inclusive) spans x = a..b+1. (Pascal VOC's 1-based
 * inclusive indices [xmin, ymin, xmax, ymax] become [xmin-1, ymin-1, xmax, ymax], as in Detectron2.)
 */
export interface Sample {
  /** The image's id: the file stem for VOC and YOLO, the numeric image id (as a string) for COCO. */
  id: string;
  /** Absolute path of the image file. */
  imagePath: string;
  /** Image width and height in pixels (after EXIF rotation, as decodeImage returns it). */
  width: number;
  height: number;
  /** n boxes as `[xmin, ymin, xmax, ymax]` rows (length 4*n), pixels, xmax > xmin and ymax > ymin. */
  boxes: Float32Array;
  /** n class labels in 1..C (index into Dataset.classNames plus one; 0 is the background). */
  labels: Int32Array;
  /**
   * n flags: 1 for VOC `difficult` objects and COCO `iscrowd` regions. The VOC metrics ignore both;
   * training on COCO drops the crowd regions.
   */
  difficult: Uint8Array;
  /** COCO only: n flags, 1 for `iscrowd` regions, which COCO evaluation scores by pycocotools' crowd rule. */
  crowd?: Uint8Array;
  /**
   * COCO only: n areas in pixels² from the annotations' `area` field (the segmentation's area), which
   * put objects in COCO evaluation's small / medium / large ranges. Absent: the box areas.
   */
  area?: Float64Array;
}

/** One thing wrong with a dataset, found while reading it. */
export interface Problem {
  /** The file at fault (annotation, label, image or split file), as an absolute path. */
  file: string;
  /** 1-based line number for line-oriented files (YOLO labels, split lists), when known. */
  line?: number;
  /** The field at fault, e.g. `object[2].bndbox.xmax`, `annotations[17].bbox`, `names`. */
  field?: string;
  /** What is wrong, with the offending value. */
  message: string;
  /** The sample this problem belongs to; absent for problems that concern the whole dataset. */
  sampleId?: string;
}

/** The dataset formats loadDataset understands. */
export type DatasetFormat = 'voc' | 'coco' | 'yolo';

/** A whole dataset split: the samples that passed validation and what was wrong with the others. */
export interface Dataset {
  format: DatasetFormat;
  /** Class names; label k (1-based) is classNames[k-1]. */
  classNames: string[];
  samples: Sample[];
  /** The dataset's root folder (the first one, when several VOC roots were joined). */
  root: string;
  /** Every root or annotation file read (several for VOC07+12). */
  sources: string[];
  /** Problems of the samples that were skipped (only non-empty with `skipBad`). */
  problems: Problem[];
  /** Number of samples skipped because of problems (only non-zero with `skipBad`). */
  skipped: number;
  /** COCO only: categoryIds[k-1] is the original category id of label k (for results export). */
  categoryIds?: number[];
}

/** Options every reader takes. */
export interface ReadOptions {
  /** The split to read: VOC `ImageSets/Main/<split>.txt`, YOLO `data.yaml` key. Default 'trainval' for VOC, 'train' for YOLO. */
  split?: string;
  /** Skip samples with problems (and report them in Dataset.problems) instead of throwing. Default false. */
  skipBad?: boolean;
  /** Class names to use instead of the dataset's own (VOC: instead of classes.txt or the 20 VOC classes). */
  classNames?: string[];
  /** Also read every image's header and check its size against the annotation (slower). Default false. */
  checkImageSizes?: boolean;
  /** The largest annotation file of one image read (VOC XML, YOLO label file). Default 4 MiB; larger is a problem of that sample. */
  maxAnnotationFileBytes?: number;
  /**
   * The largest dataset-wide file read (split and image lists, classes.txt, data.yaml, COCO JSON). Default 512 MiB
   * (about the longest string JavaScript holds).
   */
  maxIndexFileBytes?: number;
}

/** Formats a problem as `file:line: field: message`. */
export function formatProblem(p: Problem): string {
  return `${p.file}${p.line !== undefined ? `:${p.line}` : ''}: ${p.field !== undefined ? `${p.field}: ` : ''}${p.message}`;
}

/** Thrown when a dataset has problems (and skipBad is off) or cannot be read at all. Lists every problem. */
export class DatasetError extends Error {
  readonly problems: Problem[];

  constructor(what: string, problems: Problem[]) {
    const lines = problems.map((p) => `  ${formatProblem(p)}`);
    super(`${what}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${lines.join('\n')}`);
    this.name = 'DatasetError';
    this.problems = problems;
  }
}
