import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './command.js';

/** The flags a verb accepts, as node's `util.parseArgs` describes them. */
export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

/** What a verb's arguments parse to. */
export interface VerbArgs {
  values: Record<string, string | boolean | Array<string | boolean> | undefined>;
  positionals: string[];
}

/**
 * Parses a verb's arguments with node's own parser; unknown flags and missing values
 * become a UsageError that names the verb.
 */
export function parseVerbArgs(verb: string, argv: string[], options: FlagSpec): VerbArgs {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    return { values: values as VerbArgs['values'], positionals };
  } catch (e) {
    throw new UsageError(`ssd ${verb}: ${(e as Error).message}`);
  }
}

/** A string flag's value, or undefined; a flag given twice keeps the last. */
export function stringFlag(args: VerbArgs, flag: string): string | undefined {
  const v = args.values[flag];
  if (Array.isArray(v)) return v.length ? String(v[v.length - 1]) : undefined;
  return typeof v === 'string' ? v : undefined;
}

/** A boolean flag's value. */
export function booleanFlag(args: VerbArgs, flag: string): boolean {
  return args.values[flag] === true;
}

/** Reads a numeric flag, with a clear error when it is not a finite number in range. */
export function numberFlag(verb: string, flag: string, value: string | undefined, fallback: number, min = -Infinity, max = Infinity): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`ssd ${verb}: --${flag} must be a number in [${min}, ${max}], got '${value}'`);
  }
  return n;
}

/** Reads an integer flag, with a clear error when it is not a whole number in range. */
export function intFlag(verb: string, flag: string, value: string | undefined, fallback: number, min = -Infinity, max = Infinity): number {
  const n = numberFlag(verb, flag, value, fallback, min, max);
  if (!Number.isInteger(n)) throw new UsageError(`ssd ${verb}: --${flag} must be a whole number, got '${value}'`);
  return n;
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** Reads a size flag (bytes, or with K, M, G: binary multiples, e.g. 512M, 4G); undefined when not given. */
export function sizeFlag(verb: string, flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(value.trim());
  const bytes = m ? Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toUpperCase()]!) : NaN;
  if (!(bytes >= 1) || !Number.isSafeInteger(bytes)) throw new UsageError(`ssd ${verb}: --${flag} must be a size such as 500M or 4G, got '${value}'`);
  return bytes;
}
