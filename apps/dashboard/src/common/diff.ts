/**
 * A line diff (longest common subsequence), for the trial page's model YAML against the baseline's.
 * O(n*m) time and memory, fine for model files (tens of lines); larger inputs fall back to a plain
 * "all removed / all added" diff past `maxCells`.
 */

export interface DiffLine {
  op: ' ' | '-' | '+';
  text: string;
  /** 1-based line numbers in a (old) and b (new); null on the side the line is absent. */
  a: number | null;
  b: number | null;
}

export function diffLines(a: string, b: string, maxCells = 4_000_000): DiffLine[] {
  const x = a.split('\n');
  const y = b.split('\n');
  if (x.length * y.length > maxCells) {
    return [
      ...x.map((text, i): DiffLine => ({ op: '-', text, a: i + 1, b: null })),
      ...y.map((text, j): DiffLine => ({ op: '+', text, a: null, b: j + 1 })),
    ];
  }
  const n = x.length;
  const m = y.length;
  // lcs[i][j] = LCS length of x[i..] and y[j..]; flat array of (n+1) x (m+1).
  const w = m + 1;
  const lcs = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * w + j] = x[i] === y[j] ? lcs[(i + 1) * w + j + 1] + 1 : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) {
      out.push({ op: ' ', text: x[i], a: i + 1, b: j + 1 });
      i++;
      j++;
    } else if (lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]) {
      out.push({ op: '-', text: x[i], a: i + 1, b: null });
      i++;
    } else {
      out.push({ op: '+', text: y[j], a: null, b: j + 1 });
      j++;
    }
  }
  for (; i < n; i++) out.push({ op: '-', text: x[i], a: i + 1, b: null });
  for (; j < m; j++) out.push({ op: '+', text: y[j], a: null, b: j + 1 });
  return out;
}
