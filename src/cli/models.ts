// `ssd models`: the model family with parameters, GMAC and prior count.
import { booleanFlag, intFlag, parseVerbArgs, stringFlag, type FlagSpec } from './args.js';
import type { Command } from './command.js';
import { familyStats, type FamilyRow } from '../nn/stats.js';

const flags: FlagSpec = {
  classes: { type: 'string' },
  json: { type: 'boolean' },
};

const help = `usage: ssd models [--classes N] [--json]

Lists the models ssd-ts builds, with their input size, feature maps, parameters, multiply-accumulates of one
forward pass (GMAC, counted on the network's graph: every convolution) and number of priors.

  --classes <N>   object classes the heads predict, background not counted (default 20, Pascal VOC)
  --json          print a JSON array instead of the table (adding trainGmac: one training step of one image)

example
  ssd models --classes 5`;

/** The listing as an aligned text table. */
export function formatModels(rows: readonly FamilyRow[]): string {
  const header = ['model', 'input', 'maps', 'params', 'GMAC', 'priors', ''];
  const body = rows.map((r) => [
    r.name,
    `${r.inputSize.width}x${r.inputSize.height}`,
    r.featureMaps.join(','),
    `${(r.parameters / 1e6).toFixed(2)} M`,
    r.gmac.toFixed(r.gmac < 1 ? 3 : 1),
    String(r.priors),
    r.summary,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 3 || i === 4 || i === 5 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...body.map(line)].join('\n');
}

export const command: Command = {
  name: 'models',
  summary: 'list the models (parameters, GMAC, priors)',
  help,
  flags,
  async run(argv) {
    const args = parseVerbArgs('models', argv, flags);
    const classes = intFlag('models', 'classes', stringFlag(args, 'classes'), 20, 1, 10000);
    const rows = familyStats(classes);
    if (booleanFlag(args, 'json')) console.log(JSON.stringify(rows, null, 2));
    else console.log(`${formatModels(rows)}\n(${classes} classes + background; GMAC per image, one forward pass)`);
    return 0;
  },
};
