// Mistyped flags and verbs get the nearest valid one: for every flag of every verb, a letter dropped, doubled or
// two letters swapped is suggested back; a word far from every flag gets a pointer to --help instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseVerbArgs } from '../../src/cli/args.js';
import { editDistance, nearest } from '../../src/cli/suggest.js';
import { allVerbs } from './verbs.js';

test('edit distance: insertions, deletions, substitutions and swaps of neighbours each count one', () => {
  assert.equal(editDistance('epoch', 'epochs'), 1);
  assert.equal(editDistance('wieghts', 'weights'), 1);
  assert.equal(editDistance('kitten', 'sitting'), 3); // the textbook pair
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(nearest('epoch', ['epochs', 'iterations', 'minutes']), 'epochs');
  assert.equal(nearest('max-over', ['max-overlap', 'max-pixels']), 'max-overlap', 'the only flag it begins');
  assert.equal(nearest('max', ['max-overlap', 'max-pixels']), undefined, 'two flags begin with it: no guess');
  assert.equal(nearest('colour', ['weights', 'out']), undefined);
});

test('ssd train --epoch 3: "unknown flag --epoch; did you mean --epochs?"', () => {
  assert.throws(() => parseVerbArgs('train', ['--epoch', '3'], { epochs: { type: 'string' }, iterations: { type: 'string' } }), {
    name: 'UsageError',
    message: 'ssd train: unknown flag --epoch; did you mean --epochs?',
  });
  assert.throws(() => parseVerbArgs('train', ['--epoch=3'], { epochs: { type: 'string' } }), { message: 'ssd train: unknown flag --epoch; did you mean --epochs?' });
  assert.throws(() => parseVerbArgs('train', ['--colour', 'red'], { epochs: { type: 'string' } }), { message: 'ssd train: unknown flag --colour; ssd train --help lists the flags' });
  assert.throws(() => parseVerbArgs('train', ['-x'], { epochs: { type: 'string' } }), { message: 'ssd train: unknown flag -x; ssd train --help lists the flags' });
});

test('every flag of every verb, mistyped three ways, is suggested back by that verb', async () => {
  let checked = 0;
  for (const [verb, command] of await allVerbs()) {
    const flags = Object.keys(command.flags);
    assert.ok(flags.length > 0, `ssd ${verb} declares no flags`);
    for (const flag of flags) {
      if (flag.length < 4) continue; // --lr, --at, --out: one edit away from too much
      const typos = [flag.slice(0, -1), flag.slice(0, 2) + flag[2] + flag.slice(2), flag[0] + flag[2] + flag[1] + flag.slice(3)];
      for (const typo of typos) {
        if (flags.includes(typo)) continue;
        await assert.rejects(command.run([`--${typo}`, 'x']), (e: Error) => e.name === 'UsageError' && e.message === `ssd ${verb}: unknown flag --${typo}; did you mean --${flag}?`, `ssd ${verb} --${typo}`);
        checked++;
      }
    }
  }
  assert.ok(checked > 200, `${checked} typos checked`);
});
