// Image files, decoded with bounded cost: every decode reads the header first and refuses an image above a pixel
// limit before any pixel is decoded (a 31 KB PNG can declare 16000x16000 pixels, 768 MB once decoded to RGB),
// and a decode for the network's input size shrinks while decoding where it can, so that memory follows the
// input size rather than the picture's.
import sharp, { type Metadata } from 'sharp';

/** The default pixel limit: 40 megapixels (8000 x 5000), above the usual photo, far below sharp's own 268. */
export const DEFAULT_MAX_PIXELS = 40_000_000;

/** The raster formats decoded (as sharp's metadata names them). Vector and document formats are not images here. */
const FORMATS: ReadonlySet<string> = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif']);

/** Options of every decode. */
export interface ImageReadOptions {
  /** Largest image accepted, width x height in pixels, checked from the header. Default {@link DEFAULT_MAX_PIXELS}. */
  maxPixels?: number;
  /** What to call the input in errors (a path is its own name). Default: the path, or '<image bytes>'. */
  name?: string;
}

/**
 * An input that cannot be decoded: missing, unknown or unsupported format, broken header or data, or (as an
 * {@link ImageTooLargeError}) too many pixels. The message starts with the input's name.
 */
export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
  constructor(
    /** The input's name: its path, or what the caller called it. */
    readonly input: string,
    /** What is wrong, without the name. */
    readonly reason: string,
  ) {
    super(`${input}: ${reason}`);
  }
}

/** An image whose header declares more pixels than the limit; nothing of it was decoded. */
export class ImageTooLargeError extends ImageDecodeError {
  override name = 'ImageTooLargeError';
  constructor(
    input: string,
    readonly width: number,
    readonly height: number,
    readonly maxPixels: number,
  ) {
    super(input, `image is ${width}x${height} = ${megapixels(width * height)} megapixels, above the limit of ${megapixels(maxPixels)} megapixels; --max-pixels raises it`);
  }
}

/** `n` pixels in megapixels, to three significant digits (256, 40, 12.3, 0.077). */
export function megapixels(n: number): string {
  return String(Number((n / 1e6).toPrecision(3)));
}

/** A decoded image: interleaved RGB bytes (HWC, row-major, 3 bytes a pixel). */
export interface DecodedImage {
  /** width*height*3 bytes, R G B per pixel, rows top to bottom. */
  data: Uint8Array;
  width: number;
  height: number;
}

/** What an image's header says. */
export interface ImageHeader {
  /** sharp's name of the format: jpeg, png, webp, gif, tiff, heif. */
  format: string;
  /** Size as stored. */
  storedWidth: number;
  storedHeight: number;
  /** EXIF orientation 1..8 (1: as stored). */
  orientation: number;
  /** Size as displayed (after EXIF orientation): what decodes return. */
  width: number;
  height: number;
  hasAlpha: boolean;
}

/** Decoded 8-bit pixels a caller already has (HWC, RGB or RGBA, or grey). */
export interface RawPixels {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

type ImageSource = string | Uint8Array;

function nameOf(input: ImageSource, options: ImageReadOptions): string {
  return options.name ?? (typeof input === 'string' ? input : '<image bytes>');
}

function maxPixelsOf(options: ImageReadOptions): number {
  const m = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(Number.isFinite(m) && m >= 1)) throw new Error(`maxPixels must be a number >= 1, got ${m}`);
  return m;
}

function sharpInput(input: ImageSource): string | Buffer {
  return typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
}

/**
 * Reads an image's header (no pixel is decoded): format, stored and displayed size, orientation. Throws an
 * {@link ImageDecodeError} naming the input when it is not an image of a supported format.
 */
export function readImageHeader(input: ImageSource, options: ImageReadOptions = {}): Promise<ImageHeader> {
  return parseHeader(input, nameOf(input, options), 'cannot read image header');
}

/** The header; `failure` starts the message when there is none to read. */
async function parseHeader(input: ImageSource, name: string, failure: string): Promise<ImageHeader> {
  let meta: Metadata;
  try {
    // No limit here: the header of any size is read, then judged by checkPixelLimit with a message of ours.
    meta = await sharp(sharpInput(input), { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new ImageDecodeError(name, `${failure}: ${(e as Error).message}`);
  }
  if (!meta.format || !FORMATS.has(meta.format)) {
    throw new ImageDecodeError(name, `${meta.format ?? 'unknown'} is not a supported image format (JPEG, PNG, WebP, GIF, TIFF, AVIF)`);
  }
  const storedWidth = meta.width, storedHeight = meta.pageHeight ?? meta.height;
  if (!storedWidth || !storedHeight) throw new ImageDecodeError(name, 'the image header has no size');
  const orientation = meta.orientation !== undefined && meta.orientation >= 1 && meta.orientation <= 8 ? meta.orientation : 1;
  const swap = orientation >= 5;
  return {
    format: meta.format,
    storedWidth,
    storedHeight,
    orientation,
    width: swap ? storedHeight : storedWidth,
    height: swap ? storedWidth : storedHeight,
    hasAlpha: meta.hasAlpha === true,
  };
}

/** Throws an {@link ImageTooLargeError} when `header` declares more than `maxPixels` pixels. */
export function checkPixelLimit(header: Pick<ImageHeader, 'width' | 'height'>, maxPixels: number, name: string): void {
  if (header.width * header.height > maxPixels) throw new ImageTooLargeError(name, header.width, header.height, maxPixels);
}

/** The header, checked against the limit: what every decode starts with. */
async function checkedHeader(input: ImageSource, options: ImageReadOptions): Promise<{ header: ImageHeader; name: string; maxPixels: number }> {
  const name = nameOf(input, options);
  const maxPixels = maxPixelsOf(options);
  const h = await parseHeader(input, name, 'cannot decode image');
  checkPixelLimit(h, maxPixels, name);
  return { header: h, name, maxPixels };
}

/** sharp's pixels as interleaved RGB: grey (which sharp may keep as one channel even when asked for sRGB) spread. */
function toRgb(data: Buffer, channels: number, width: number, height: number): Uint8Array {
  if (channels === 3) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const v = data[i * channels]!;
    rgb[3 * i] = v;
    rgb[3 * i + 1] = v;
    rgb[3 * i + 2] = v;
  }
  return rgb;
}

/** A decode error of sharp's, named; errors that are already ours pass. */
function decodeFailure(e: unknown, name: string): Error {
  if (e instanceof ImageDecodeError) return e;
  return new ImageDecodeError(name, `cannot decode image: ${(e as Error).message}`);
}

/**
 * Decodes a whole image (file path or encoded bytes: JPEG, PNG, WebP, GIF, TIFF, AVIF) to 8-bit sRGB, EXIF
 * orientation applied, alpha dropped, grey spread to three channels. The header is checked against
 * `maxPixels` before anything is decoded. Errors name the input: {@link ImageTooLargeError} above the limit,
 * {@link ImageDecodeError} for anything that is not a readable image.
 */
export async function decodeImage(input: ImageSource, options: ImageReadOptions = {}): Promise<DecodedImage> {
  const { name, maxPixels } = await checkedHeader(input, options);
  try {
    const { data, info } = await sharp(sharpInput(input), { limitInputPixels: maxPixels, failOn: 'warning' }).rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    return { data: toRgb(data, info.channels, info.width, info.height), width: info.width, height: info.height };
  } catch (e) {
    throw decodeFailure(e, name);
  }
}

/**
 * Decodes an image straight to `size` (resized to fill it, linear kernel, alpha dropped, RGB): what a network
 * input needs. Returns the pixels and the displayed size of the original (after EXIF orientation).
 *
 * Memory follows `size`, not the picture: an upright image without alpha goes through one streaming pipeline
 * (JPEG shrink-on-load keeps at least a factor of two for the final resize), with exactly the pixels of a whole
 * decode followed by the same resize for every other 8-bit image (16-bit ones are resized before they are made
 * 8-bit: a level apart). A rotated image (EXIF 2-8) is decoded and resized
 * as stored to an intermediate at least twice the target size when it is that large, then oriented, then
 * resized: resizing upright pixels, because one pipeline resizes before it rotates and lands on other sample
 * positions (visibly, at edges, for EXIF 6-8). Smaller rotated images, and images with alpha (whose
 * colours are taken as they are, not weighted by alpha), are decoded whole, within the pixel limit.
 */
export async function decodeResized(input: ImageSource, size: { width: number; height: number }, options: ImageReadOptions = {}): Promise<DecodedImage> {
  const { header, name, maxPixels } = await checkedHeader(input, options);
  const { width: W, height: H } = size;
  if (!(Number.isInteger(W) && Number.isInteger(H) && W > 0 && H > 0) || W * H > maxPixels) {
    // The caller's size, not the image, is wrong: a plain error, never "not an image".
    throw new Error(`decode to ${W}x${H}: the target size must be whole numbers > 0, at most the pixel limit (${megapixels(maxPixels)} megapixels)`);
  }
  const src = sharpInput(input);
  // failOn 'warning': a truncated JPEG (libjpeg only warns) is an error, not a grey lower half.
  const open = () => sharp(src, { limitInputPixels: maxPixels, failOn: 'warning' });
  const fill = { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: false } as const;
  try {
    if (header.orientation === 1 && !header.hasAlpha) {
      const { data, info } = await open().resize(W, H, fill).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      return { data: toRgb(data, info.channels, W, H), width: header.width, height: header.height };
    }
    let upright: RawPixels;
    const swap = header.orientation >= 5;
    const ratio = Math.min(header.storedWidth / (swap ? H : W), header.storedHeight / (swap ? W : H));
    if (!header.hasAlpha && ratio >= 4) {
      const k = Math.floor(ratio / 2);
      const iw = Math.ceil(header.storedWidth / k), ih = Math.ceil(header.storedHeight / k);
      const { data, info } = await open().resize(iw, ih, fill).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      upright = orientPixels({ data: toRgb(data, info.channels, iw, ih), width: iw, height: ih, channels: 3 }, header.orientation);
    } else {
      const { data, info } = await open().rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      upright = { data: toRgb(data, info.channels, info.width, info.height), width: info.width, height: info.height, channels: 3 };
    }
    return { data: await resizePixels(upright, size), width: header.width, height: header.height };
  } catch (e) {
    throw decodeFailure(e, name);
  }
}

/**
 * Resizes decoded pixels to `size` (fill, linear kernel), dropping alpha: RGB (grey spread), HWC. Pixels that do
 * not match their stated size are an {@link ImageDecodeError} naming them ('<decoded image>' by default).
 */
export async function resizePixels(pixels: RawPixels, size: { width: number; height: number }, name = '<decoded image>'): Promise<Uint8Array> {
  const { data, width, height, channels } = pixels;
  const bad = !(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)
    ? `width and height must be whole numbers > 0, got ${width}x${height}`
    : channels !== 1 && channels !== 3 && channels !== 4
      ? `channels must be 1 (grey), 3 (RGB) or 4 (RGBA), got ${String(channels)}`
      : data.length !== width * height * channels
        ? `${data.length} bytes for ${width}x${height} pixels of ${channels} channels`
        : undefined;
  if (bad) throw new ImageDecodeError(name, `cannot read image: ${bad}`);
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out = await sharp(buf, { raw: { width, height, channels }, limitInputPixels: false }).removeAlpha().resize(size.width, size.height, { fit: 'fill', kernel: 'linear' }).raw().toBuffer({ resolveWithObject: true });
  return toRgb(out.data, out.info.channels, size.width, size.height);
}

/**
 * Pixels stored with EXIF orientation `orientation` (1..8), turned upright: 2 mirrors, 3 turns 180 degrees,
 * 4 flips, 5 transposes, 6 turns 90 degrees clockwise, 7 transverses, 8 turns 90 degrees anticlockwise.
 */
export function orientPixels(pixels: RawPixels, orientation: number): RawPixels {
  const { data, width: sw, height: sh, channels: c } = pixels;
  if (orientation === 1) return pixels;
  const swap = orientation >= 5;
  const uw = swap ? sh : sw, uh = swap ? sw : sh;
  // The stored pixel shown at upright (x, y).
  const from: (x: number, y: number) => number = {
    2: (x: number, y: number) => y * sw + (sw - 1 - x),
    3: (x: number, y: number) => (sh - 1 - y) * sw + (sw - 1 - x),
    4: (x: number, y: number) => (sh - 1 - y) * sw + x,
    5: (x: number, y: number) => x * sw + y,
    6: (x: number, y: number) => (sh - 1 - x) * sw + y,
    7: (x: number, y: number) => (sh - 1 - x) * sw + (sw - 1 - y),
    8: (x: number, y: number) => x * sw + (sw - 1 - y),
  }[orientation] ?? ((): number => {
    throw new Error(`EXIF orientation must be 1..8, got ${orientation}`);
  });
  const out = new Uint8Array(uw * uh * c);
  for (let y = 0, o = 0; y < uh; y++) {
    for (let x = 0; x < uw; x++, o += c) {
      const s = from(x, y) * c;
      for (let k = 0; k < c; k++) out[o + k] = data[s + k]!;
    }
  }
  return { data: out, width: uw, height: uh, channels: c };
}

/**
 * An image's size after EXIF orientation, from its header (no pixel decode): what {@link decodeImage} returns.
 * Throws an {@link ImageDecodeError} naming the file when it is not a readable image.
 */
export async function readImageSize(input: ImageSource, options: ImageReadOptions = {}): Promise<{ width: number; height: number }> {
  const { width, height } = await readImageHeader(input, options);
  return { width, height };
}
