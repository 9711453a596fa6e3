// A minimal ZIP writer for tests that need archives no honest tool writes: entries whose declared size or CRC
// is whatever the test says, deflate streams that inflate far beyond their size.
import { crc32 } from 'node:zlib';

/** One entry as it goes into the archive. */
export interface EntryToWrite {
  name: string;
  /** The bytes stored in the archive (already deflated for method 8). */
  data: Uint8Array;
  /** 0 stored (default), 8 deflated. */
  method?: 0 | 8;
  /** The uncompressed size the headers declare; default data's length (right for stored entries). */
  size?: number;
  /** The CRC-32 the headers declare; default the CRC of data (right for stored entries). */
  crc?: number;
}

/** A zip archive of `entries`: local headers and data, the central directory, the end record (no ZIP64). */
export function writeZip(entries: readonly EntryToWrite[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = new TextEncoder().encode(e.name);
    const size = e.size ?? e.data.byteLength;
    const crc = e.crc ?? crc32(e.data) >>> 0;
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true);
    local.setUint16(8, e.method ?? 0, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, e.data.byteLength, true);
    local.setUint32(22, size, true);
    local.setUint16(26, name.byteLength, true);
    parts.push(new Uint8Array(local.buffer), name, e.data);
    const dir = new DataView(new ArrayBuffer(46));
    dir.setUint32(0, 0x02014b50, true);
    dir.setUint16(4, 20, true);
    dir.setUint16(6, 20, true);
    dir.setUint16(10, e.method ?? 0, true);
    dir.setUint32(16, crc, true);
    dir.setUint32(20, e.data.byteLength, true);
    dir.setUint32(24, size, true);
    dir.setUint16(28, name.byteLength, true);
    dir.setUint32(42, offset, true);
    central.push(new Uint8Array(dir.buffer), name);
    offset += 30 + name.byteLength + e.data.byteLength;
  }
  const cdSize = central.reduce((a, c) => a + c.byteLength, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, cdSize, true);
  end.setUint32(16, offset, true);
  const all = [...parts, ...central, new Uint8Array(end.buffer)];
  const out = new Uint8Array(all.reduce((a, c) => a + c.byteLength, 0));
  let at = 0;
  for (const c of all) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
