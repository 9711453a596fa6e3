import { parseArgs } from 'node:util';
import { UsageError, type FlagSpec } from './command.js';
import { nearest } from './suggest.js';

export type { FlagSpec };

/** What a verb's arguments parse to. */
export interface VerbArgs {
  values: Record<string, string | boolean | Array<string | boolean> | undefined>;
  positionals: string[];
}

/**
 * Parses a verb's arguments with node's own parser; unknown flags and missing values become a UsageError that
 * names the verb, and an unknown flag gets the nearest valid one as a suggestion.
 */
export function parseVerbArgs(verb: string, argv: string[], options: FlagSpec): VerbArgs {
  const spec: FlagSpec = { ...options, help: { type: 'boolean', short: 'h' } };
  try {
    const { values, positionals } = parseArgs({ args: argv, options: spec, allowPositionals: true, strict: true });
    return { values: values as VerbArgs['values'], positionals };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const typed = err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /Unknown option '([^']+)'/.exec(err.message)?.[1] : undefined;
    if (typed !== undefined) throw new UsageError(unknownFlagMessage(verb, typed, Object.keys(spec)));
    throw new UsageError(`ssd ${verb}: ${err.message}`);
  }
}

/** `ssd train: unknown flag --epoch; did you mean --epochs?`, or a pointer to the verb's help when no flag is near. */
export function unknownFlagMessage(verb: string, typed: string, flags: readonly string[]): string {
  const flag = typed.split('=')[0]!;
  const best = flag.startsWith('--') ? nearest(flag.slice(2), flags) : undefined;
  return `ssd ${verb}: unknown flag ${flag}; ${best !== undefined ? `did you mean --${best}?` : `ssd ${verb} --help lists the flags`}`;
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

/**
 * `--max-pixels <MP>`: the largest image decoded, in megapixels, as pixels for src/io/image.ts; undefined when the
 * flag is absent (the library's default, 40).
 */
export function maxPixelsFlag(verb: string, args: VerbArgs): number | undefined {
  const v = stringFlag(args, 'max-pixels');
  return v === undefined ? undefined : Math.round(numberFlag(verb, 'max-pixels', v, 0, 0.001, 1000) * 1e6);
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
