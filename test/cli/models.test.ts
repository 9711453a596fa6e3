// `ssd models`: every model listed with its figures; the JSON and the table agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatModels } from '../../src/cli/models.js';
import { familyStats } from '../../src/nn/stats.js';
import { priorCount } from '../../src/boxes/priors.js';
import { MODELS } from '../../src/nn/models/index.js';

test('ssd models lists the family with parameters, GMAC and priors', () => {
  const rows = familyStats(20);
  assert.deepEqual(rows.map((r) => r.name), [...MODELS.keys()]);
  assert.deepEqual(rows.map((r) => r.name).sort(), ['ssd-tiny', 'ssd300', 'ssd512', 'ssdlite320-mobilenetv2']);
  const by = new Map(rows.map((r) => [r.name, r]));
  assert.equal(by.get('ssd300')!.priors, 8732);
  assert.equal(by.get('ssd512')!.priors, 24564);
  assert.equal(by.get('ssdlite320-mobilenetv2')!.priors, 3234);
  for (const r of rows) {
    assert.equal(r.priors, priorCount(MODELS.get(r.name)!.build(21).priors));
    assert.ok(r.parameters > 0 && r.gmac > 0);
  }
  // Cost order: the VGG models dwarf the mobile ones; SSD512 costs about (512/300)^2 of SSD300's base.
  assert.ok(by.get('ssd512')!.gmac > 2.5 * by.get('ssd300')!.gmac);
  assert.ok(by.get('ssd300')!.gmac > 30 * by.get('ssdlite320-mobilenetv2')!.gmac);
  assert.ok(by.get('ssdlite320-mobilenetv2')!.gmac > by.get('ssd-tiny')!.gmac);
  // Fewer classes: smaller heads only.
  const five = new Map(familyStats(5).map((r) => [r.name, r]));
  for (const [name, r] of by) {
    assert.ok(five.get(name)!.parameters < r.parameters, name);
    assert.equal(five.get(name)!.priors, r.priors, name);
  }
  const table = formatModels(rows).split('\n');
  assert.equal(table.length, rows.length + 1);
  rows.forEach((r, i) => {
    assert.ok(table[i + 1]!.startsWith(r.name));
    assert.ok(table[i + 1]!.includes(` ${r.priors} `));
    assert.ok(table[i + 1]!.includes(`${(r.parameters / 1e6).toFixed(2)} M`));
  });
});
