/**
 * The synthetic data set's drawing kit: shape geometry (polygons and ellipses in image pixels), an
 * inside test, and a 2x2-supersampled coverage rasteriser. Pure JS, deterministic.
 */

/** Pixel-space geometry of one drawn shape: a polygon (even-odd fill) or a rotated ellipse. */
export type Geometry =
  | { kind: 'polygon'; points: number[] /* x0, y0, x1, y1, ... */ }
  | { kind: 'ellipse'; cx: number; cy: number; rx: number; ry: number; angle: number }
  | { kind: 'ring'; cx: number; cy: number; r: number; thickness: number }
  | { kind: 'segment'; x0: number; y0: number; x1: number; y1: number; width: number };

/** Shape classes of the synthetic set, in class-id order. */
export const SHAPE_NAMES = ['circle', 'square', 'triangle', 'star', 'cross', 'hexagon'] as const;
export type ShapeName = (typeof SHAPE_NAMES)[number];

/** Unit outline (radius about 1, centred at 0) of a polygonal class; `jitter` in [-1, 1] varies it. */
function unitPolygon(name: ShapeName, aspect: number, jitter: number[]): number[] {
  const pts: number[] = [];
  const ring = (n: number, r: (k: number) => number, phase: number) => {
    for (let k = 0; k < n; k++) {
      const a = phase + (2 * Math.PI * k) / n;
      pts.push(r(k) * Math.cos(a), r(k) * Math.sin(a));
    }
  };
  switch (name) {
    case 'square': {
      const hx = 0.85;
      const hy = 0.85 * aspect;
      pts.push(-hx, -hy, hx, -hy, hx, hy, -hx, hy);
      break;
    }
    case 'triangle': {
      const r = 1.1;
      for (let k = 0; k < 3; k++) {
        const a = -Math.PI / 2 + (2 * Math.PI * k) / 3 + jitter[k] * 0.15;
        pts.push(r * Math.cos(a), r * Math.sin(a));
      }
      break;
    }
    case 'star':
      ring(10, (k) => (k % 2 === 0 ? 1.15 : 0.5), -Math.PI / 2);
      break;
    case 'hexagon':
      ring(6, () => 1, 0);
      break;
    case 'cross': {
      const a = 1;
      const b = 0.34;
      pts.push(-b, -a, b, -a, b, -b, a, -b, a, b, b, b, b, a, -b, a, -b, b, -a, b, -a, -b, -b, -b);
      break;
    }
    default:
      throw new Error(`unitPolygon: "${name}" is not a polygon class; known: square, triangle, star, hexagon, cross`);
  }
  return pts;
}

/** Pixel geometry of class `name` centred at (cx, cy), `radius` px, rotated by `angle` radians. */
export function shapeGeometry(
  name: ShapeName,
  cx: number,
  cy: number,
  radius: number,
  angle: number,
  aspect: number,
  jitter: number[],
): Geometry {
  if (name === 'circle') return { kind: 'ellipse', cx, cy, rx: radius, ry: radius * aspect, angle };
  const unit = unitPolygon(name, aspect, jitter);
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const points: number[] = [];
  for (let i = 0; i < unit.length; i += 2) {
    const x = unit[i] * radius;
    const y = unit[i + 1] * radius;
    points.push(cx + c * x - s * y, cy + s * x + c * y);
  }
  return { kind: 'polygon', points };
}

/** Whether the point (x, y) (pixel coordinates, pixel centres at +0.5) is inside the geometry. */
export function inside(g: Geometry, x: number, y: number): boolean {
  switch (g.kind) {
    case 'polygon': {
      const p = g.points;
      const n = p.length / 2;
      let c = false;
      for (let i = 0, j = n - 1; i < n; j = i++) {
        const xi = p[2 * i];
        const yi = p[2 * i + 1];
        const xj = p[2 * j];
        const yj = p[2 * j + 1];
        if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) c = !c;
      }
      return c;
    }
    case 'ellipse': {
      const dx = x - g.cx;
      const dy = y - g.cy;
      const c = Math.cos(g.angle);
      const s = Math.sin(g.angle);
      const u = (c * dx + s * dy) / g.rx;
      const v = (-s * dx + c * dy) / g.ry;
      return u * u + v * v <= 1;
    }
    case 'ring': {
      const d = Math.hypot(x - g.cx, y - g.cy);
      return Math.abs(d - g.r) <= g.thickness / 2;
    }
    case 'segment': {
      const vx = g.x1 - g.x0;
      const vy = g.y1 - g.y0;
      const len2 = vx * vx + vy * vy;
      const t = len2 > 0 ? Math.max(0, Math.min(1, ((x - g.x0) * vx + (y - g.y0) * vy) / len2)) : 0;
      const dx = x - (g.x0 + t * vx);
      const dy = y - (g.y0 + t * vy);
      return dx * dx + dy * dy <= (g.width / 2) ** 2;
    }
  }
}

/** Axis-aligned pixel bounds [x0, y0, x1, y1) of the geometry (unclipped). */
export function geometryBounds(g: Geometry): [number, number, number, number] {
  let a: number;
  let b: number;
  let c: number;
  let d: number;
  switch (g.kind) {
    case 'polygon': {
      a = Number.POSITIVE_INFINITY;
      b = Number.POSITIVE_INFINITY;
      c = Number.NEGATIVE_INFINITY;
      d = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < g.points.length; i += 2) {
        a = Math.min(a, g.points[i]);
        c = Math.max(c, g.points[i]);
        b = Math.min(b, g.points[i + 1]);
        d = Math.max(d, g.points[i + 1]);
      }
      break;
    }
    case 'ellipse': {
      const r = Math.max(g.rx, g.ry);
      [a, b, c, d] = [g.cx - r, g.cy - r, g.cx + r, g.cy + r];
      break;
    }
    case 'ring': {
      const r = g.r + g.thickness / 2;
      [a, b, c, d] = [g.cx - r, g.cy - r, g.cx + r, g.cy + r];
      break;
    }
    case 'segment': {
      const w = g.width / 2;
      [a, b, c, d] = [Math.min(g.x0, g.x1) - w, Math.min(g.y0, g.y1) - w, Math.max(g.x0, g.x1) + w, Math.max(g.y0, g.y1) + w];
      break;
    }
  }
  return [Math.floor(a), Math.floor(b), Math.ceil(c) + 1, Math.ceil(d) + 1];
}

/** Sub-pixel sample offsets of the 2x2 supersampling. */
export const SUBSAMPLES = [0.25, 0.75] as const;

/**
 * Coverage (0, 0.25, ..., 1) of every pixel in the bounds of `g`: returns the bounds clipped to the
 * image, the coverage over them, and the shape's full area in pixels (counting outside the image).
 */
export function rasterise(
  g: Geometry,
  width: number,
  height: number,
): { x0: number; y0: number; x1: number; y1: number; cov: Float32Array; fullArea: number; fullMaskPixels: number } {
  const [bx0, by0, bx1, by1] = geometryBounds(g);
  const x0 = Math.max(0, bx0);
  const y0 = Math.max(0, by0);
  const x1 = Math.min(width, bx1);
  const y1 = Math.min(height, by1);
  const w = Math.max(0, x1 - x0);
  const cov = new Float32Array(w * Math.max(0, y1 - y0));
  let fullArea = 0;
  let fullMaskPixels = 0;
  for (let y = by0; y < by1; y++) {
    for (let x = bx0; x < bx1; x++) {
      let n = 0;
      for (const sy of SUBSAMPLES) for (const sx of SUBSAMPLES) if (inside(g, x + sx, y + sy)) n++;
      if (n === 0) continue;
      fullArea += n / 4;
      if (n >= 2) fullMaskPixels++;
      if (x >= x0 && x < x1 && y >= y0 && y < y1) cov[(y - y0) * w + (x - x0)] = n / 4;
    }
  }
  return { x0, y0, x1, y1, cov, fullArea, fullMaskPixels };
}
