// Reading the text files of a dataset (split lists, annotations, label files, data.yaml, COCO JSON) with bounded
// cost and errors that name the file and line: each must be a regular file within a size limit, and bytes that
// are not UTF-8 are an error at their line, never silently replaced (a replaced byte in a file stem turns into a
// path that does not exist, and then into a bare ENOENT).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readRegularFile } from '../io/file-kind.js';

/** Default of `ReadOptions.maxAnnotationFileBytes`: one image's annotation (VOC XML, YOLO labels). */
export const DEFAULT_MAX_ANNOTATION_FILE_BYTES = 4 * 2 ** 20;
/** Default of `ReadOptions.maxIndexFileBytes`: dataset-wide files (split lists, data.yaml, COCO JSON); V8's longest string. */
export const DEFAULT_MAX_INDEX_FILE_BYTES = 512 * 2 ** 20;

/** A text file that cannot be read: not a regular file, too large, or not UTF-8 (then `line` says where). */
export class TextFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
    readonly line?: number,
  ) {
    super(message);
    this.name = 'TextFileError';
  }
}

/** Which limit applies to a file, and the option that raises it (named in messages). */
export interface TextFileLimit {
  maxBytes: number;
  what: string;
  option: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Offset of the first byte of `bytes` that does not belong to a valid UTF-8 sequence, or -1 when all are valid.
 * (TextDecoder's fatal mode says only that something is wrong, not where.)
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  const n = bytes.byteLength;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) (need = 1), (min = 0x80);
    else if (b >= 0xe0 && b <= 0xef) (need = 2), (min = 0x800);
    else if (b >= 0xf0 && b <= 0xf4) (need = 3), (min = 0x10000);
    else return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return i;
    i += need + 1;
  }
  return -1;
}

function lineOf(bytes: Uint8Array, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
  return line;
}

/** What a bad byte looks like in a message: "byte 0xe9 (bytes e9 74 e9 2e)". */
function badBytes(bytes: Uint8Array, offset: number): string {
  const shown = [...bytes.subarray(offset, offset + 4)].map((b) => b.toString(16).padStart(2, '0'));
  return `byte 0x${shown[0]} (bytes ${shown.join(' ')})`;
}

const SAVE_AS_UTF8 = 'save the file as UTF-8';

function readBytes(file: string, limit: TextFileLimit): Uint8Array {
  try {
    return readRegularFile(file, { maxBytes: limit.maxBytes, what: limit.what, option: limit.option });
  } catch (e) {
    // readRegularFile's messages start with the path; the problem shows the path on its own.
    const message = (e as Error).message;
    throw new TextFileError(file, message.startsWith(`${file}: `) ? message.slice(file.length + 2) : message.startsWith(file) ? message.slice(file.length).trim() : message);
  }
}

/** Reads a whole UTF-8 text file (a leading byte-order mark dropped). Throws a TextFileError naming the line of a bad byte. */
export function readTextFile(file: string, limit: TextFileLimit): string {
  const bytes = readBytes(file, limit);
  try {
    return utf8.decode(bytes);
  } catch {
    const at = Math.max(0, firstInvalidUtf8(bytes));
    throw new TextFileError(file, `not valid UTF-8 text: ${badBytes(bytes, at)} at byte ${at}; ${SAVE_AS_UTF8}`, lineOf(bytes, at));
  }
}

/** The lines of a list file, each decoded on its own: a line that is not UTF-8 is reported, the others kept. */
export interface FileLines {
  /** 1-based line numbers and the lines' text (line ends removed, not trimmed). */
  lines: Array<{ line: number; text: string }>;
  /** Lines that are not valid UTF-8, with what is wrong. */
  invalid: Array<{ line: number; message: string }>;
}

/** Reads a list file (one entry a line) within its limit, decoding line by line. Throws a TextFileError when it cannot be read. */
export function readLines(file: string, limit: TextFileLimit): FileLines {
  const bytes = readBytes(file, limit);
  const out: FileLines = { lines: [], invalid: [] };
  let start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  for (let line = 1; start <= bytes.byteLength; line++) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.byteLength;
    const raw = bytes.subarray(start, end > start && bytes[end - 1] === 0x0d ? end - 1 : end);
    const bad = firstInvalidUtf8(raw);
    if (bad >= 0) out.invalid.push({ line, message: `not valid UTF-8 text: ${badBytes(raw, bad)} at column ${bad + 1}; ${SAVE_AS_UTF8}` });
    else out.lines.push({ line, text: utf8.decode(raw) });
    start = end + 1;
  }
  return out;
}

/** A folder's entries, with the names that are not valid UTF-8 apart (they cannot be named by a string path). */
export function listFolder(dir: string): { names: string[]; invalid: string[] } {
  const names: string[] = [];
  const invalid: string[] = [];
  for (const raw of readdirSync(dir, { encoding: 'buffer' })) {
    if (firstInvalidUtf8(raw) >= 0) invalid.push(join(dir, raw.toString('latin1')));
    else names.push(raw.toString('utf8'));
  }
  return { names, invalid };
}

/** The limit of one image's annotation file under `options`. */
export function annotationFileLimit(options: { maxAnnotationFileBytes?: number }): TextFileLimit {
  return { maxBytes: options.maxAnnotationFileBytes ?? DEFAULT_MAX_ANNOTATION_FILE_BYTES, what: 'annotation file', option: 'maxAnnotationFileBytes' };
}

/** The limit of a dataset-wide file (lists, data.yaml, COCO JSON) under `options`. */
export function indexFileLimit(options: { maxIndexFileBytes?: number }): TextFileLimit {
  return { maxBytes: options.maxIndexFileBytes ?? DEFAULT_MAX_INDEX_FILE_BYTES, what: 'dataset file', option: 'maxIndexFileBytes' };
}
