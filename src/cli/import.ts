// `ssd import`: PyTorch weights (.pth, .pth.tar; zip or legacy format) into an ssd-ts model file. Only parses
// arguments and calls importTorchWeights and writeImported (src/nn/import); the safe reading lives in src/io.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from './command.js';
import { UsageError } from './command.js';
import { booleanFlag, numberFlag, parseVerbArgs, sizeFlag, stringFlag, type FlagSpec } from './args.js';
import { IMPORT_SOURCES, importTorchWeights, writeImported, type ImportResult, type ImportSource } from '../nn/import/index.js';

const flags: FlagSpec = {
  out: { type: 'string', short: 'o' },
  from: { type: 'string' },
  classes: { type: 'string' },
  'allow-class': { type: 'string', multiple: true },
  half: { type: 'boolean' },
  width: { type: 'string' },
  'max-file-size': { type: 'string' },
  'max-inflated': { type: 'string' },
};

const help = `usage: ssd import <file.pth> --out <model.safetensors> [--from KIND] [--classes a,b,...] [--width W] [--half]

Converts PyTorch weights into an ssd-ts model file (safetensors, with the model config in its metadata).
Reads torch.save files in the zip format (PyTorch 1.6+) and the legacy format, with a safe unpickler that
runs nothing from the file: a file naming any function outside an allow-list (os.system, eval, ...) is refused.

kinds (detected from the file; --from says so where it cannot):
  tutorial             the SSD300 tutorial's checkpoint_ssd300.pth.tar (a pickled SSD300 model, VOC classes)
  state-dict           a plain SSD300 state_dict with the tutorial's names (base.conv1_1.weight, ...)
  vgg16                torchvision's ImageNet vgg16 weights: writes a base-only file (base.conv1_1 ..
                       base.conv7, fc6/fc7 decimated into conv6/conv7) for ssd train --pretrained-base
  torchvision-ssd300   torchvision's ssd300_vgg16 COCO weights: 91 COCO outputs, torchvision's priors and
                       input normalisation recorded in the model config
  mobilenet-v2         torchvision's ImageNet mobilenet_v2 weights: writes a base-only file (features.* as
                       backbone.features.*, batch-norm statistics included) for ssd train --model
                       ssdlite320-mobilenetv2 --pretrained-base

options:
  --out FILE           model file to write (required)
  --from KIND          one of ${IMPORT_SOURCES.join(', ')}
  --classes LIST       class names without background, comma-separated or @file (one per line);
                       default VOC's 20 for 21-class SSD300s, COCO's for torchvision, class1.. otherwise
  --allow-class NAME   also read pickled objects of class NAME (module.Class) as inert records
  --width W            width multiplier of a mobilenet-v2 file's network (default 1, torchvision's weights)
  --half               store the weights as float16 (half the file size)
  --max-file-size SIZE the largest file read (default 2G)
  --max-inflated SIZE  the most a compressed .pth may inflate to, all entries together (default 1G);
                       torch.save never compresses, so only a repacked file comes near it

examples
  ssd import checkpoint_ssd300.pth.tar --out ssd300-voc.safetensors
  ssd import vgg16-397923af.pth --out vgg16-base.safetensors
  ssd import ssd300_vgg16_coco-b556d3b4.pth --out ssd300-coco.safetensors --half`;

export const command: Command = {
  name: 'import',
  summary: 'convert PyTorch weights (tutorial, state_dict, torchvision ssd300, ImageNet vgg16 / mobilenet_v2) to a model file',
  help,
  flags,
  async run(argv: string[]): Promise<number> {
    const args = parseVerbArgs('import', argv, flags);
    if (args.positionals.length !== 1) throw new UsageError(`ssd import: give exactly one .pth file (got ${args.positionals.length}); see ssd import --help`);
    const file = args.positionals[0]!;
    const out = stringFlag(args, 'out');
    if (!out) throw new UsageError('ssd import: --out <model.safetensors> is required');
    const from = stringFlag(args, 'from');
    if (from !== undefined && !IMPORT_SOURCES.includes(from as ImportSource)) {
      throw new UsageError(`ssd import: --from '${from}' is not one of ${IMPORT_SOURCES.join(', ')}`);
    }
    const allow = args.values['allow-class'];
    const result = importTorchWeights(file, {
      from: from as ImportSource | undefined,
      classNames: parseClasses(stringFlag(args, 'classes')),
      allowClasses: Array.isArray(allow) ? allow.map(String) : undefined,
      width: numberFlag('import', 'width', stringFlag(args, 'width'), 1, 0.01, 4),
      maxBytes: sizeFlag('import', 'max-file-size', stringFlag(args, 'max-file-size')),
      maxInflatedBytes: sizeFlag('import', 'max-inflated', stringFlag(args, 'max-inflated')),
    });
    writeImported(result, out, { half: booleanFlag(args, 'half'), source: basename(file) });
    console.log(summary(result, file, out));
    return 0;
  },
};

function parseClasses(flag: string | undefined): string[] | undefined {
  if (flag === undefined) return undefined;
  const text = flag.startsWith('@') ? readFileSync(flag.slice(1), 'utf8') : flag;
  const names = text.split(flag.startsWith('@') ? /\r?\n/ : ',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length === 0) throw new UsageError('ssd import: --classes lists no class names');
  return names;
}

function summary(r: ImportResult, file: string, out: string): string {
  const lines = [`${file}: ${r.source}${r.epoch !== undefined ? `, epoch ${r.epoch}` : ''}`];
  if (r.source === 'vgg16') lines.push(`wrote ${out}: SSD300's VGG-16 base, ${r.weights.size} tensors (for ssd train --pretrained-base)`);
  else if (r.source === 'mobilenet-v2') {
    const buffers = [...r.weights.keys()].filter((k) => k.endsWith('.running_mean') || k.endsWith('.running_var')).length;
    lines.push(`wrote ${out}: SSDLite320-MobileNetV2's MobileNetV2 base, ${r.weights.size} tensors (${buffers} of them batch-norm running statistics; for ssd train --model ssdlite320-mobilenetv2 --pretrained-base)`);
  } else {
    const named = r.config.classNames.slice(1, 6).join(', ') + (r.config.classNames.length > 6 ? ', ...' : '');
    lines.push(`wrote ${out}: SSD300, ${r.weights.size} tensors, ${r.config.classNames.length - 1} classes (${named}), priors '${r.priorsName}'`);
  }
  // Tensors left out for one reason are listed once (MobileNetV2 has 52 batch counters).
  const byReason = new Map<string, string[]>();
  for (const u of r.unused) byReason.set(u.reason, [...(byReason.get(u.reason) ?? []), u.name]);
  for (const [reason, names] of byReason) {
    lines.push(`  not imported: ${names.length > 3 ? `${names.slice(0, 2).join(', ')} and ${names.length - 2} more like them` : names.join(', ')}: ${reason}`);
  }
  for (const n of r.notes) lines.push(`  note: ${n}`);
  if (r.postprocess) {
    lines.push(`  the source's own post-processing: --min-score ${r.postprocess.minScore} --max-overlap ${r.postprocess.maxOverlap} --top-k ${r.postprocess.topK}`);
  }
  return lines.join('\n');
}
