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

/**
 * Decodes an image file (any format sharp reads: JPEG, PNG, WebP, TIFF, GIF, AVIF) to 8-bit sRGB,
 * applying the EXIF orientation, dropping alpha and expanding grayscale to three channels.
 * Throws an error naming the file when it cannot be read or decoded.
 */
export async function decodeImage(path: string): Promise<DecodedImage> {
  try {
    const { data, info } = await sharp(path).rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
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
    throw new Error(`${path}: cannot decode image: ${(e as Error).message}`);
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
