// Weights that hold NaN or infinity (a diverged run saved anyway, a corrupt file) make every output NaN: a model
// file, an import or a checkpoint with them is refused where it is read, naming the tensor and the element.

/** Where a NaN or infinity was found. */
export interface NonFiniteValue {
  /** The tensor's name. */
  tensor: string;
  /** Flat (row-major) index of the first non-finite element. */
  index: number;
  /** That element: NaN, Infinity or -Infinity. */
  value: number;
  /** How many elements of that tensor are not finite. */
  count: number;
}

/**
 * The first NaN or infinity in `tensors` (in iteration order), or undefined when every value is finite.
 * Accepts a Map of name to values or of name to `{ data }` (safetensors tensors; integer tensors are skipped).
 */
export function findNonFinite(
  tensors: Iterable<readonly [string, Float32Array | Float64Array | { data: ArrayLike<number | bigint> }]>,
): NonFiniteValue | undefined {
  for (const [tensor, t] of tensors) {
    const data = t instanceof Float32Array || t instanceof Float64Array ? t : t.data;
    if (!(data instanceof Float32Array || data instanceof Float64Array)) continue;
    let first = -1;
    let count = 0;
    for (let i = 0; i < data.length; i++) {
      // x - x is 0 for every finite x and NaN for NaN and the infinities: one test, no branch on the common path.
      if (data[i]! - data[i]! !== 0) {
        if (first < 0) first = i;
        count++;
      }
    }
    if (first >= 0) return { tensor, index: first, value: data[first]!, count };
  }
  return undefined;
}

/** "tensor 'x' holds NaN at element 17 (and 3 more non-finite values)", with the element's position in `shape`. */
export function describeNonFinite(found: NonFiniteValue, shape?: readonly number[]): string {
  let at = `element ${found.index}`;
  if (shape && shape.length > 1) {
    const position: number[] = [];
    let rest = found.index;
    for (let d = shape.length - 1; d >= 0; d--) {
      position.unshift(rest % shape[d]!);
      rest = Math.floor(rest / shape[d]!);
    }
    at += ` [${position.join(', ')}] of shape [${shape.join(', ')}]`;
  }
  const more = found.count > 1 ? ` (and ${found.count - 1} more non-finite value${found.count > 2 ? 's' : ''})` : '';
  return `tensor '${found.tensor}' holds ${found.value} at ${at}${more}`;
}

/** Throws `${what}: tensor 'x' holds NaN at element i ...; <advice>` when any value of `tensors` is not finite. */
export function assertFiniteWeights(
  tensors: Iterable<readonly [string, Float32Array | Float64Array | { data: ArrayLike<number | bigint>; shape?: readonly number[] }]>,
  what: string,
  shapes?: ReadonlyMap<string, readonly number[]>,
): void {
  const list = [...tensors];
  const found = findNonFinite(list);
  if (!found) return;
  const entry = list.find(([name]) => name === found.tensor)?.[1];
  const shape = shapes?.get(found.tensor) ?? (entry && 'shape' in entry ? entry.shape : undefined);
  throw new Error(`${what}: ${describeNonFinite(found, shape)}; weights must be finite numbers (was the model saved after its training diverged?)`);
}
