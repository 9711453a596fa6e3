// Build-time shape arithmetic with symbolic dimensions. A numeric dim is known; a string dim is a symbol
// ('N' for the batch, or a fresh '?k' for a dim this code cannot work out). Two different symbols are assumed
// compatible: only numeric disagreements are errors.
import type { Dim } from './types.js';
import { fmtShape } from './types.js';

/** Throws a shape error that names the op and what went wrong. */
export function shapeError(op: string, message: string): never {
  throw new Error(`${op}: ${message}`);
}

/** True when two dims are known to differ (both numeric and unequal). */
export function dimsConflict(a: Dim, b: Dim): boolean {
  return typeof a === 'number' && typeof b === 'number' && a !== b;
}

/** Numpy broadcasting of two shapes; throws naming the op when they cannot broadcast. */
export function broadcastShapes(op: string, a: readonly Dim[], b: readonly Dim[]): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = i - (n - a.length) >= 0 ? a[i - (n - a.length)]! : 1;
    const db = i - (n - b.length) >= 0 ? b[i - (n - b.length)]! : 1;
    if (da === db) out.push(da);
    else if (da === 1) out.push(db);
    else if (db === 1) out.push(da);
    else if (typeof da === 'number' && typeof db === 'number')
      shapeError(op, `shapes ${fmtShape(a)} and ${fmtShape(b)} do not broadcast (dim ${i}: ${da} vs ${db})`);
    else out.push(typeof da === 'number' ? da : db);
  }
  return out;
}

/** Normalises an axis (negative counts from the end) for a tensor of the given rank; throws naming the op. */
export function normAxis(op: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) shapeError(op, `axis ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

/** Output size of a sliding window (conv/pool) along one dim, PyTorch's rule (ceil mode drops a window that
 *  would start inside the end padding). A symbolic input gives a symbolic output. */
export function windowOut(
  op: string,
  size: Dim,
  kernel: number,
  stride: number,
  padBegin: number,
  padEnd: number,
  dilation: number,
  ceilMode: boolean,
  fresh: () => string,
): Dim {
  if (typeof size === 'string') return fresh();
  const span = size + padBegin + padEnd - dilation * (kernel - 1) - 1;
  if (span < 0) shapeError(op, `input size ${size} (pads ${padBegin},${padEnd}) is smaller than the kernel extent ${dilation * (kernel - 1) + 1}`);
  let out = (ceilMode ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  if (ceilMode && (out - 1) * stride >= size + padBegin) out--;
  return out;
}

/** Product of dims: a number when all are numeric, a symbol when exactly one symbol times 1, else fresh. */
export function dimProduct(dims: readonly Dim[], fresh: () => string): Dim {
  let prod = 1;
  const syms: string[] = [];
  for (const d of dims) {
    if (typeof d === 'number') prod *= d;
    else syms.push(d);
  }
  if (syms.length === 0) return prod;
  if (syms.length === 1 && prod === 1) return syms[0]!;
  return fresh();
}

/** Sum of dims (for concat). */
export function dimSum(dims: readonly Dim[], fresh: () => string): Dim {
  let sum = 0;
  for (const d of dims) {
    if (typeof d === 'string') return fresh();
    sum += d;
  }
  return sum;
}
