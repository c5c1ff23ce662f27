/** "Did you mean …?" for a mistyped flag, config key, workload or protocol name (memproxy, cleave-load). */

/** Edits (insert, delete, substitute, swap two neighbours) that turn a into b. */
export function editDistance(a: string, b: string): number {
  // Three rows of the Damerau-Levenshtein (optimal string alignment) table.
  let older = new Array<number>(b.length + 1).fill(0);
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  let cur = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, older[j - 2]! + 1);
      cur[j] = d;
    }
    [older, prev, cur] = [prev, cur, older];
  }
  return prev[b.length]!;
}

/**
 * The candidate `word` most likely meant, compared without case, '-' and '_'
 * (keylength and key_length find key-length): the only candidate that `word`
 * begins (`prot` finds protocol), otherwise the nearest when at most a third
 * of it (and at least 2 letters) differs; else none.
 */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const bare = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const w = bare(word);
  const begun = w.length >= 2 ? candidates.filter((c) => bare(c).startsWith(w)) : [];
  if (begun.length === 1) return begun[0];
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(w.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(w, bare(c));
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}
