// Every verb's --help: it names every flag the verb takes, lists every model of the registry where the verb takes
// --model, and ends with examples that the verb's own parser accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseVerbArgs } from '../../src/cli/args.js';
import { MODELS } from '../../src/nn/models/index.js';
import { allVerbs } from './verbs.js';

/** Shell words of an example line (no quoting in the examples). */
const words = (line: string): string[] => line.trim().split(/\s+/);

test('every verb describes each of its flags, lists the registry models where it takes --model, and ends with examples its parser accepts', async () => {
  for (const [verb, command] of await allVerbs()) {
    for (const flag of Object.keys(command.flags)) assert.match(command.help, new RegExp(`--${flag}\\b`), `ssd ${verb} --help does not describe --${flag}`);
    if ('model' in command.flags) for (const name of MODELS.keys()) assert.ok(command.help.includes(name), `ssd ${verb} --help does not list the model ${name}`);
    const blocks = command.help.trimEnd().split(/\n\s*\n/);
    const last = blocks[blocks.length - 1]!.split('\n');
    assert.match(last[0]!, /^examples?$/, `ssd ${verb} --help does not end with examples`);
    const examples = last.slice(1);
    assert.ok(examples.length > 0, `ssd ${verb} --help: no examples`);
    for (const line of examples) {
      const [ssd, v, ...args] = words(line);
      assert.deepEqual([ssd, v], ['ssd', verb], `ssd ${verb} --help: '${line.trim()}' is not an ssd ${verb} command`);
      assert.doesNotThrow(() => parseVerbArgs(verb, args, command.flags), `ssd ${verb} --help: '${line.trim()}'`);
    }
  }
});
