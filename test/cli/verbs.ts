// Every verb of `ssd`, loaded as src/cli/main.ts loads them (its list is read from main.ts itself).
import { readFileSync } from 'node:fs';
import type { Command } from '../../src/cli/command.js';

/** The verbs named in src/cli/main.ts, each with its Command. */
export async function allVerbs(): Promise<Map<string, Command>> {
  const main = readFileSync(new URL('../../src/cli/main.ts', import.meta.url), 'utf8');
  const out = new Map<string, Command>();
  for (const m of main.matchAll(/^\s*(\w+): \(\) => import\('\.\/([\w-]+)\.js'\)/gm)) {
    const { command } = (await import(`../../src/cli/${m[2]}.js`)) as { command: Command };
    out.set(m[1]!, command);
  }
  if (out.size === 0) throw new Error('no verbs found in src/cli/main.ts');
  return out;
}
