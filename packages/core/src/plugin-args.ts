/**
 * Reading YAML args in module plugins: the values people write in Ultralytics YAML (`None`, `True`,
 * `1`), checked with errors that name the module, where it stands and what was expected.
 */
import type { ChannelContext } from './plugin.js';

/** `None`/`null`/absent. */
export function yamlIsNone(v: unknown): boolean {
  return v === undefined || v === null || v === 'None' || v === 'null';
}

/** A YAML mapping (`{key: value}`). */
export function yamlIsMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A boolean as YAML writes it: true/false, True/False, 1/0. */
export function yamlBool(owner: string, v: unknown, what: string, where: string): boolean {
  if (v === true || v === 1 || v === 'True' || v === 'true') return true;
  if (v === false || v === 0 || v === 'False' || v === 'false') return false;
  throw new Error(`${owner} at ${where}: ${what} must be a boolean (true/false/1/0), got ${JSON.stringify(v)}`);
}

/** An integer >= min (default 1: "a positive integer"). */
export function yamlInt(owner: string, v: unknown, what: string, where: string, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    const want = min === 1 ? 'a positive integer' : `an integer >= ${min}`;
    throw new Error(`${owner} at ${where}: ${what} must be ${want}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** A finite number. */
export function yamlNumber(owner: string, v: unknown, what: string, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new Error(`${owner} at ${where}: ${what} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Checks an optional leading channel count of a shape-preserving module against its input channels:
 * accepted as written or after Conv-style width scaling; anything else is an error (the input decides).
 */
export function checkChannelArg(owner: string, v: unknown, ctx: ChannelContext): void {
  if (yamlIsNone(v)) return;
  const c1 = ctx.inputChannels[0];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new Error(`${owner} at ${ctx.where}: the first YAML arg is a channel count, got ${JSON.stringify(v)}`);
  }
  const scaled = ctx.scaleChannels(v);
  if (v !== c1 && scaled !== c1) {
    throw new Error(
      `${owner} at ${ctx.where}: YAML channel count ${v} (width-scaled: ${scaled}) contradicts the input's ${c1} channels; ` +
        `write ${c1} (or the unscaled value), or omit it (the module is c -> c, the input decides)`,
    );
  }
}
