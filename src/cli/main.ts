#!/usr/bin/env node
import type { Command } from './command.js';
import { UsageError } from './command.js';
import { nearest } from './suggest.js';
import { packageVersion } from './version.js';

/** Every verb, loaded only when typed so that `ssd --help` starts fast. Add a verb: one line here, one file beside. */
const verbs: Record<string, () => Promise<{ command: Command }>> = {
  detect: () => import('./detect.js'),
  export: () => import('./export.js'),
  train: () => import('./train.js'),
  eval: () => import('./eval.js'),
  serve: () => import('./serve.js'),
  models: () => import('./models.js'),
  priors: () => import('./priors.js'),
  demo: () => import('./demo.js'),
  import: () => import('./import.js'),
  bench: () => import('./bench.js'),
  quantize: () => import('./quantize.js'),
};

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') {
    const lines = ['usage: ssd <verb> [options]   (ssd <verb> --help for details; ssd --version)', ''];
    for (const name of Object.keys(verbs)) {
      const { command } = await verbs[name]!();
      lines.push(`  ${name.padEnd(10)} ${command.summary}`);
    }
    console.log(lines.join('\n'));
    return verb === undefined ? 2 : 0;
  }
  if (verb === '--version' || verb === '-v') {
    console.log(packageVersion());
    return 0;
  }
  const load = verbs[verb];
  if (load === undefined) {
    const best = nearest(verb, Object.keys(verbs));
    throw new UsageError(`ssd: unknown verb '${verb}'; ${best !== undefined ? `did you mean ${best}? ` : ''}the verbs: ${Object.keys(verbs).join(', ')}`);
  }
  const { command } = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.help);
    return 0;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(err.message);
      process.exitCode = 2;
    } else {
      // Errors that name a file or field are written for users: show the message, not the stack.
      console.error(`ssd: ${err instanceof Error ? err.message : String(err)}`);
      if (process.env.SSD_DEBUG) console.error(err);
      process.exitCode = 1;
    }
  },
);
