// ImageNet weights for a backbone, as training starts from them: SSD300 and SSD512 from torchvision's VGG-16 (the
// tutorial's start), SSDLite320-MobileNetV2 from torchvision's MobileNetV2 (as torchvision's SSDLite recipe starts
// from ImageNet weights). Which model takes which is the registry's `pretrainedBase`; what to expect is the
// network's own parameter list under the base's prefix.
import { readModelFile } from '../../io/file-kind.js';
import { assertFiniteWeights } from '../../io/non-finite.js';
import { readSafetensors } from '../../io/safetensors.js';
import { CONFIG_KEY } from '../model.js';
import { MODELS, type PretrainedBaseKind } from '../models/index.js';
import { VGGFeatureExtractor } from '../models/vgg.js';
import type { SSDNetwork } from '../ssd.js';
import { convertMobileNetV2 } from './mobilenet-v2.js';
import { convert, detectSource, readTorchTensors, ssd300ParameterShapes, type ImportSource, type ParameterShape } from './torch-weights.js';

/** A kind of pretrained base: what it is, where the model keeps it, how a base-only file says so, how to get it. */
export interface PretrainedBaseInfo {
  /** What the weights are, for messages: "ImageNet VGG-16 (torchvision's vgg16)". */
  readonly what: string;
  /** The prefix of the model's parameters the base fills. */
  readonly prefix: string;
  /** `ssd.kind` in the metadata of a base-only file (`ssd import` writes them). */
  readonly fileKind: string;
  /** The one line of PyTorch that saves the file. */
  readonly save: string;
}

/** Every kind of pretrained base. */
export const PRETRAINED_BASES: Readonly<Record<PretrainedBaseKind, PretrainedBaseInfo>> = {
  vgg16: {
    what: "ImageNet VGG-16 (torchvision's vgg16)",
    prefix: 'base.',
    fileKind: 'ssd300-vgg16-base',
    save: "torch.save(torchvision.models.vgg16(weights='IMAGENET1K_V1').state_dict(), 'vgg16.pth')",
  },
  'mobilenet-v2': {
    what: "ImageNet MobileNetV2 (torchvision's mobilenet_v2)",
    prefix: 'backbone.features.',
    fileKind: 'ssdlite320-mobilenetv2-base',
    save: "torch.save(torchvision.models.mobilenet_v2(weights='IMAGENET1K_V1').state_dict(), 'mobilenet_v2.pth')",
  },
};

/** Which models take a pretrained base, and which: "ssd300 and ssd512 take ImageNet VGG-16 (...), ...". */
export function pretrainedBaseModels(): string {
  const byKind = new Map<PretrainedBaseKind, string[]>();
  for (const m of MODELS.values()) if (m.pretrainedBase) byKind.set(m.pretrainedBase, [...(byKind.get(m.pretrainedBase) ?? []), m.name]);
  return [...byKind].map(([kind, names]) => `${names.join(' and ')} take${names.length > 1 ? '' : 's'} ${PRETRAINED_BASES[kind].what}`).join('; ');
}

/** The parameter names of SSD300's VGG base (`base.conv1_1.weight` ... `base.conv7.bias`, 30 tensors). */
export function ssd300BaseParameterShapes(channels?: (c: number) => number): ParameterShape[] {
  return ssd300ParameterShapes(21, channels).filter((p) => p.name.startsWith('base.'));
}

/** What a file `ssd import` recognises is, for the message that it is the wrong one. */
function describeSource(source: ImportSource): string {
  switch (source) {
    case 'vgg16':
    case 'mobilenet-v2':
      return PRETRAINED_BASES[source].what;
    case 'tutorial':
      return "the SSD300 tutorial's checkpoint, a whole detector (ssd import it and give it to --init)";
    case 'state-dict':
      return 'an SSD300 state_dict, a whole detector (ssd import it and give it to --init)';
    case 'torchvision-ssd300':
      return "torchvision's ssd300_vgg16, a whole detector (ssd import it and give it to --init)";
  }
}

/** VGG-16's standard channel counts (64 .. 1024) to the network's, read off its VGG base (narrow test networks). */
function vggChannels(network: SSDNetwork): ((c: number) => number) | undefined {
  if (!(network.backbone instanceof VGGFeatureExtractor)) return undefined;
  const c = network.backbone.base.convs;
  const table = new Map([[64, c.conv1_1!.outChannels], [128, c.conv2_1!.outChannels], [256, c.conv3_1!.outChannels], [512, c.conv4_1!.outChannels], [1024, c.conv6!.outChannels]]);
  return (standard) => table.get(standard) ?? standard;
}

/** The first ten problems, and how many more. */
function listProblems(problems: readonly string[]): string {
  return `${problems.slice(0, 10).join('; ')}${problems.length > 10 ? `; ... (${problems.length - 10} more)` : ''}`;
}

/**
 * The pretrained base of `network`'s model, as values by parameter name (every parameter under the base's prefix,
 * batch-norm running statistics included), from:
 * - the PyTorch file itself: torchvision's ImageNet `vgg16` (SSD300, SSD512; fc6/fc7 decimated as the tutorial
 *   does) or `mobilenet_v2` (SSDLite320-MobileNetV2) state_dict, zip or legacy format;
 * - a base-only file `ssd import` wrote from one of those;
 * - any ssd-ts model file of a model with the same base (its tensors under the prefix).
 * Checked by name and shape against the network's own parameters; a file for another model's base is refused
 * saying which file that model takes, and every missing or mis-shaped tensor is named.
 */
export function loadPretrainedBase(file: string, network: SSDNetwork): Map<string, Float32Array> {
  const kind = MODELS.get(network.architecture)?.pretrainedBase;
  if (!kind) throw new Error(`pretrained base '${file}': ${network.architecture} has no pretrained base (${pretrainedBaseModels()})`);
  const base = PRETRAINED_BASES[kind];
  const wrong = (what: string): Error =>
    new Error(`pretrained base '${file}' is ${what}; ${network.architecture} starts from ${base.what}: ${base.save}, given as it is or converted by ssd import`);
  const expected = network.parameters().filter((p) => p.name.startsWith(base.prefix));
  const { bytes, kind: fileKind } = readModelFile(file);

  let values: ReadonlyMap<string, { data: Float32Array; shape: readonly number[] }>;
  let from: (name: string) => string = (name) => name;
  if (fileKind.startsWith('torch-')) {
    const { tensors, moduleObject } = readTorchTensors(bytes, { name: file });
    const detected = detectSource([...tensors.keys()], moduleObject);
    if (detected !== undefined && detected !== kind) throw wrong(describeSource(detected));
    if (kind === 'mobilenet-v2') {
      const r = convertMobileNetV2(tensors, expected, `${network.architecture}'s backbone`);
      if (r.problems.length > 0) throw new Error(`pretrained base '${file}' (torchvision's mobilenet_v2 state_dict): ${listProblems(r.problems)}`);
      assertFiniteWeights(r.weights, `pretrained base '${file}'`);
      return r.weights;
    }
    const r = convert('vgg16', tensors, file, { channels: vggChannels(network) });
    values = new Map([...r.weights].map(([name, data]) => [name, { data, shape: r.shapes.get(name)! }]));
    from = (name) => `${name} (converted from vgg16)`;
  } else {
    const { tensors, metadata } = readSafetensors(bytes, { name: file });
    const other = (Object.keys(PRETRAINED_BASES) as PretrainedBaseKind[]).find((k) => k !== kind && PRETRAINED_BASES[k].fileKind === metadata['ssd.kind']);
    if (other) throw wrong(`a base-only file of ${PRETRAINED_BASES[other].what}`);
    const architecture = modelFileArchitecture(metadata[CONFIG_KEY]);
    if (architecture !== undefined && MODELS.get(architecture)?.pretrainedBase !== kind) throw wrong(`a model file of ${architecture}, whose backbone is not ${base.what}`);
    const floats = new Map<string, { data: Float32Array; shape: readonly number[] }>();
    for (const [name, t] of tensors) if (t.data instanceof Float32Array) floats.set(name, { data: t.data, shape: t.shape });
    for (const p of expected) if (tensors.has(p.name) && !floats.has(p.name)) throw new Error(`pretrained base '${file}': '${p.name}' is ${tensors.get(p.name)!.dtype}, not floating point`);
    values = floats;
  }
  const out = new Map<string, Float32Array>();
  const problems: string[] = [];
  for (const p of expected) {
    const t = values.get(p.name);
    if (!t) problems.push(`missing '${p.name}' [${p.shape}]`);
    else if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) problems.push(`'${from(p.name)}' has shape [${t.shape}], needs [${p.shape}]`);
    else out.set(p.name, t.data);
  }
  if (problems.length) throw new Error(`pretrained base '${file}': ${listProblems(problems)}`);
  assertFiniteWeights(out, `pretrained base '${file}'`);
  return out;
}

/** The architecture a model file's config names, or undefined when the file has no readable config. */
function modelFileArchitecture(configJson: string | undefined): string | undefined {
  if (configJson === undefined) return undefined;
  try {
    const a = (JSON.parse(configJson) as { architecture?: unknown }).architecture;
    return typeof a === 'string' ? a : undefined;
  } catch {
    return undefined;
  }
}
