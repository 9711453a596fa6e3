// Runs a verb's Command in this process, as src/cli/main.ts would, with what it prints to stdout captured.
import type { Command } from '../../src/cli/command.js';

/** The verb's exit code and its console.log lines, joined. */
export async function runVerb(command: Command, argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(' '));
  try {
    return { code: await command.run(argv), out: lines.join('\n') };
  } finally {
    console.log = log;
  }
}
