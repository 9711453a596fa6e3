// PyTorch weights into ssd-ts parameter names (the SSD300 tutorial's state_dict keys, `base.conv1_1.weight`, ...).
// Four kinds of file, told apart by their keys (or named by the caller):
// - 'tutorial': the tutorial's checkpoint_ssd300.pth.tar, {epoch, model: <pickled SSD300 module>, optimizer};
// - 'state-dict': a plain SSD300 state_dict with the tutorial's keys;
// - 'vgg16': torchvision's ImageNet VGG-16, converted to the SSD300 base (fc6/fc7 decimated into conv6/conv7);
// - 'mobilenet-v2': torchvision's ImageNet MobileNetV2, the base of SSDLite320-MobileNetV2 (mobilenet-v2.ts);
// - 'torchvision-ssd300': torchvision's ssd300_vgg16 (COCO), renamed, with its own priors and input normalisation.
// Every tensor of the file is either mapped, or listed in `unused` with the reason; anything else is an error.
import { priorsPerLocation, SSD300_PRIORS } from '../../boxes/priors.js';
import { IMAGENET_NORMALIZATION } from '../../data/normalization.js';
import { VOC_CLASS_NAMES } from '../../data/voc.js';
import { assertFiniteWeights } from '../../io/non-finite.js';
import { loadTorchFile, type LoadTorchOptions } from '../../io/torch/load.js';
import { PyObject, type PyValue } from '../../io/torch/pickle.js';
import { TorchTensor } from '../../io/torch/tensor.js';
import type { ModelConfig } from '../config.js';
import { modelConfig } from '../models/index.js';
import { ssd300 } from '../models/ssd300.js';
import { VGGFeatureExtractor } from '../models/vgg.js';
import { decimate } from './decimate.js';
import { convertMobileNetV2, mobilenetV2BaseShapes } from './mobilenet-v2.js';
import { TORCHVISION_COCO_CLASSES, TORCHVISION_SSD300_PRIORS, TORCHVISION_SSD_NORMALIZATION, VGG_FEATURE_INDICES } from './torchvision.js';

/** The kinds of PyTorch file `importTorchWeights` reads. */
export type ImportSource = 'tutorial' | 'state-dict' | 'vgg16' | 'torchvision-ssd300' | 'mobilenet-v2';
/** Every ImportSource, in the order `--from` lists them. */
export const IMPORT_SOURCES: readonly ImportSource[] = ['tutorial', 'state-dict', 'vgg16', 'torchvision-ssd300', 'mobilenet-v2'];

/** A parameter's name and shape. */
export interface ParameterShape {
  name: string;
  shape: number[];
}

/** What an import produced. */
export interface ImportResult {
  source: ImportSource;
  /**
   * Values by our parameter name, float32, row-major, in the model's state_dict order. For 'vgg16' only `base.*`,
   * for 'mobilenet-v2' only `backbone.features.*` (batch-norm running statistics included).
   */
  weights: Map<string, Float32Array>;
  /** Shapes by our parameter name. */
  shapes: Map<string, number[]>;
  /**
   * The config to build the model with (for 'vgg16', the SSD300 VOC config the base is meant for; for
   * 'mobilenet-v2', SSDLite320-MobileNetV2's).
   */
  config: ModelConfig;
  /** Name of the prior configuration: 'ssd300' (the tutorial's), 'torchvision-ssd300' or 'ssdlite320-mobilenetv2'. */
  priorsName: 'ssd300' | 'torchvision-ssd300' | 'ssdlite320-mobilenetv2';
  /** Tensors of the file deliberately not imported, each with the reason. */
  unused: Array<{ name: string; reason: string }>;
  /** Other things the file held and the import left out (optimizer state, epoch), for the user to know. */
  notes: string[];
  /** The checkpoint's epoch, when it has one. */
  epoch?: number;
  /** Post-processing defaults of the source, where they differ from ssd-ts's (torchvision's 0.01 score threshold). */
  postprocess?: { minScore: number; maxOverlap: number; topK: number };
}

/** Options of `importTorchWeights`. */
export interface ImportOptions extends LoadTorchOptions {
  /** The kind of file; default: detected from its contents. */
  from?: ImportSource;
  /** Class names (without 'background'), overriding the ones implied by the source. */
  classNames?: string[];
  /**
   * Maps each of SSD300's standard channel counts (64, 128, 256, 512, 1024) to the file's. Only for reduced
   * test networks; default identity.
   */
  channels?: (standard: number) => number;
  /** Width multiplier of a 'mobilenet-v2' file's network. Default 1, torchvision's ImageNet weights. */
  width?: number;
}

/** SSD300's parameters in state_dict order with their shapes, for `nClasses` classes counting the background. */
export function ssd300ParameterShapes(nClasses: number, channels?: (c: number) => number): ParameterShape[] {
  return ssd300(nClasses, { channels }).parameters().map((p) => ({ name: p.name, shape: [...p.shape] }));
}

/** The names SSD300's layers have in our parameters: the VGG base's convs in order, the auxiliary convs, the maps. */
const SSD300_LAYERS = ((): { base: string[]; auxiliary: string[][]; maps: string[]; boxes: number[] } => {
  const vgg = new VGGFeatureExtractor();
  const name = (full: string): string => full.slice(full.indexOf('.') + 1);
  return {
    base: Object.values(vgg.base.convs).map((c) => name(c.name)),
    auxiliary: vgg.extras.stages.map(([a, b]) => [name(a.name), name(b.name)]),
    maps: vgg.maps.map((m) => m.name),
    boxes: priorsPerLocation(SSD300_PRIORS),
  };
})();

/** The tensors of a file, found wherever the file kind keeps them, with what else it held. */
export interface Extracted {
  tensors: Map<string, TorchTensor>;
  /** A whole pickled module (the tutorial's checkpoint), not a state_dict. */
  moduleObject: boolean;
  epoch?: number;
  notes: string[];
}

/** state_dict() of a pickled module: its _parameters and _buffers, then its _modules' recursively, dotted names. */
function moduleStateDict(module: PyObject, prefix: string, out: Map<string, TorchTensor>, file: string): void {
  for (const field of ['_parameters', '_buffers']) {
    const entries = module.get(field);
    if (entries === undefined || entries === null) continue;
    if (!(entries instanceof Map)) throw new Error(`import '${file}': ${prefix || 'the model'}.${field} of ${module.className} is not a dict`);
    for (const [k, v] of entries) {
      if (v === null) continue; // e.g. a conv without bias
      if (!(v instanceof TorchTensor)) throw new Error(`import '${file}': ${prefix}${String(k)} in ${module.className}.${field} is not a tensor`);
      out.set(`${prefix}${String(k)}`, v);
    }
  }
  const children = module.get('_modules');
  if (children instanceof Map) {
    for (const [k, child] of children) {
      if (child === null) continue;
      if (!(child instanceof PyObject)) throw new Error(`import '${file}': submodule ${prefix}${String(k)} is not a module`);
      moduleStateDict(child, `${prefix}${String(k)}.`, out, file);
    }
  }
}

function tensorMap(value: Map<PyValue, PyValue>, what: string, file: string): Map<string, TorchTensor> {
  const out = new Map<string, TorchTensor>();
  for (const [k, v] of value) {
    if (typeof k !== 'string') throw new Error(`import '${file}': ${what} has a key ${String(k)} that is not a string`);
    if (!(v instanceof TorchTensor)) throw new Error(`import '${file}': ${what}['${k}'] is not a tensor`);
    out.set(k, v);
  }
  return out;
}

function extract(root: PyValue, file: string): Extracted {
  if (root instanceof PyObject) {
    const tensors = new Map<string, TorchTensor>();
    moduleStateDict(root, '', tensors, file);
    return { tensors, moduleObject: true, notes: [] };
  }
  if (!(root instanceof Map)) throw new Error(`import '${file}': the file holds a ${Array.isArray(root) ? 'list' : typeof root}, not a state_dict or a checkpoint`);
  const allTensors = [...root.values()].every((v) => v instanceof TorchTensor);
  if (allTensors && root.size > 0) return { tensors: tensorMap(root, 'the state_dict', file), moduleObject: false, notes: [] };
  // A checkpoint dict: the model under 'model' (a module object or a state_dict) or 'state_dict'.
  const notes: string[] = [];
  const epoch = root.get('epoch');
  for (const key of ['model', 'state_dict', 'model_state_dict', 'net']) {
    const v = root.get(key);
    if (v === undefined) continue;
    for (const other of root.keys()) if (other !== key && other !== 'epoch') notes.push(`checkpoint entry '${String(other)}' (${describeValue(root.get(other)!)}) is not imported`);
    const base = { epoch: typeof epoch === 'number' ? epoch : undefined, notes };
    if (v instanceof PyObject) {
      const tensors = new Map<string, TorchTensor>();
      moduleStateDict(v, '', tensors, file);
      return { tensors, moduleObject: true, ...base };
    }
    if (v instanceof Map) return { tensors: tensorMap(v, `checkpoint['${key}']`, file), moduleObject: false, ...base };
  }
  const keys = [...root.keys()].slice(0, 8).map(String);
  throw new Error(`import '${file}': a dict that is neither a state_dict nor a checkpoint with a 'model' or 'state_dict' entry (keys: ${keys.join(', ')})`);
}

function describeValue(v: PyValue): string {
  if (v instanceof PyObject) return v.className;
  if (v instanceof Map) return 'dict';
  if (v instanceof TorchTensor) return 'tensor';
  return v === null ? 'None' : Array.isArray(v) ? 'list' : typeof v;
}

/** Which kind of file holds these tensors; undefined when the keys match none. */
export function detectSource(keys: readonly string[], moduleObject: boolean): ImportSource | undefined {
  const has = (k: string) => keys.includes(k);
  if (has('backbone.scale_weight') || keys.some((k) => k.startsWith('head.classification_head.'))) return 'torchvision-ssd300';
  if (has('features.0.0.weight') && has('features.1.conv.0.0.weight')) return 'mobilenet-v2';
  if (has('features.0.weight') && keys.some((k) => k.startsWith('classifier.'))) return 'vgg16';
  if (has('base.conv1_1.weight')) return moduleObject ? 'tutorial' : 'state-dict';
  return undefined;
}

/** Source tensor name -> our name, for the renaming sources. */
function renames(source: ImportSource): Map<string, string> {
  const m = new Map<string, string>();
  const conv = (from: string, to: string) => {
    m.set(`${from}.weight`, `${to}.weight`);
    m.set(`${from}.bias`, `${to}.bias`);
  };
  if (source === 'vgg16') {
    VGG_FEATURE_INDICES.forEach((idx, i) => conv(`features.${idx}`, `base.${SSD300_LAYERS.base[i]}`));
  } else if (source === 'torchvision-ssd300') {
    // backbone.features runs to conv4_3; extra.0 is pool4, conv5_1..5_3, then (pool5, conv6, relu, conv7) in a Sequential.
    const { base, auxiliary, maps } = SSD300_LAYERS;
    VGG_FEATURE_INDICES.slice(0, 10).forEach((idx, i) => conv(`backbone.features.${idx}`, `base.${base[i]}`));
    [1, 3, 5].forEach((idx, i) => conv(`backbone.extra.0.${idx}`, `base.${base[10 + i]}`));
    conv('backbone.extra.0.7.1', `base.${base[13]}`);
    conv('backbone.extra.0.7.3', `base.${base[14]}`);
    auxiliary.forEach(([reduce, conv2], b) => {
      conv(`backbone.extra.${b + 1}.0`, `aux_convs.${reduce}`);
      conv(`backbone.extra.${b + 1}.2`, `aux_convs.${conv2}`);
    });
    maps.forEach((map, k) => {
      conv(`head.regression_head.module_list.${k}`, `pred_convs.loc_${map}`);
      conv(`head.classification_head.module_list.${k}`, `pred_convs.cl_${map}`);
    });
  }
  return m;
}

function floatValues(t: TorchTensor, name: string, file: string): Float32Array {
  const v = t.data;
  if (!(v instanceof Float32Array)) throw new Error(`import '${file}': tensor '${name}' is ${t.dtype}, weights must be floating point`);
  return v;
}

/**
 * Reads a PyTorch file and converts its weights to ssd-ts parameter names. `file` is a path or the file's bytes
 * (then `options.name` names it in errors). Errors list every unknown tensor, missing parameter and shape
 * mismatch by name.
 */
export function importTorchWeights(file: string | Uint8Array, options: ImportOptions = {}): ImportResult {
  const name = options.name ?? (typeof file === 'string' ? file : '<buffer>');
  const extracted = readTorchTensors(file, { ...options, name });
  const keys = [...extracted.tensors.keys()];
  const source = options.from ?? detectSource(keys, extracted.moduleObject);
  if (!source) {
    throw new Error(
      `import '${name}': cannot tell what kind of weights these are (first keys: ${keys.slice(0, 5).join(', ')}); ` +
        `pass --from ${IMPORT_SOURCES.join('|')}`,
    );
  }
  const result = convert(source, extracted.tensors, name, options);
  assertFiniteWeights(result.weights, `import '${name}'`, result.shapes);
  result.notes.unshift(...extracted.notes);
  if (extracted.epoch !== undefined) result.epoch = extracted.epoch;
  return result;
}

/**
 * The named tensors of a PyTorch file, wherever its kind keeps them (a state_dict, a checkpoint's 'model' entry,
 * a pickled module), without nn.DataParallel's 'module.' prefix; what else it held is in `notes`.
 */
export function readTorchTensors(file: string | Uint8Array, options: LoadTorchOptions = {}): Extracted {
  const name = options.name ?? (typeof file === 'string' ? file : '<buffer>');
  const { root } = loadTorchFile(file, { ...options, name });
  const extracted = extract(root, name);
  const { tensors } = extracted;
  if (tensors.size > 0 && [...tensors.keys()].every((k) => k.startsWith('module.'))) {
    extracted.tensors = new Map([...tensors].map(([k, v]) => [k.slice('module.'.length), v]));
    extracted.notes.unshift("removed the 'module.' prefix that nn.DataParallel adds");
  }
  return extracted;
}

/** Converts named tensors of a known source (the part of `importTorchWeights` after reading the file). */
export function convert(source: ImportSource, tensors: ReadonlyMap<string, TorchTensor>, file: string, options: ImportOptions = {}): ImportResult {
  if (source === 'mobilenet-v2') return convertMobileNetV2File(tensors, file, options.width ?? 1);
  const problems: string[] = [];
  const unused: ImportResult['unused'] = [];
  const found = new Map<string, { data: Float32Array; shape: number[]; from: string }>();
  const take = (from: string, to: string, reshape?: number[]) => {
    const t = tensors.get(from)!;
    const data = floatValues(t, from, file);
    found.set(to, { data, shape: reshape ?? [...t.shape], from });
  };

  let nClasses: number;
  if (source === 'tutorial' || source === 'state-dict') {
    for (const k of tensors.keys()) take(k, k);
    const cl = tensors.get('pred_convs.cl_conv4_3.weight');
    nClasses = cl ? cl.shape[0]! / SSD300_LAYERS.boxes[0]! : 21;
  } else if (source === 'torchvision-ssd300') {
    const map = renames(source);
    for (const k of tensors.keys()) {
      if (k === 'backbone.scale_weight') {
        const t = tensors.get(k)!;
        take(k, 'rescale_factors', [1, t.numel, 1, 1]);
      } else if (map.has(k)) take(k, map.get(k)!);
      else problems.push(`unexpected tensor '${k}' [${tensors.get(k)!.shape}] (not part of torchvision's ssd300_vgg16)`);
    }
    const cl = tensors.get('head.classification_head.module_list.0.weight');
    nClasses = cl ? cl.shape[0]! / SSD300_LAYERS.boxes[0]! : 91;
  } else {
    const map = renames(source);
    for (const k of tensors.keys()) {
      if (map.has(k)) take(k, map.get(k)!);
      else if (k === 'classifier.6.weight' || k === 'classifier.6.bias') unused.push({ name: k, reason: "fc8, VGG-16's ImageNet classifier, has no counterpart in SSD" });
      else if (!k.startsWith('classifier.0.') && !k.startsWith('classifier.3.')) problems.push(`unexpected tensor '${k}' [${tensors.get(k)!.shape}] (not part of torchvision's vgg16)`);
    }
    nClasses = 21;
    decimateFullyConnected(tensors, found, problems, options.channels ?? ((c) => c), file);
  }
  if (!Number.isInteger(nClasses) || nClasses < 2) {
    problems.push(`the classification head gives ${nClasses} classes per prior, which is not a whole number of at least 2`);
    nClasses = 21;
  }

  // Check against the parameters SSD300 (or, for vgg16, its base) declares.
  const all = ssd300ParameterShapes(nClasses, options.channels);
  const expected = source === 'vgg16' ? all.filter((p) => p.name.startsWith('base.')) : all;
  const expectedNames = new Set(expected.map((p) => p.name));
  const what = source === 'vgg16' ? "SSD300's VGG base" : `SSD300 with ${nClasses} classes`;
  for (const [to, v] of found) {
    if (!expectedNames.has(to)) problems.push(`unexpected tensor '${v.from}' [${v.shape}] (${what} has no parameter '${to}')`);
  }
  const weights = new Map<string, Float32Array>();
  const shapes = new Map<string, number[]>();
  for (const p of expected) {
    const v = found.get(p.name);
    if (!v) {
      problems.push(`missing parameter '${p.name}' [${p.shape}]`);
      continue;
    }
    const sameSize = v.shape.reduce((a, b) => a * b, 1) === p.shape.reduce((a, b) => a * b, 1);
    // rescale_factors may be stored as (512,) or (1, 512, 1, 1): same values.
    const sameShape = v.shape.length === p.shape.length && v.shape.every((d, i) => d === p.shape[i]);
    if (!sameShape && !(p.name === 'rescale_factors' && sameSize)) {
      problems.push(`'${v.from}' has shape [${v.shape}], ${what} needs [${p.shape}] for '${p.name}'`);
      continue;
    }
    weights.set(p.name, v.data);
    shapes.set(p.name, p.shape);
  }
  if (problems.length > 0) {
    throw new Error(`import '${file}' as ${source}: ${problems.length} problem${problems.length > 1 ? 's' : ''}: ${summarise(problems)}`);
  }

  const names = options.classNames
    ? ['background', ...options.classNames]
    : source === 'torchvision-ssd300' && nClasses === TORCHVISION_COCO_CLASSES.length
      ? [...TORCHVISION_COCO_CLASSES]
      : nClasses === 21
        ? ['background', ...VOC_CLASS_NAMES]
        : ['background', ...Array.from({ length: nClasses - 1 }, (_, i) => `class${i + 1}`)];
  if (names.length !== nClasses && source !== 'vgg16') {
    throw new Error(`import '${file}': ${names.length - 1} class names given, the head predicts ${nClasses - 1} classes (plus background)`);
  }
  const torchvision = source === 'torchvision-ssd300';
  const result: ImportResult = {
    source,
    weights,
    shapes,
    config: {
      architecture: 'ssd300',
      classNames: names,
      inputSize: { width: 300, height: 300 },
      priors: structuredClone(torchvision ? TORCHVISION_SSD300_PRIORS : SSD300_PRIORS),
      variances: { center: 0.1, size: 0.2 },
      normalization: structuredClone(torchvision ? TORCHVISION_SSD_NORMALIZATION : IMAGENET_NORMALIZATION) as ModelConfig['normalization'],
    },
    priorsName: torchvision ? 'torchvision-ssd300' : 'ssd300',
    unused,
    notes: [],
  };
  if (torchvision) {
    result.postprocess = { minScore: 0.01, maxOverlap: 0.45, topK: 200 };
    result.notes.push('torchvision ssd300_vgg16: its own priors (scales 0.07..1.05, steps 8..300) and input x*255 - [123, 117, 104] (RGB) are in the config');
  }
  if (source === 'vgg16') result.notes.push('fc6 and fc7 were decimated into conv6 (every 4th filter, every 3rd tap) and conv7 (every 4th in and out)');
  return result;
}

/** torchvision's mobilenet_v2 state_dict: the `backbone.features.*` of SSDLite320-MobileNetV2 at `width`. */
function convertMobileNetV2File(tensors: ReadonlyMap<string, TorchTensor>, file: string, width: number): ImportResult {
  const { weights, shapes, unused, problems } = convertMobileNetV2(tensors, mobilenetV2BaseShapes(width), `SSDLite320-MobileNetV2's backbone at width ${width}`);
  if (problems.length > 0) throw new Error(`import '${file}' as mobilenet-v2: ${problems.length} problem${problems.length > 1 ? 's' : ''}: ${summarise(problems)}`);
  const config = modelConfig('ssdlite320-mobilenetv2', VOC_CLASS_NAMES, width === 1 ? {} : { width });
  return { source: 'mobilenet-v2', weights, shapes, config, priorsName: 'ssdlite320-mobilenetv2', unused, notes: [] };
}

/** The first few problems of each sort (unexpected, missing, the rest), so one long list does not hide the others. */
function summarise(problems: string[]): string {
  const sorts = [problems.filter((p) => p.startsWith('unexpected')), problems.filter((p) => p.startsWith('missing')), problems.filter((p) => !p.startsWith('unexpected') && !p.startsWith('missing'))];
  const parts: string[] = [];
  for (const list of sorts) {
    parts.push(...list.slice(0, 8));
    if (list.length > 8) parts.push(`(${list.length - 8} more like that)`);
  }
  return parts.join('; ');
}

/**
 * fc6 (4096, 512*7*7) -> view (4096, 512, 7, 7) -> conv6 (1024, 512, 3, 3) keeping every 4th filter and every 3rd
 * spatial tap; fc7 (4096, 4096) -> (4096, 4096, 1, 1) -> conv7 (1024, 1024, 1, 1) keeping every 4th in and out.
 * The tutorial's recipe (after the DeepLab-LargeFOV reduced VGG the paper uses).
 */
function decimateFullyConnected(
  tensors: ReadonlyMap<string, TorchTensor>,
  found: Map<string, { data: Float32Array; shape: number[]; from: string }>,
  problems: string[],
  channels: (c: number) => number,
  file: string,
): void {
  const fc6 = tensors.get('classifier.0.weight');
  const fc6b = tensors.get('classifier.0.bias');
  const fc7 = tensors.get('classifier.3.weight');
  const fc7b = tensors.get('classifier.3.bias');
  const c5 = channels(512);
  if (!fc6 || !fc6b || !fc7 || !fc7b) {
    for (const [k, t] of [['classifier.0.weight', fc6], ['classifier.0.bias', fc6b], ['classifier.3.weight', fc7], ['classifier.3.bias', fc7b]] as const) {
      if (!t) problems.push(`missing tensor '${k}' (vgg16's fc${k.startsWith('classifier.0') ? 6 : 7}, decimated into conv${k.startsWith('classifier.0') ? 6 : 7})`);
    }
    return;
  }
  const [out6, in6] = fc6.shape as [number, number];
  if (fc6.shape.length !== 2 || in6 !== c5 * 49) {
    problems.push(`'classifier.0.weight' has shape [${fc6.shape}], fc6 of vgg16 is [4096, ${c5 * 49}] (${c5} channels x 7 x 7)`);
    return;
  }
  const w6 = decimate(floatValues(fc6, 'classifier.0.weight', file), [out6, c5, 7, 7], [4, null, 3, 3]);
  found.set('base.conv6.weight', { ...w6, from: 'classifier.0.weight' });
  const b6 = decimate(floatValues(fc6b, 'classifier.0.bias', file), fc6b.shape, [4]);
  found.set('base.conv6.bias', { ...b6, from: 'classifier.0.bias' });
  if (fc7.shape.length !== 2) {
    problems.push(`'classifier.3.weight' has shape [${fc7.shape}], fc7 of vgg16 is [4096, 4096]`);
    return;
  }
  const w7 = decimate(floatValues(fc7, 'classifier.3.weight', file), [fc7.shape[0]!, fc7.shape[1]!, 1, 1], [4, 4, null, null]);
  found.set('base.conv7.weight', { ...w7, from: 'classifier.3.weight' });
  const b7 = decimate(floatValues(fc7b, 'classifier.3.bias', file), fc7b.shape, [4]);
  found.set('base.conv7.bias', { ...b7, from: 'classifier.3.bias' });
}

