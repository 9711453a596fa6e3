// A benchmark script's whole-number flag (--repeat, --warmup, --blocks ...), checked.

/** `--<flag>`'s value as a whole number >= 1, or `fallback` when the flag is absent. */
export function countFlag(flag: string, value: string | undefined, fallback: number): number {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a whole number >= 1, got '${value}'`);
  return n;
}
