// Calibration images from a dataset: `count` samples spread evenly over the split (every (n/count)-th, so that
// they cover the whole of it, and the same every run), each decoded and prepared by the model's own
// preprocessing (resize to the input size, normalise), the way it will see images when it detects.
import type { ImageReadOptions } from '../../io/image.js';
import type { CalibrationImages } from './calibrate.js';

/** What calibration needs of a model: its preparation of an image file. */
export interface Preparer {
  prepare(image: string, options?: ImageReadOptions): Promise<{ data: Float32Array }>;
}

/** The calibration image files: `count` of `files` (all of them when there are fewer), evenly spaced. */
export function pickCalibrationFiles(files: readonly string[], count: number): string[] {
  if (!(Number.isInteger(count) && count >= 1)) throw new Error(`calibration: the image count must be a whole number >= 1, got ${count}`);
  if (files.length <= count) return [...files];
  return Array.from({ length: count }, (_, i) => files[Math.floor((i * files.length) / count)]!);
}

/**
 * Calibration images read from `files` through `model.prepare`; an image is decoded again each time it is asked
 * for (calibration takes two or three passes), so memory stays at one image.
 */
export function calibrationImages(model: Preparer, files: readonly string[], options: ImageReadOptions = {}): CalibrationImages {
  return {
    count: files.length,
    get: async (i) => (await model.prepare(files[i]!, options)).data,
  };
}
