// Writing what an import produced: a full model file, or for an ImageNet backbone (VGG-16, MobileNetV2) a
// base-only file for `--pretrained-base`.
import { writeSafetensors, type TensorToWrite } from '../../io/safetensors.js';
import { SSD } from '../model.js';
import { PRETRAINED_BASES } from './pretrained-base.js';
import type { ImportResult } from './torch-weights.js';

/** The `ssd.kind` metadata of a VGG-16 base-only file (what `ssd train --pretrained-base` reads with loadPretrainedBase). */
export const BASE_FILE_KIND = PRETRAINED_BASES.vgg16.fileKind;

/**
 * Writes an import: a full model through SSD (so the network checks every shape and the config goes into the
 * metadata as every model file has it), or for 'vgg16' and 'mobilenet-v2' a base-only file: the base's tensors
 * (`base.*`, 30; `backbone.features.*`, batch-norm statistics included) with metadata `ssd.kind` (the base's
 * `fileKind`: 'ssd300-vgg16-base', 'ssdlite320-mobilenetv2-base') and `ssd.source` = the .pth file's name.
 */
export function writeImported(result: ImportResult, out: string, options: { half?: boolean; source?: string } = {}): void {
  if (result.source === 'vgg16' || result.source === 'mobilenet-v2') {
    const tensors = new Map<string, TensorToWrite>();
    for (const [name, data] of result.weights) tensors.set(name, { shape: result.shapes.get(name)!, data, ...(options.half ? { storeAs: 'F16' as const } : {}) });
    writeSafetensors(out, tensors, { 'ssd.kind': PRETRAINED_BASES[result.source].fileKind, 'ssd.source': options.source ?? '', 'ssd.normalization': JSON.stringify(result.config.normalization) });
    return;
  }
  SSD.create(result.config, { weights: result.weights }).save(out, { half: options.half ?? false });
}
