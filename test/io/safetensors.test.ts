import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors, readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { floatToHalf, halfToFloat } from '../../src/io/float16.js';

/** A file built by hand from the format's description: header JSON (as given) then the data bytes. */
function rawFile(header: unknown, data: Uint8Array | number[], headerText?: string): Uint8Array {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

function le16(values: number[]): number[] {
  return values.flatMap((v) => [v & 0xff, v >>> 8]);
}

test('reads a hand-built file: values, shapes, metadata, file order', () => {
  const f32 = new Float32Array([1.5, -2.25, 3, 0.125, 7, 8]);
  const i64 = new BigInt64Array([-1n, 2n ** 40n]);
  const data = new Uint8Array([...new Uint8Array(f32.buffer), ...new Uint8Array(i64.buffer), 9, 250]);
  const header = {
    __metadata__: { architecture: 'ssd300', classes: 'a,b' },
    w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
    steps: { dtype: 'I64', shape: [2], data_offsets: [24, 40] },
    mask: { dtype: 'U8', shape: [2], data_offsets: [40, 42] },
  };
  const file = readSafetensors(rawFile(header, data));
  assert.deepEqual([...file.tensors.keys()], ['w', 'steps', 'mask']);
  assert.deepEqual(file.metadata, { architecture: 'ssd300', classes: 'a,b' });
  const w = file.tensors.get('w')!;
  assert.equal(w.dtype, 'F32');
  assert.deepEqual(w.shape, [2, 3]);
  assert.deepEqual([...(w.data as Float32Array)], [1.5, -2.25, 3, 0.125, 7, 8]);
  assert.deepEqual([...(file.tensors.get('steps')!.data as BigInt64Array)], [-1n, 2n ** 40n]);
  assert.deepEqual([...(file.tensors.get('mask')!.data as Uint8Array)], [9, 250]);
});

test('F16 and BF16 are widened to F32 exactly, I32 kept', () => {
  // half: 1, -2, 65504 (largest), 2^-24 (smallest subnormal), +inf, 0.333251953125
  const half = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x3555];
  // bfloat16: 1, -3.140625, 2^-126
  const bf = [0x3f80, 0xc049, 0x0080];
  const i32 = new Int32Array([-7, 123456789]);
  const data = [...le16(half), ...le16(bf), ...new Uint8Array(i32.buffer)];
  const header = {
    h: { dtype: 'F16', shape: [6], data_offsets: [0, 12] },
    b: { dtype: 'BF16', shape: [3], data_offsets: [12, 18] },
    pad: { dtype: 'U8', shape: [2], data_offsets: [18, 20] },
    i: { dtype: 'I32', shape: [1, 2], data_offsets: [20, 28] },
  };
  const bytes = rawFile(header, [...data.slice(0, 18), 0, 0, ...data.slice(18)]);
  const { tensors } = readSafetensors(bytes);
  const h = tensors.get('h')!;
  assert.equal(h.dtype, 'F32');
  assert.equal(h.storedAs, 'F16');
  assert.deepEqual([...(h.data as Float32Array)], [1, -2, 65504, 2 ** -24, Infinity, 0.333251953125]);
  assert.deepEqual([...(tensors.get('b')!.data as Float32Array)], [1, -3.140625, 2 ** -126]);
  assert.deepEqual([...(tensors.get('i')!.data as Int32Array)], [-7, 123456789]);
});

test('floatToHalf rounds to nearest even and inverts halfToFloat on every half', () => {
  assert.equal(floatToHalf(0.1), 0x2e66);
  assert.equal(floatToHalf(-65504), 0xfbff);
  assert.equal(floatToHalf(65520), 0x7c00); // rounds up past the largest half
  assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00); // tie, to even
  assert.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02); // tie, to even (up)
  assert.equal(floatToHalf(2 ** -25), 0); // tie between 0 and the smallest subnormal
  assert.equal(floatToHalf(3 * 2 ** -26), 1);
  for (let h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) continue; // NaNs
    assert.equal(floatToHalf(halfToFloat(h)), h, `half 0x${h.toString(16)}`);
  }
});

test('encode -> read round trip of every writable type, F16 storage, scalars and empty tensors', () => {
  const w = new Float32Array([0.1, -0.2, 0.3, 1e-3, 5, 6]);
  const bytes = encodeSafetensors(
    new Map([
      ['u', { shape: [3], data: new Uint8Array([1, 2, 3]) }],
      ['w', { shape: [3, 2], data: w }],
      ['w16', { shape: [2, 3], data: w, storeAs: 'F16' as const }],
      ['n', { shape: [], data: new BigInt64Array([42n]) }],
      ['i', { shape: [2], data: new Int32Array([-5, 5]) }],
      ['empty', { shape: [0, 4], data: new Float32Array(0) }],
    ]),
    { epoch: '3' },
  );
  // The data section starts on an 8-byte boundary and each tensor on its element size.
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + headerLength) % 8, 0);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  for (const [k, v] of Object.entries(header)) {
    if (k === '__metadata__') continue;
    const size = { F32: 4, F16: 2, I64: 8, I32: 4, U8: 1 }[(v as { dtype: 'F32' }).dtype];
    assert.equal((v as { data_offsets: number[] }).data_offsets[0]! % size, 0, k);
  }
  const back = readSafetensors(bytes);
  assert.deepEqual(back.metadata, { epoch: '3' });
  assert.deepEqual([...(back.tensors.get('w')!.data as Float32Array)], [...w]);
  assert.deepEqual(back.tensors.get('w')!.shape, [3, 2]);
  const w16 = back.tensors.get('w16')!;
  assert.equal(w16.storedAs, 'F16');
  for (let i = 0; i < w.length; i++) assert.ok(Math.abs((w16.data as Float32Array)[i]! - w[i]!) <= Math.abs(w[i]!) * 2 ** -11);
  assert.deepEqual(back.tensors.get('n')!.shape, []);
  assert.deepEqual([...(back.tensors.get('n')!.data as BigInt64Array)], [42n]);
  assert.deepEqual([...(back.tensors.get('i')!.data as Int32Array)], [-5, 5]);
  assert.deepEqual([...(back.tensors.get('u')!.data as Uint8Array)], [1, 2, 3]);
  assert.equal(back.tensors.get('empty')!.data.length, 0);
});

test('writeSafetensors writes atomically and leaves no temporary file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssd-st-'));
  try {
    const path = join(dir, 'model.safetensors');
    writeFileSync(path, 'old contents');
    writeSafetensors(path, { a: { shape: [2], data: new Float32Array([1, 2]) } }, { architecture: 'ssd300' });
    assert.deepEqual(readdirSync(dir), ['model.safetensors']);
    const back = readSafetensors(path);
    assert.deepEqual([...(back.tensors.get('a')!.data as Float32Array)], [1, 2]);
    assert.equal(back.metadata.architecture, 'ssd300');
    assert.deepEqual(new Uint8Array(readFileSync(path)), encodeSafetensors({ a: { shape: [2], data: new Float32Array([1, 2]) } }, { architecture: 'ssd300' }));
    assert.throws(() => writeSafetensors(path, { a: { shape: [3], data: new Float32Array([1, 2]) } }), /tensor 'a': shape \[3\] holds 3 values, data has 2/);
    assert.deepEqual(readdirSync(dir), ['model.safetensors']);
    assert.throws(() => writeSafetensors(join(dir, 'missing', 'm.safetensors'), {}), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hostile files are refused with errors naming the file and the tensor', () => {
  const ok = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
  const eight = new Array(8).fill(0);
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['short', new Uint8Array(5), /'short': file is 5 bytes, too short/],
    [
      'long-header',
      (() => {
        const b = rawFile({ a: ok }, eight);
        new DataView(b.buffer).setBigUint64(0, 1000n, true);
        return b;
      })(),
      /'long-header': header length 1000 runs beyond the end of the file/,
    ],
    [
      'huge-header',
      (() => {
        const b = rawFile({ a: ok }, eight);
        new DataView(b.buffer).setBigUint64(0, 2n ** 63n, true);
        return b;
      })(),
      /header length 9223372036854775808 runs beyond/,
    ],
    ['bad-json', rawFile(null, eight, '{"a": {"dtype": "F32",'), /'bad-json': header is not valid UTF-8 JSON/],
    ['array', rawFile([1, 2], []), /header is not a JSON object/],
    ['dtype', rawFile({ a: { ...ok, dtype: 'F128' } }, eight), /tensor 'a': dtype "F128" is not one of/],
    ['shape', rawFile({ a: { ...ok, shape: [-2] } }, eight), /tensor 'a': shape \[-2\] is not a list of non-negative integers/],
    ['offsets', rawFile({ a: { ...ok, data_offsets: [0] } }, eight), /tensor 'a': data_offsets \[0\] is not a pair/],
    ['outside', rawFile({ a: { ...ok, data_offsets: [0, 4096] } }, eight), /'outside': tensor 'a': data_offsets \[0, 4096\] lie outside the data section \(8 bytes\)/],
    ['backwards', rawFile({ a: { ...ok, data_offsets: [8, 0] } }, eight), /tensor 'a': data_offsets \[8, 0\] end before they begin/],
    ['size', rawFile({ a: { ...ok, shape: [3] } }, eight), /tensor 'a': shape \[3\] of F32 needs 12 bytes, data_offsets \[0, 8\] hold 8/],
    [
      'overlap',
      rawFile({ a: ok, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, eight),
      /tensor 'b': data_offsets \[4, 8\] overlap tensor 'a'|tensor 'a': data_offsets \[0, 8\] overlap/,
    ],
    ['hole', rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, eight), /tensor 'a': data_offsets begin 4 leaves a hole after byte 0/],
    [
      'misaligned',
      rawFile({ b: { dtype: 'U8', shape: [2], data_offsets: [0, 2] }, a: { dtype: 'F32', shape: [1], data_offsets: [2, 6] }, c: { dtype: 'U8', shape: [2], data_offsets: [6, 8] } }, eight),
      /tensor 'a': data_offsets begin 2 is not aligned to the 4-byte F32 element/,
    ],
    ['trailing', rawFile({ a: ok }, new Array(12).fill(0)), /data section holds 12 bytes but its tensors cover 8/],
    ['metadata', rawFile({ __metadata__: { epoch: 3 }, a: ok }, eight), /__metadata__\['epoch'\] is 3, not a string/],
  ];
  for (const [name, bytes, pattern] of cases) {
    assert.throws(() => readSafetensors(bytes, { name }), (e: Error) => {
      assert.match(e.message, new RegExp(`^safetensors '${name}': `), `${name}: ${e.message}`);
      assert.match(e.message, pattern, name);
      return true;
    });
  }
});

test('a path in the error when reading from disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssd-st-'));
  try {
    const path = join(dir, 'broken.safetensors');
    writeFileSync(path, rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 800] } }, new Array(8).fill(0)));
    assert.throws(() => readSafetensors(path), new RegExp(`safetensors '${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}': tensor 'a': data_offsets \\[0, 800\\] lie outside`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
