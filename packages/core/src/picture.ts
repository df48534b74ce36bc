/**
 * The JSON a module draws of itself (`ModuleSpec.inspect` in ./plugin.ts): sampling points, maps over
 * positions. Kept free of imports (a separate entry point, `@ablate/core/picture`) so that the stored
 * artefact format (@ablate/tracker) and the dashboard can name these types without loading the tensor code.
 */

/** A point on the module's input map: x, y as fractions of the map's width/height (0..1), and its weight. */
export type WeightedPoint = [x: number, y: number, weight: number];

/** What one head shows for one query: sampled points and/or a map over positions. */
export interface HeadPicture {
  label: string;
  points?: WeightedPoint[];
  /** Row-major [size[0] x size[1]] values over the map (attention weights or contributions). */
  map?: { size: [number, number]; values: number[] };
}

/**
 * A module's picture of itself (JSON, drawn by the dashboard over the input image; the map covers the
 * letterboxed image). `queries`: per query position the heads' pictures (DAttention's sampling points,
 * MSDeformAttn's, the per-query weights of FLA and CloFormer, A2's effective weights); `maps`: query-independent
 * maps (A2's gather maps).
 */
export interface ModuleInspection {
  kind: 'sampling-points' | 'attention-maps' | 'query-weights';
  /** [H, W] of the module's input map. */
  mapSize: [number, number];
  /** One line on what is drawn (units, what the weight means). */
  note: string;
  queries?: { x: number; y: number; heads: HeadPicture[] }[];
  maps?: { label: string; size: [number, number]; values: number[] }[];
}
