// "Did you mean ...?" for a mistyped flag or verb: the nearest valid name by edit distance (a swap of two
// neighbouring letters counts as one edit), or the one name the typed word begins.

/** Edits between `a` and `b`: insertions, deletions, substitutions and swaps of neighbours (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The name of `candidates` that `typed` most likely meant, or undefined when none is near: at most one edit in
 * three letters (at least one), or else the only candidate that starts with `typed` (3 letters or more).
 */
export function nearest(typed: string, candidates: Iterable<string>): string | undefined {
  const word = typed.toLowerCase();
  const limit = Math.max(1, Math.round(word.length / 3));
  const common = (c: string): number => {
    let i = 0;
    while (i < word.length && i < c.length && word[i] === c[i]) i++;
    return i;
  };
  // Nearest first; between equals, the one that shares the longer start with the word, then the shorter.
  const ranked = [...candidates]
    .map((c) => ({ c, d: editDistance(word, c.toLowerCase()), p: common(c.toLowerCase()) }))
    .sort((a, b) => a.d - b.d || b.p - a.p || a.c.length - b.c.length);
  if (ranked.length > 0 && ranked[0]!.d <= limit) return ranked[0]!.c;
  const prefixed = word.length >= 3 ? ranked.filter((r) => r.p === word.length) : [];
  return prefixed.length === 1 ? prefixed[0]!.c : undefined;
}
