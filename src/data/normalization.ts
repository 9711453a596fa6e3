// How images become network inputs: RGB scaled to [0, 1], then (x - mean) / std per channel.

/** Per-channel normalisation of RGB values scaled to [0, 1]: (x - mean) / std. */
export interface Normalization {
  mean: [number, number, number];
  std: [number, number, number];
}

/** ImageNet statistics, which ImageNet-pretrained backbones (VGG-16, MobileNetV2) and the tutorial expect. */
export const IMAGENET_NORMALIZATION: Readonly<Normalization> = Object.freeze({
  mean: Object.freeze([0.485, 0.456, 0.406]) as [number, number, number],
  std: Object.freeze([0.229, 0.224, 0.225]) as [number, number, number],
});
