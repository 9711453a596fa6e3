// A detection as the files of `ssd detect` hold it: score to 6 decimals, box corners to 2 (hundredths of a pixel).
import type { Detection } from '../serve/detector.js';

/** One detection in `detections.json` and in a video's JSON lines. */
export interface DetectionJson {
  label: string;
  classIndex: number;
  score: number;
  box: Detection['box'];
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** `d` rounded for a file. */
export function detectionJson(d: Detection): DetectionJson {
  const b = d.box;
  return { label: d.label, classIndex: d.classIndex, score: round(d.score, 6), box: { xmin: round(b.xmin, 2), ymin: round(b.ymin, 2), xmax: round(b.xmax, 2), ymax: round(b.ymax, 2) } };
}
