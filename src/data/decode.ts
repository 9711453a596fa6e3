// Reading images with sharp: the full decode used by augmentation, and the header-only size used by
// the readers when an annotation does not say how big its image is.
import sharp from 'sharp';

/** A decoded image: interleaved RGB bytes (HWC, row-major, 3 bytes a pixel). */
export interface DecodedImage {
  /** width*height*3 bytes, R G B per pixel, rows top to bottom. */
  data: Uint8Array;
  width: number;
  height: number;
}

/** Default of `DecodeOptions.maxPixels`: 8192 x 8192 (a decoded RGB image of 200 MB). */
export const DEFAULT_MAX_IMAGE_PIXELS = 8192 * 8192;

/** Options of {@link decodeImage}. */
export interface DecodeOptions {
  /** Images with more pixels than this are refused from their header, before any is decoded. Default DEFAULT_MAX_IMAGE_PIXELS. */
  maxPixels?: number;
}

/** An image file that cannot be decoded: missing, not an image, truncated or corrupt, too large. */
export class ImageDecodeError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: cannot decode image: ${reason}`);
    this.name = 'ImageDecodeError';
  }
}

/**
 * Decodes an image file (any format sharp reads: JPEG, PNG, WebP, TIFF, GIF, AVIF) to 8-bit sRGB,
 * applying the EXIF orientation, dropping alpha and expanding grayscale to three channels.
 * Throws an ImageDecodeError naming the file when it cannot be read or decoded (a truncated JPEG is one:
 * sharp fails on libjpeg's warnings), or has more than `maxPixels` pixels.
 */
export async function decodeImage(path: string, options: DecodeOptions = {}): Promise<DecodedImage> {
  try {
    const input = sharp(path, { limitInputPixels: options.maxPixels ?? DEFAULT_MAX_IMAGE_PIXELS, failOn: 'warning' });
    const { data, info } = await input.rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels === 3) return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
    // sharp keeps one channel for some grayscale inputs even when asked for sRGB: spread it.
    const n = info.width * info.height;
    const rgb = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      const v = data[i * info.channels];
      rgb[3 * i] = v;
      rgb[3 * i + 1] = v;
      rgb[3 * i + 2] = v;
    }
    return { data: rgb, width: info.width, height: info.height };
  } catch (e) {
    const message = (e as Error).message;
    throw new ImageDecodeError(path, /exceeds pixel limit/.test(message) ? `${message} (more than ${options.maxPixels ?? DEFAULT_MAX_IMAGE_PIXELS} pixels)` : message);
  }
}

/**
 * Reads an image's size from its header (no pixel decode), after EXIF orientation, so it matches
 * what decodeImage returns. Throws an error naming the file when it is not a readable image.
 */
export async function readImageSize(path: string): Promise<{ width: number; height: number }> {
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    meta = await sharp(path).metadata();
  } catch (e) {
    throw new Error(`cannot read image header: ${(e as Error).message}`);
  }
  const w = meta.autoOrient?.width ?? meta.width;
  const h = meta.autoOrient?.height ?? meta.height;
  if (!w || !h) throw new Error('image header has no size');
  return { width: w, height: h };
}
