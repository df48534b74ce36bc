/**
 * The Pareto front of points where both coordinates have a preferred direction (e.g. maximise
 * mAP and FPS; maximise mAP, minimise GFLOPs): the points no other point dominates, sorted by x.
 */

export interface Pt {
  x: number;
  y: number;
}

/** Whether p dominates q: at least as good in both, strictly better in one. */
export function dominates(p: Pt, q: Pt, maxX: boolean, maxY: boolean): boolean {
  const bx = maxX ? p.x >= q.x : p.x <= q.x;
  const by = maxY ? p.y >= q.y : p.y <= q.y;
  const sx = maxX ? p.x > q.x : p.x < q.x;
  const sy = maxY ? p.y > q.y : p.y < q.y;
  return bx && by && (sx || sy);
}

/** Indices of the non-dominated points (finite ones only), sorted by x ascending. */
export function paretoFront(points: Pt[], maxX: boolean, maxY: boolean): number[] {
  const ok = points.map((p, i) => ({ p, i })).filter(({ p }) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const front = ok.filter(({ p }) => !ok.some(({ p: q }) => dominates(q, p, maxX, maxY)));
  return front.sort((a, b) => a.p.x - b.p.x || a.p.y - b.p.y).map(({ i }) => i);
}
