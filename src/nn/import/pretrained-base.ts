// ImageNet weights for a backbone, as training starts from them (the tutorial's SSD300 starts from VGG-16).
import { readModelFile } from '../../io/file-kind.js';
import { assertFiniteWeights } from '../../io/non-finite.js';
import { readSafetensors } from '../../io/safetensors.js';
import { importTorchWeights, ssd300ParameterShapes, type ImportOptions, type ParameterShape } from './torch-weights.js';

/** The parameter names of SSD300's VGG base (`base.conv1_1.weight` ... `base.conv7.bias`, 30 tensors). */
export function ssd300BaseParameterShapes(channels?: (c: number) => number): ParameterShape[] {
  return ssd300ParameterShapes(21, channels).filter((p) => p.name.startsWith('base.'));
}

/**
 * The pretrained VGG base for SSD300 training, as `base.*` parameter values: from a base file written by
 * `ssd import --from vgg16` (or any ssd-ts model file: its `base.*` tensors), or straight from torchvision's
 * vgg16 `.pth` (converted as `importTorchWeights(file, { from: 'vgg16' })` does). Errors name missing or
 * mis-shaped tensors.
 */
export function loadPretrainedBase(file: string, options: Pick<ImportOptions, 'channels'> = {}): Map<string, Float32Array> {
  const { bytes, kind } = readModelFile(file);
  if (kind.startsWith('torch-')) return importTorchWeights(bytes, { name: file, from: 'vgg16', channels: options.channels }).weights;
  const { tensors } = readSafetensors(bytes, { name: file });
  const out = new Map<string, Float32Array>();
  const problems: string[] = [];
  for (const p of ssd300BaseParameterShapes(options.channels)) {
    const t = tensors.get(p.name);
    if (!t) problems.push(`missing '${p.name}' [${p.shape}]`);
    else if (t.dtype !== 'F32') problems.push(`'${p.name}' is ${t.dtype}, not floating point`);
    else if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) problems.push(`'${p.name}' has shape [${t.shape}], needs [${p.shape}]`);
    else out.set(p.name, t.data);
  }
  if (problems.length) throw new Error(`pretrained base '${file}': ${problems.slice(0, 10).join('; ')}${problems.length > 10 ? '; ...' : ''}`);
  assertFiniteWeights(out, `pretrained base '${file}'`);
  return out;
}
