// The JSON file of an `ssd detect` run (detections.json): what ran, with which options, and every input's result.
import type { DetectOptions } from '../serve/detector.js';
import type { FailedInput, ImageResult } from './detect-images.js';
import type { VideoResult } from './detect-video.js';
import type { SkippedPath } from './inputs.js';

export interface DetectReport {
  weights: string;
  classNames: readonly string[];
  options: Required<Pick<DetectOptions, 'minScore' | 'maxOverlap' | 'topK'>> & { suppress: Array<string | number> };
  images: ImageResult[];
  /** Videos: their JSON lines and annotated copies (absent when the run had none). */
  videos?: VideoResult[];
  /** Inputs that could not be read or written, with the reason. */
  failed: FailedInput[];
  /** Entries of the input folders left out (dangling links, loops, names that are not UTF-8, ...), with the reason. */
  skipped: SkippedPath[];
}
