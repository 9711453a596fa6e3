// Drawing detections onto images (boxes in per-class colours and readable labels, with an embedded font), and a
// model's priors map by map.
export { annotateImage, drawDetections, placeLabel, labelText, toColorCanvas } from './annotate.js';
export type { AnnotateOptions, DrawableDetection, LabelPlacement, ImageFormat } from './annotate.js';
export { classColor, textColorOn } from './palette.js';
export { drawText, textWidth } from './text.js';
export { blendPixel, fillRect, strokeRect } from './canvas.js';
export type { Canvas, Rgb } from './canvas.js';
export { drawPriors, priorPictureLayout, ratioLabel, shapeColor, PRIOR_PICTURE_GAP, PRIOR_PICTURE_CAPTION } from './priors.js';
export type { PriorPictureOptions, PriorPictureLayout } from './priors.js';
