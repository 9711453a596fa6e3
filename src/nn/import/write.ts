// Writing what an import produced: a full model file, or for VGG-16 a base-only file for `--pretrained-base`.
import { writeSafetensors, type TensorToWrite } from '../../io/safetensors.js';
import { SSD } from '../model.js';
import type { ImportResult } from './torch-weights.js';

/** The `ssd.kind` metadata of a base-only file (what `ssd train --pretrained-base` reads with loadPretrainedBase). */
export const BASE_FILE_KIND = 'ssd300-vgg16-base';

/**
 * Writes an import: a full model through SSD (so the network checks every shape and the config goes into the
 * metadata as every model file has it), or for 'vgg16' a base-only file: the 30 `base.*` tensors with metadata
 * `ssd.kind` = 'ssd300-vgg16-base' and `ssd.source` = the .pth file's name.
 */
export function writeImported(result: ImportResult, out: string, options: { half?: boolean; source?: string } = {}): void {
  if (result.source === 'vgg16') {
    const tensors = new Map<string, TensorToWrite>();
    for (const [name, data] of result.weights) tensors.set(name, { shape: result.shapes.get(name)!, data, ...(options.half ? { storeAs: 'F16' as const } : {}) });
    writeSafetensors(out, tensors, { 'ssd.kind': BASE_FILE_KIND, 'ssd.source': options.source ?? '', 'ssd.normalization': JSON.stringify(result.config.normalization) });
    return;
  }
  SSD.create(result.config, { weights: result.weights }).save(out, { half: options.half ?? false });
}
