// Per-class colours: a fixed palette indexed by class, so a class keeps its colour across images and runs.
import type { Rgb } from './canvas.js';

/** 20 well-separated colours (strong tones first; none white or black, so boxes show on any page), then they repeat. */
const PALETTE: readonly Rgb[] = [
  [230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48], [145, 30, 180],
  [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 190], [0, 128, 128],
  [230, 190, 255], [170, 110, 40], [255, 225, 25], [128, 0, 0], [170, 255, 195],
  [128, 128, 0], [255, 215, 180], [0, 0, 128], [128, 128, 128], [100, 70, 220],
];

/** The colour of class `label` (1 = first object class; 0, background, gets the last palette entry). */
export function classColor(label: number): Rgb {
  const n = PALETTE.length;
  return PALETTE[(((label - 1) % n) + n) % n]!;
}

/** Black or white, whichever reads better on `background` (by relative luminance). */
export function textColorOn(background: Rgb): Rgb {
  const lum = 0.2126 * background[0] + 0.7152 * background[1] + 0.0722 * background[2];
  return lum > 140 ? [0, 0, 0] : [255, 255, 255];
}
