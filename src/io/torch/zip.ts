// A small ZIP reader for PyTorch's `.pth` archives (torch.save since 1.6 writes an uncompressed zip):
// the central directory, stored and deflated entries, ZIP64 for archives and entries past 4 GiB.
// Every offset and size read from the file is checked against the file before it is used, and inflating is
// bounded: an entry never inflates past the size the directory declares, and the declared sizes of everything
// inflated must fit a limit, so a zip bomb (a few MB that inflate to GBs) costs no more memory than the limit.
import { crc32, inflateRawSync } from 'node:zlib';
import { formatBytes } from '../file-kind.js';

/** One file in the archive, as the central directory lists it. */
export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflated. */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  localHeaderOffset: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** Default of `ZipOptions.maxInflatedBytes`: 1 GiB (torch.save stores entries uncompressed; they inflate to nothing). */
export const DEFAULT_MAX_INFLATED_BYTES = 2 ** 30;

/** Options of `ZipArchive`. */
export interface ZipOptions {
  /**
   * The most bytes that reading deflated entries may produce, all entries together. An entry whose declared
   * size does not fit what is left is refused before it is inflated. Default DEFAULT_MAX_INFLATED_BYTES.
   */
  maxInflatedBytes?: number;
}

/** True when `bytes` starts like a ZIP archive (a local file header). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/** A ZIP archive held in memory. Errors name the archive (`name`) and the entry. */
export class ZipArchive {
  /** Entries by name, in central-directory order. */
  readonly entries = new Map<string, ZipEntry>();
  private readonly view: DataView;
  /** Bytes that deflated entries may still inflate to. */
  private inflateBudget: number;

  constructor(
    private readonly bytes: Uint8Array,
    readonly name: string,
    options: ZipOptions = {},
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.inflateBudget = options.maxInflatedBytes ?? DEFAULT_MAX_INFLATED_BYTES;
    this.readCentralDirectory();
  }

  private fail(what: string): never {
    throw new Error(`zip '${this.name}': ${what}`);
  }

  private u16(at: number): number {
    return this.view.getUint16(at, true);
  }

  private u32(at: number): number {
    return this.view.getUint32(at, true);
  }

  private u64(at: number): number {
    const v = this.view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`a 64-bit size or offset (${v}) is beyond what this reader handles`);
    return Number(v);
  }

  private readCentralDirectory(): void {
    const n = this.bytes.byteLength;
    // The end-of-central-directory record is the last 22 bytes, unless a comment (up to 65535 bytes) follows it.
    let eocd = -1;
    for (let at = n - 22; at >= Math.max(0, n - 22 - 65535); at--) {
      if (this.u32(at) === EOCD) {
        eocd = at;
        break;
      }
    }
    if (eocd < 0) this.fail('no end-of-central-directory record (truncated or not a zip file)');
    let count = this.u16(eocd + 10);
    let cdSize = this.u32(eocd + 12);
    let cdOffset = this.u32(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const locator = eocd - 20;
      if (locator < 0 || this.u32(locator) !== ZIP64_LOCATOR) this.fail('ZIP64 sizes without a ZIP64 locator');
      const record = this.u64(locator + 8);
      if (record + 56 > n || this.u32(record) !== ZIP64_EOCD) this.fail(`ZIP64 end record at ${record} is missing`);
      count = this.u64(record + 32);
      cdSize = this.u64(record + 40);
      cdOffset = this.u64(record + 48);
    }
    if (cdOffset + cdSize > n) this.fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) lies outside the file (${n} bytes)`);
    let at = cdOffset;
    for (let i = 0; i < count; i++) {
      if (at + 46 > cdOffset + cdSize || this.u32(at) !== CENTRAL) this.fail(`central directory entry ${i} is malformed`);
      const method = this.u16(at + 10);
      const crc = this.u32(at + 16);
      let compressedSize = this.u32(at + 20);
      let size = this.u32(at + 24);
      const nameLength = this.u16(at + 28);
      const extraLength = this.u16(at + 30);
      const commentLength = this.u16(at + 32);
      let localHeaderOffset = this.u32(at + 42);
      const end = at + 46 + nameLength + extraLength + commentLength;
      if (end > cdOffset + cdSize) this.fail(`central directory entry ${i} runs past the directory`);
      const name = new TextDecoder().decode(this.bytes.subarray(at + 46, at + 46 + nameLength));
      // ZIP64 extra field: the 64-bit values of whichever fields were saturated, in this order.
      for (let e = at + 46 + nameLength; e + 4 <= at + 46 + nameLength + extraLength; ) {
        const id = this.u16(e);
        const length = this.u16(e + 2);
        if (id === 0x0001) {
          const fields = (size === 0xffffffff ? 1 : 0) + (compressedSize === 0xffffffff ? 1 : 0) + (localHeaderOffset === 0xffffffff ? 1 : 0);
          if (8 * fields > length || e + 4 + length > end) this.fail(`entry '${name}': ZIP64 extra field is too short`);
          let p = e + 4;
          if (size === 0xffffffff) (size = this.u64(p)), (p += 8);
          if (compressedSize === 0xffffffff) (compressedSize = this.u64(p)), (p += 8);
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = this.u64(p);
        }
        e += 4 + length;
      }
      this.entries.set(name, { name, method, compressedSize, size, crc32: crc, localHeaderOffset });
      at = end;
    }
  }

  /** Whether the archive holds `name`. */
  has(name: string): boolean {
    return this.entries.has(name);
  }

  /**
   * The contents of entry `name`, CRC-checked. A stored entry is a view into the archive's bytes (no copy);
   * a deflated entry is inflated, never past its declared size, and only when that size fits the limit
   * (`ZipOptions.maxInflatedBytes`, counted over every entry read).
   */
  read(name: string): Uint8Array {
    const entry = this.entries.get(name);
    if (!entry) this.fail(`no entry '${name}'`);
    const at = entry.localHeaderOffset;
    if (at + 30 > this.bytes.byteLength || this.u32(at) !== LOCAL) this.fail(`entry '${name}': local header at ${at} is missing`);
    const start = at + 30 + this.u16(at + 26) + this.u16(at + 28);
    const end = start + entry.compressedSize;
    if (end > this.bytes.byteLength) {
      this.fail(`entry '${name}': data [${start}, ${end}) runs past the end of the file (${this.bytes.byteLength} bytes); the file is truncated`);
    }
    const raw = this.bytes.subarray(start, end);
    let data: Uint8Array;
    if (entry.method === 0) data = raw;
    else if (entry.method === 8) data = this.inflate(entry, raw);
    else this.fail(`entry '${name}': compression method ${entry.method} is not supported (only stored and deflate)`);
    if (data.byteLength !== entry.size) this.fail(`entry '${name}': holds ${data.byteLength} bytes, the directory says ${entry.size}`);
    if (crc32(data) >>> 0 !== entry.crc32) this.fail(`entry '${name}': CRC-32 mismatch (the file is corrupt)`);
    return data;
  }

  /** Inflates a deflated entry, stopping at its declared size; the declared size must fit the budget left. */
  private inflate(entry: ZipEntry, raw: Uint8Array): Uint8Array {
    const name = entry.name;
    if (entry.size > this.inflateBudget) {
      this.fail(
        `entry '${name}' declares ${formatBytes(entry.size)} inflated (from ${formatBytes(raw.byteLength)}), more than the ` +
          `${formatBytes(this.inflateBudget)} left of the limit on inflated data (maxInflatedBytes); refusing it as a possible zip bomb`,
      );
    }
    let data: Uint8Array;
    try {
      // zlib stops once the output would pass maxOutputLength, so memory never grows past the declared size.
      data = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
        this.fail(`entry '${name}': inflates to more than the ${entry.size} bytes the directory declares; the archive is corrupt or hostile (a zip bomb)`);
      }
      this.fail(`entry '${name}': deflate data is corrupt (${err.message})`);
    }
    this.inflateBudget -= data.byteLength;
    return data;
  }
}
