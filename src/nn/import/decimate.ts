// The tutorial's `decimate`, which turns VGG-16's fully connected fc6 and fc7 into SSD's conv6 and conv7.

/**
 * Keeps every `steps[d]`-th index along each dimension d (null keeps all), as the tutorial's `decimate`:
 * tensor.index_select(d, arange(0, size, step)). Returns the values (row-major) and the new shape.
 */
export function decimate(values: Float32Array, shape: readonly number[], steps: ReadonlyArray<number | null>): { data: Float32Array; shape: number[] } {
  if (steps.length !== shape.length) throw new Error(`decimate: ${steps.length} steps for a ${shape.length}-d tensor`);
  const n = shape.reduce((a, b) => a * b, 1);
  if (values.length !== n) throw new Error(`decimate: ${values.length} values for shape [${shape}]`);
  const outShape = shape.map((s, d) => (steps[d] ? Math.ceil(s / steps[d]!) : s));
  const rank = shape.length;
  const strides = new Array<number>(rank);
  for (let d = rank - 1, s = 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d]!;
  }
  const out = new Float32Array(outShape.reduce((a, b) => a * b, 1));
  // The innermost dimension is copied in one loop per row of the output.
  const inner = rank - 1;
  const innerStep = steps[inner] ?? 1;
  const index = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  const rows = out.length / (outShape[inner] ?? 1);
  let o = 0;
  for (let r = 0; r < rows; r++) {
    let at = 0;
    for (let d = 0; d < inner; d++) at += index[d]! * (steps[d] ?? 1) * strides[d]!;
    for (let j = 0; j < outShape[inner]!; j++) out[o++] = values[at + j * innerStep]!;
    for (let d = inner - 1; d >= 0; d--) {
      if (++index[d]! < outShape[d]!) break;
      index[d] = 0;
    }
  }
  return { data: out, shape: outShape };
}
