/** Edit distance (insertions, deletions, substitutions) between two strings. */
export function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

/**
 * The known name closest to a mistyped one, or undefined when none is close. Case, '-' and '_' are
 * ignored (maxconns, maxConns and max_conns all find max-conns); a name is close when at most a third
 * of it (and at least 2 letters) differs.
 */
export function nearest(typed: string, known: readonly string[]): string | undefined {
  const bare = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const t = bare(typed);
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(t.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(t, bare(k));
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}
