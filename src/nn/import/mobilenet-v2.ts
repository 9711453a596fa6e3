// torchvision's ImageNet MobileNetV2 as the base of SSDLite320-MobileNetV2, which keeps torchvision's names under
// `backbone.`: `features.N...` is ours `backbone.features.N...`. What to expect comes from the network's own
// parameter list (batch-norm running statistics included: a pretrained base brings them), never from a table here.
import type { TorchTensor } from '../../io/torch/tensor.js';
import type { ParameterSpec } from '../layers.js';
import { ssdliteMobileNetV2 } from '../models/ssdlite.js';

/** Where SSDLite keeps MobileNetV2's `features`. */
export const MOBILENET_V2_PREFIX = 'backbone.';

/** SSDLite's MobileNetV2 feature tensors at `width` (1: torchvision's ImageNet weights), as the network declares them. */
export function mobilenetV2BaseShapes(width = 1): ParameterSpec[] {
  return ssdliteMobileNetV2(2, { width }).parameters().filter((p) => p.name.startsWith(`${MOBILENET_V2_PREFIX}features.`));
}

/** What a base conversion found: the values by our names (in `expected`'s order), what it left out, what is wrong. */
export interface BaseConversion {
  weights: Map<string, Float32Array>;
  shapes: Map<string, number[]>;
  unused: Array<{ name: string; reason: string }>;
  problems: string[];
}

/**
 * Maps a torchvision mobilenet_v2 state_dict onto `expected` (the network's `backbone.features.*` tensors): each
 * `features.*` tensor to `backbone.features.*`, checked by shape; the classifier and the batch-norm batch counters
 * are listed as not imported; anything else, and every expected tensor the file lacks, is a problem naming it.
 * `what` names the target in messages ("SSDLite320-MobileNetV2's backbone at width 1").
 */
export function convertMobileNetV2(tensors: ReadonlyMap<string, TorchTensor>, expected: readonly ParameterSpec[], what: string): BaseConversion {
  const byName = new Map(expected.map((p) => [p.name, p]));
  const found = new Map<string, Float32Array>();
  const reported = new Set<string>();
  const out: BaseConversion = { weights: new Map(), shapes: new Map(), unused: [], problems: [] };
  for (const [k, t] of tensors) {
    const ours = `${MOBILENET_V2_PREFIX}${k}`;
    const p = byName.get(ours);
    if (p) {
      reported.add(ours);
      const data = t.data;
      if (!(data instanceof Float32Array)) out.problems.push(`'${k}' is ${t.dtype}, weights must be floating point`);
      else if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) out.problems.push(`'${k}' has shape [${t.shape}], ${what} needs [${p.shape}]`);
      else found.set(ours, data);
    } else if (k.startsWith('features.') && k.endsWith('.num_batches_tracked')) {
      out.unused.push({ name: k, reason: "batch norm's count of training batches (ssd-ts's batch norm keeps none)" });
    } else if (k.startsWith('classifier.')) {
      out.unused.push({ name: k, reason: "MobileNetV2's ImageNet classifier has no counterpart in SSDLite" });
    } else {
      out.problems.push(`unexpected tensor '${k}' [${t.shape}] (${what} has no '${ours}'; not part of torchvision's mobilenet_v2 at this width)`);
    }
  }
  for (const p of expected) {
    const v = found.get(p.name);
    if (v) {
      out.weights.set(p.name, v);
      out.shapes.set(p.name, [...p.shape]);
    } else if (!reported.has(p.name)) {
      out.problems.push(`missing tensor '${p.name.slice(MOBILENET_V2_PREFIX.length)}' [${p.shape}] (${what}'s '${p.name}'${p.buffer ? ', a batch-norm running statistic' : ''})`);
    }
  }
  return out;
}
