// Drawing detections onto images: boxes in per-class colours and readable labels, with an embedded font.
export { annotateImage, drawDetections, placeLabel, labelText, toColorCanvas } from './annotate.js';
export type { AnnotateOptions, DrawableDetection, LabelPlacement, ImageFormat } from './annotate.js';
export { classColor, textColorOn } from './palette.js';
export { drawText, textWidth } from './text.js';
export { blendPixel, fillRect, strokeRect } from './canvas.js';
export type { Canvas, Rgb } from './canvas.js';
