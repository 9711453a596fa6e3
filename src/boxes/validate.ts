// Input checks shared by the public entry points of src/boxes. Each check runs once per call over
// its input (O(n)), never inside the O(n*m) loops, and names the offending box and its values.

/** Formats a float32 value the way a person wrote it (0.2, not 0.20000000298023224). */
export function formatNumber(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(7))) : String(v);
}

function formatBox(boxes: ArrayLike<number>, i: number): string {
  const o = 4 * i;
  return `[${formatNumber(boxes[o])}, ${formatNumber(boxes[o + 1])}, ${formatNumber(boxes[o + 2])}, ${formatNumber(boxes[o + 3])}]`;
}

/** Options of {@link validateBoxesXy}. */
export interface BoxCheckOptions {
  /** Require every coordinate in [0, 1] (fractional coordinates). Default false. */
  fractional?: boolean;
  /** Require xmax > xmin and ymax > ymin (a box with area). Default false: equal edges are allowed. */
  positiveSize?: boolean;
  /** What the boxes are, put in front of the message (e.g. 'ground truth'). Default: none. */
  what?: string;
}

/** Throws unless `length` is a multiple of 4. */
export function validateBoxArrayLength(length: number, what = 'boxes'): void {
  if (length % 4 !== 0) throw new Error(`${what}: length ${length} is not a multiple of 4 (boxes are 4 numbers a row)`);
}

/**
 * Checks boxes given as `[xmin, ymin, xmax, ymax]` rows (length 4*n). Throws an Error naming the
 * first bad box, e.g. `box 3 [0.2, 0.5, 0.1, 0.9]: xmax < xmin`. Zero boxes are legal.
 */
export function validateBoxesXy(boxes: ArrayLike<number>, options: BoxCheckOptions = {}): void {
  const prefix = options.what ? `${options.what} ` : '';
  validateBoxArrayLength(boxes.length, `${prefix}boxes`.trim());
  const n = boxes.length / 4;
  for (let i = 0; i < n; i++) {
    const x1 = boxes[4 * i];
    const y1 = boxes[4 * i + 1];
    const x2 = boxes[4 * i + 2];
    const y2 = boxes[4 * i + 3];
    let problem: string | undefined;
    if (!(Number.isFinite(x1) && Number.isFinite(y1) && Number.isFinite(x2) && Number.isFinite(y2))) {
      problem = 'not a finite number (NaN or Infinity)';
    } else if (x2 < x1) problem = 'xmax < xmin';
    else if (y2 < y1) problem = 'ymax < ymin';
    else if (options.positiveSize && x2 === x1) problem = 'zero width (xmax == xmin)';
    else if (options.positiveSize && y2 === y1) problem = 'zero height (ymax == ymin)';
    else if (options.fractional && (x1 < 0 || y1 < 0 || x2 > 1 || y2 > 1)) {
      problem = 'outside [0, 1] (fractional coordinates are required)';
    }
    if (problem) throw new Error(`${prefix}box ${i} ${formatBox(boxes, i)}: ${problem}`);
  }
}

/**
 * Checks boxes given as `[cx, cy, w, h]` rows (length 4*n): finite, with w > 0 and h > 0.
 * Throws an Error naming the first bad box.
 */
export function validateBoxesCxcy(boxes: ArrayLike<number>, what = ''): void {
  const prefix = what ? `${what} ` : '';
  validateBoxArrayLength(boxes.length, `${prefix}boxes`.trim());
  const n = boxes.length / 4;
  for (let i = 0; i < n; i++) {
    const cx = boxes[4 * i];
    const cy = boxes[4 * i + 1];
    const w = boxes[4 * i + 2];
    const h = boxes[4 * i + 3];
    let problem: string | undefined;
    if (!(Number.isFinite(cx) && Number.isFinite(cy) && Number.isFinite(w) && Number.isFinite(h))) {
      problem = 'not a finite number (NaN or Infinity)';
    } else if (!(w > 0)) problem = 'width <= 0';
    else if (!(h > 0)) problem = 'height <= 0';
    if (problem) throw new Error(`${prefix}box ${i} [cx, cy, w, h] ${formatBox(boxes, i)}: ${problem}`);
  }
}

/** Checks ground-truth labels: one per box, integers >= 1 (0 is background). */
export function validateLabels(labels: ArrayLike<number>, nBoxes: number): void {
  if (labels.length !== nBoxes) {
    throw new Error(`labels: ${labels.length} labels for ${nBoxes} boxes (need one label per box)`);
  }
  for (let i = 0; i < nBoxes; i++) {
    const l = labels[i];
    if (!Number.isInteger(l) || l < 1) {
      throw new Error(`label ${i} (${l}): must be an integer >= 1 (class 0 is background)`);
    }
  }
}
