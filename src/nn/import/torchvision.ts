// Facts about torchvision's published weights that importing them needs: its COCO category list, the priors and
// input normalisation of its ssd300_vgg16, and where VGG-16's convolutions sit in its `features`.
import type { PriorConfig } from '../../boxes/priors.js';

/**
 * torchvision's COCO categories for its detection weights (torchvision/models/_meta.py _COCO_CATEGORIES): 91
 * outputs indexed by COCO category id, so 11 ids that COCO never used are 'N/A'. Index 0 is the background.
 */
export const TORCHVISION_COCO_CLASSES: readonly string[] = Object.freeze([
  'background', 'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat',
  'traffic light', 'fire hydrant', 'N/A', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse',
  'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'N/A', 'backpack', 'umbrella', 'N/A', 'N/A', 'handbag',
  'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove',
  'skateboard', 'surfboard', 'tennis racket', 'bottle', 'N/A', 'wine glass', 'cup', 'fork', 'knife', 'spoon',
  'bowl', 'banana', 'apple', 'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake',
  'chair', 'couch', 'potted plant', 'bed', 'N/A', 'dining table', 'N/A', 'N/A', 'toilet', 'N/A', 'tv', 'laptop',
  'mouse', 'remote', 'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'N/A',
  'book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair drier', 'toothbrush',
]);

/**
 * torchvision's ssd300_vgg16 priors (DefaultBoxGenerator([[2], [2, 3], [2, 3], [2, 3], [2], [2]],
 * scales=[0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05], steps=[8, 16, 32, 64, 100, 300]), also 8732 boxes:
 * per position [s, s], [s', s'] with s' = sqrt(s_k s_k+1), then (s*sqrt(r), s/sqrt(r)) and its transpose for each
 * r; centres at (j + 0.5) * step / 300 (not clamped); widths and heights clamped to [0, 1].
 */
export const TORCHVISION_SSD300_PRIORS: PriorConfig = {
  featureMapSizes: [38, 19, 10, 5, 3, 1],
  scales: [0.07, 0.15, 0.33, 0.51, 0.69, 0.87],
  aspectRatios: [[1, 2, 1 / 2], [1, 2, 1 / 2, 3, 1 / 3], [1, 2, 1 / 2, 3, 1 / 3], [1, 2, 1 / 2, 3, 1 / 3], [1, 2, 1 / 2], [1, 2, 1 / 2]],
  extraPrior: true,
  clip: true,
  steps: [8 / 300, 16 / 300, 32 / 300, 64 / 300, 100 / 300, 300 / 300],
  lastExtraScale: Math.sqrt(0.87 * 1.05),
  // torchvision clamps widths and heights only: on the 10x10 map the last row and column of centres are at
  // 9.5 * 32 / 300 = 1.0133. A generator that clamps centres too moves those 114 priors by 0.0133.
  clipCenters: false,
};

/** torchvision's ssd300_vgg16 input: 0..1 RGB minus [0.48235, 0.45882, 0.40784], divided by 1/255 (x*255 - [123, 117, 104]). */
export const TORCHVISION_SSD_NORMALIZATION = { mean: [0.48235, 0.45882, 0.40784] as [number, number, number], std: [1 / 255, 1 / 255, 1 / 255] as [number, number, number] };

/** torchvision's VGG-16 `features` indices of the 13 convs, conv1_1 .. conv5_3. */
export const VGG_FEATURE_INDICES = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28];
