/**
 * The sections of an experiment file that need more than a field table: the model (a built-in name
 * or a YAML file), the data (a data.yaml path or synthetic options) and the factors of the sweep
 * (modules against the registry, positions). Each adds its problems to the source's list.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  BUILTIN_YAMLS,
  guessModelScale,
  type InsertPosition,
  loadModelYaml,
  type ModuleRegistry,
  parsePretrained,
  pinModelScale,
} from '@ablate/yolov8';
import type { DataChoice, Experiment, ModuleChoice, PositionChoice, PretrainedChoice } from './experiment.js';
import { MODULE_ENTRY_FIELDS, NAMED_POSITIONS, POSITION_FORMS, SWEEP_FIELDS, SYNTHETIC_FIELDS, TOP_FIELDS } from './experiment-fields.js';
import { closest } from './suggest.js';
import { keyName, show, type YamlSource } from './yaml-source.js';

/** Where relative paths are looked up: the experiment file's folder first, then the current directory. */
export interface Dirs {
  baseDir: string;
  cwd: string;
}

export function parseModel(src: YamlSource, written: unknown, dirs: Dirs): Experiment['model'] | undefined {
  const { problems, lineOf } = src;
  const { baseDir, cwd } = dirs;
  let model: Experiment['model'] | undefined;
  if (typeof written === 'string') {
    const found = [path.resolve(baseDir, written), path.resolve(cwd, written)].find((p) => fs.existsSync(p) && fs.statSync(p).isFile());
    try {
      if (found) {
        const t = fs.readFileSync(found, 'utf8');
        loadModelYaml(t); // validates the top-level structure
        model = { written, source: found, text: t };
      } else {
        const loaded = loadModelYaml(written);
        model = { written, source: loaded.source, text: loaded.text ?? '' };
      }
      const scale = guessModelScale(written);
      model.text = pinModelScale(model.text, scale);
    } catch (e) {
      const builtins = Object.keys(BUILTIN_YAMLS)
        .flatMap((k) => ['n', 's', 'm', 'l', 'x'].map((s) => k.replace(/(\d+)/, `$1${s}`)))
        .join(', ');
      problems.push({
        line: lineOf(['model']),
        key: 'model',
        message: found
          ? `the model file ${found} is not a valid model YAML: ${(e as Error).message}.`
          : `"${written}" is neither a built-in model (${builtins}) nor an existing file (looked in ${baseDir} and ${cwd}).`,
      });
    }
  }
  return model;
}

export function parseData(src: YamlSource, written: unknown, dirs: Dirs): DataChoice | undefined {
  const { problems, lineOf, keyLine, checkMap } = src;
  const { baseDir, cwd } = dirs;
  let data: DataChoice | undefined;
  const rawData = written ?? { synthetic: {} };
  if (typeof rawData === 'string') {
    const candidates = [path.resolve(baseDir, rawData), path.resolve(cwd, rawData)];
    const found = candidates.find((p) => fs.existsSync(p));
    if (!found) {
      problems.push({
        line: lineOf(['data']),
        key: 'data',
        message: `the data set "${rawData}" does not exist (looked for ${[...new Set(candidates)].join(' and ')}); expected ${TOP_FIELDS.data.expect}.`,
      });
    } else {
      const yamlFile = fs.statSync(found).isDirectory() ? path.join(found, 'data.yaml') : found;
      if (!fs.existsSync(yamlFile)) {
        problems.push({
          line: lineOf(['data']),
          key: 'data',
          message: `${found} is a folder without a data.yaml; expected ${TOP_FIELDS.data.expect}.`,
        });
      } else data = { kind: 'ultralytics', path: yamlFile };
    }
  } else if (rawData !== null && typeof rawData === 'object' && !Array.isArray(rawData)) {
    const keys = Object.keys(rawData);
    if (keys.length !== 1 || keys[0] !== 'synthetic') {
      const bad = keys.find((k) => k !== 'synthetic') ?? '';
      const guess = closest(bad, ['synthetic']);
      problems.push({
        line: bad ? keyLine(['data'], bad) : lineOf(['data']),
        key: bad ? `data.${bad}` : 'data',
        message: bad
          ? `unknown key \`${bad}\` in data${guess ? '; did you mean `synthetic`?' : '.'} Expected ${TOP_FIELDS.data.expect}.`
          : `expected ${TOP_FIELDS.data.expect}; got an empty mapping.`,
      });
    } else {
      const syn = (rawData as Record<string, unknown>).synthetic ?? {};
      const o = checkMap(
        syn,
        SYNTHETIC_FIELDS,
        ['data', 'synthetic'],
        `a mapping of synthetic-data options {${Object.keys(SYNTHETIC_FIELDS).join(', ')}}`,
      );
      if (o) data = { kind: 'synthetic', options: o };
    }
  } else {
    problems.push({ line: lineOf(['data']), key: 'data', message: `expected ${TOP_FIELDS.data.expect}; got ${show(rawData)}.` });
  }
  return data;
}

export function parseFactors(
  src: YamlSource,
  written: unknown,
  registry: ModuleRegistry,
): { modules: ModuleChoice[]; positions: PositionChoice[] } {
  const { problems, lineOf, checkMap } = src;
  const modules: ModuleChoice[] = [];
  const positions: PositionChoice[] = [];
  if (written !== undefined && written !== null) {
    const sw = checkMap(written, SWEEP_FIELDS, ['sweep'], TOP_FIELDS.sweep.expect);
    if (sw) {
      // `module: []` (a seed-noise study: the baseline alone) needs no positions.
      if (Array.isArray(sw.module) && sw.module.length > 0 && !Array.isArray(sw.position)) {
        problems.push({
          line: lineOf(['sweep']),
          key: 'sweep.position',
          message: `the key \`position\` is missing in sweep: expected ${SWEEP_FIELDS.position.expect}.`,
        });
      }
      if (Array.isArray(sw.position) && !Array.isArray(sw.module)) {
        problems.push({
          line: lineOf(['sweep']),
          key: 'sweep.module',
          message: `the key \`module\` is missing in sweep: expected ${SWEEP_FIELDS.module.expect}.`,
        });
      }
      (Array.isArray(sw.module) ? sw.module : []).forEach((m, i) => {
        const at = ['sweep', 'module', i];
        let name: unknown = m;
        let args: ModuleChoice['args'] = null;
        if (m !== null && typeof m === 'object' && !Array.isArray(m)) {
          const e = checkMap(m, MODULE_ENTRY_FIELDS, at, 'a module entry {name, args}', ['name']);
          if (!e || typeof e.name !== 'string') return;
          name = e.name;
          args = (e.args as ModuleChoice['args']) ?? null;
        }
        if (typeof name !== 'string' || !name) {
          problems.push({ line: lineOf(at), key: keyName(at), message: `expected a module name or {name, args}; got ${show(m)}.` });
          return;
        }
        const canonical = registry.canonicalName(name);
        if (!canonical) {
          const known = registry.names();
          const guess = closest(name, registry.allNames());
          problems.push({
            line: lineOf(typeof m === 'string' ? at : [...at, 'name']),
            key: keyName(at),
            message: `unknown module "${name}"${guess ? `; did you mean "${guess}"?` : '.'} Known modules (YOLOv8 built-ins and attention plugins): ${known.join(', ')}.`,
          });
          return;
        }
        modules.push({ name: canonical, written: name, args });
      });
      (Array.isArray(sw.position) ? sw.position : []).forEach((p, i) => {
        const at = ['sweep', 'position', i];
        const r = parsePosition(p);
        if ('error' in r) {
          problems.push({ line: lineOf(at), key: keyName(at), message: r.error });
          return;
        }
        if (positions.some((q) => q.label === r.label)) {
          problems.push({ line: lineOf(at), key: keyName(at), message: `position ${r.label} is listed twice.` });
          return;
        }
        positions.push(r);
      });
      const seen = new Set<string>();
      modules.forEach((m, i) => {
        const k = `${m.name} ${JSON.stringify(m.args)}`;
        if (seen.has(k))
          problems.push({
            line: lineOf(['sweep', 'module', i]),
            key: `sweep.module[${i}]`,
            message: `module ${m.name} with these args is listed twice.`,
          });
        seen.add(k);
      });
    }
  }
  return { modules, positions };
}

/**
 * Parses one position entry: a position, or a list of positions applied together (`[residual, neck]`;
 * the string `all-four` is residual + pre-SPPF + neck + pre-head). A combination's label is its
 * positions' labels joined by `+` (`residual+neck`).
 */
export function parsePosition(p: unknown): PositionChoice | { error: string } {
  const known = `Known positions: ${POSITION_FORMS.join(', ')}, or a list of them applied together ([residual, neck]; all-four).`;
  if (p === 'all-four') p = [...NAMED_POSITIONS];
  if (Array.isArray(p)) {
    if (p.length === 0) return { error: `an empty list of positions. ${known}` };
    const parts: PositionChoice[] = [];
    for (const q of p) {
      if (Array.isArray(q) || q === 'all-four')
        return { error: `a combined position lists single positions; got ${show(q)} inside ${show(p)}.` };
      const r = parsePosition(q);
      if ('error' in r) return { error: `in the combination ${JSON.stringify(p)}: ${r.error}` };
      if (parts.some((x) => x.label === r.label))
        return { error: `position ${r.label} is listed twice in the combination ${JSON.stringify(p)}.` };
      parts.push(r);
    }
    if (parts.length === 1) return parts[0];
    return { position: parts.map((x) => x.position as InsertPosition), label: parts.map((x) => x.label).join('+') };
  }
  if (typeof p === 'string') {
    if ((NAMED_POSITIONS as readonly string[]).includes(p)) return { position: p as InsertPosition, label: p };
    const guess = closest(p, NAMED_POSITIONS);
    return { error: `unknown position "${p}"${guess ? `; did you mean "${guess}"?` : '.'} ${known}` };
  }
  if (p !== null && typeof p === 'object' && !Array.isArray(p)) {
    const keys = Object.keys(p);
    const k = keys[0];
    if (keys.length === 1 && (k === 'after' || k === 'residual')) {
      const v = (p as Record<string, unknown>)[k];
      const okInt = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 0;
      if (okInt(v)) return { position: { [k]: v } as InsertPosition, label: `${k}:${v}` };
      if (Array.isArray(v) && v.length && v.every(okInt)) {
        return { position: { [k]: v } as InsertPosition, label: `${k}:[${(v as number[]).join(',')}]` };
      }
      return { error: `{${k}: ...} expects a layer index >= 0 or a non-empty list of them; got ${show(v)}. ${known}` };
    }
    const bad = keys.find((x) => x !== 'after' && x !== 'residual');
    const guess = bad ? closest(bad, ['after', 'residual']) : undefined;
    return {
      error: `unknown position ${JSON.stringify(p)}${guess ? `; did you mean \`${guess}\`?` : '.'} ${known}`,
    };
  }
  return { error: `expected a position; got ${show(p)}. ${known}` };
}

/**
 * `pretrained:` — one checkpoint for every trial, `none`, or a list of them (a sweep factor). Each file
 * is resolved (experiment folder, then the current directory), read, checked to be a checkpoint of YOLOv8
 * layers, and hashed (sha256: part of the trial id). `key` names the option in messages (`pretrained` or
 * `--pretrained`).
 */
export function parsePretrainedKey(
  src: Pick<YamlSource, 'problems' | 'lineOf'>,
  written: unknown,
  dirs: Dirs,
  key = 'pretrained',
): PretrainedChoice[] {
  const { problems, lineOf } = src;
  if (written === undefined) return [null];
  const list = Array.isArray(written) ? written : [written];
  if (Array.isArray(written) && written.length === 0) {
    problems.push({ line: lineOf([key]), key, message: `expected ${TOP_FIELDS.pretrained.expect}; got an empty list.` });
    return [null];
  }
  const out: PretrainedChoice[] = [];
  list.forEach((w, i) => {
    const at = Array.isArray(written) ? [key, i] : [key];
    const shownKey = Array.isArray(written) ? `${key}[${i}]` : key;
    if (w === null || w === 'none') {
      if (out.includes(null)) problems.push({ line: lineOf(at), key: shownKey, message: 'none is listed twice.' });
      else out.push(null);
      return;
    }
    if (typeof w !== 'string' || !w) {
      problems.push({ line: lineOf(at), key: shownKey, message: `expected ${TOP_FIELDS.pretrained.expect}; got ${show(w)}.` });
      return;
    }
    const candidates = [...new Set([path.resolve(dirs.baseDir, w), path.resolve(dirs.cwd, w)])];
    const found = candidates.find((p) => fs.existsSync(p));
    if (!found) {
      problems.push({
        line: lineOf(at),
        key: shownKey,
        message: `the checkpoint file "${w}" does not exist (looked for ${candidates.join(' and ')}); expected ${TOP_FIELDS.pretrained.expect}.`,
      });
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = fs.readFileSync(found);
      parsePretrained(bytes, found);
    } catch (e) {
      const msg = (e as NodeJS.ErrnoException).code ? `cannot be read (${(e as NodeJS.ErrnoException).code})` : (e as Error).message;
      problems.push({
        line: lineOf(at),
        key: shownKey,
        message: `the checkpoint file "${w}" ${msg.startsWith('cannot') ? msg : `is unusable: ${msg}`}.`,
      });
      return;
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (out.some((c) => c?.sha256 === sha256)) {
      problems.push({
        line: lineOf(at),
        key: shownKey,
        message: `the checkpoint "${w}" is listed twice (same sha256 ${sha256.slice(0, 12)}).`,
      });
      return;
    }
    out.push({ written: w, file: found, name: path.basename(found), sha256 });
  });
  return out.length ? out : [null];
}
