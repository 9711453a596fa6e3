import type { ParseArgsConfig } from 'node:util';

/** The flags a verb accepts, as node's `util.parseArgs` describes them. */
export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

/** One verb of the `ssd` command line: it parses its own arguments and calls the library API. */
export interface Command {
  /** The verb as typed: `ssd <name> ...`. */
  readonly name: string;
  /** One line for `ssd --help`. */
  readonly summary: string;
  /** The full `ssd <name> --help` text; it ends with examples. */
  readonly help: string;
  /** The flags it accepts (`--help` aside), as node's parseArgs takes them. */
  readonly flags: FlagSpec;
  /** Runs the verb; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** An error in what the user typed: printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
