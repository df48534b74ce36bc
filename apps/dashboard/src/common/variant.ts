/**
 * A variant = one (module, position) cell of the ablation matrix; the baseline has both null.
 * Its key in URLs and the API: `baseline`, or `<module>@<position>` (split at the first `@`;
 * an empty position means null).
 */

export const BASELINE_KEY = 'baseline';

export function variantKey(module: string | null, position: string | null): string {
  return module === null ? BASELINE_KEY : `${module}@${position ?? ''}`;
}

export function parseVariantKey(key: string): { module: string | null; position: string | null } | null {
  if (key === BASELINE_KEY) return { module: null, position: null };
  const at = key.indexOf('@');
  if (at <= 0) return null;
  const position = key.slice(at + 1);
  return { module: key.slice(0, at), position: position === '' ? null : position };
}

export function variantLabel(module: string | null, position: string | null): string {
  return module === null ? 'baseline' : position === null ? module : `${module} @ ${position}`;
}
