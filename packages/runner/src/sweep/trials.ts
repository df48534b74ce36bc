/**
 * Trial expansion: an experiment becomes a list of trials, the baseline (if asked) and every module at
 * every position, for every seed (seeds outermost, so a first pass over all variants finishes before
 * the second seed starts). Each trial's model YAML is the experiment's model with the module inserted
 * by `insertModule` of @ablate/yolov8, checked by `parseModel` (channel inference, module args) before
 * anything runs. The trial id is a short sha256 of the canonical JSON of the resolved configuration:
 * the same file on the same data gives the same ids, so completed trials are found and skipped.
 * `pretrained:` is a third factor: each variant once per checkpoint (and `none`), the checkpoint's sha256
 * in the id; a pretrained trial carries the insertion's index map so the worker can move the base
 * model's layers to their new indices.
 */
import { createHash } from 'node:crypto';
import type { TrainSettings } from '@ablate/train';
import { insertModuleMapped, type ModuleRegistry, parseModel } from '@ablate/yolov8';
import { parse as parseYaml } from 'yaml';
import {
  type Experiment,
  ExperimentError,
  type ModuleChoice,
  type PositionChoice,
  type PretrainedChoice,
  type Problem,
} from './experiment.js';

/** Bump when the meaning of a resolved configuration changes (new ids for every trial). */
export const TRIAL_FORMAT = 1;

export interface DataIdentity {
  fingerprint: string;
  description: string;
  nc: number;
  names: string[];
}

/** Training settings as @ablate/train's TrainSettings (Ultralytics names), seed included. */
/** A trial's training settings: exactly what `train()` of @ablate/train receives. */
export type ResolvedTrain = TrainSettings;

export interface ResolvedTrialConfig {
  format: number;
  module: { name: string; args: ModuleChoice['args'] } | null;
  position: string | null;
  seed: number;
  /** The model YAML after insertion (text, comments kept) and the class count it is built with. */
  model: { yaml: string; nc: number };
  data: DataIdentity & { kind: 'synthetic' | 'ultralytics'; source: unknown };
  train: ResolvedTrain;
  val: Experiment['val'];
  bench: Experiment['bench'];
  /** Resolved backend name (wasm, cpu, ...). */
  backend: string;
  /** The checkpoint the model starts from (absent: from scratch, so older trial ids stay the same). */
  pretrained?: { file: string; sha256: string };
}

export interface TrialSpec {
  id: string;
  /** Position in the sweep (0-based). */
  ordinal: number;
  /** `baseline` or `Module@position` (with args when a module appears with several). */
  variant: string;
  module: string | null;
  moduleArgs: ModuleChoice['args'];
  position: string | null;
  seed: number;
  modelYaml: string;
  config: ResolvedTrialConfig;
  /** Where the checkpoint lies and how to map it (only with a pretrained checkpoint). */
  pretrained?: {
    /** Absolute path (checked against config.pretrained.sha256 before loading). */
    path: string;
    /** The experiment's model YAML (the base architecture the checkpoint belongs to). */
    baseYaml: string;
    /** indexMap[i] = the variant's index of base layer i (absent: the baseline itself). */
    indexMap?: number[];
  };
}

/** JSON with object keys sorted at every level (stable across runs and machines). */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

/**
 * The trial id: 12 hex digits of sha256 over the canonical configuration. The model enters as its
 * parsed YAML (so comments and formatting do not change the id), the data as its fingerprint (not
 * where it lies), everything else as resolved.
 */
export function trialId(config: ResolvedTrialConfig): string {
  const { source: _where, ...data } = config.data;
  // a checkpoint enters by its content (sha256), not by its file name
  const pretrained = config.pretrained ? { sha256: config.pretrained.sha256 } : undefined;
  const identity = { ...config, data, pretrained, model: { ...config.model, yaml: parseYaml(config.model.yaml) } };
  return createHash('sha256').update(canonicalJson(identity)).digest('hex').slice(0, 12);
}

export function yamlArgs(args: ModuleChoice['args']): unknown[] {
  if (args === null || args === undefined) return [];
  return Array.isArray(args) ? [...args] : [args];
}

export interface ExpandOptions {
  registry: ModuleRegistry;
  data: DataIdentity & { kind: 'synthetic' | 'ultralytics'; source: unknown };
  backend: string;
  /** Overrides (CLI). */
  epochs?: number;
}

/** Expands the experiment into trials; module/position combinations that cannot be built are ExperimentErrors. */
export function expandTrials(exp: Experiment, opts: ExpandOptions): TrialSpec[] {
  const variants: {
    module: ModuleChoice | null;
    position: PositionChoice | null;
    modelYaml: string;
    variant: string;
    indexMap?: number[];
  }[] = [];
  const problems: Problem[] = [];
  if (exp.baseline) variants.push({ module: null, position: null, modelYaml: exp.model.text, variant: 'baseline' });
  const nameCount = new Map<string, number>();
  for (const m of exp.modules) nameCount.set(m.name, (nameCount.get(m.name) ?? 0) + 1);
  exp.modules.forEach((m, mi) => {
    exp.positions.forEach((p, pi) => {
      const label =
        nameCount.get(m.name)! > 1 && m.args !== null ? `${m.name}${JSON.stringify(m.args)}@${p.label}` : `${m.name}@${p.label}`;
      let yaml: string;
      let indexMap: number[];
      try {
        ({ yaml, indexMap } = insertModuleMapped(exp.model.text, { name: m.name, args: yamlArgs(m.args) }, p.position, {
          registry: opts.registry,
        }));
      } catch (e) {
        problems.push({
          line: exp.lineOf(['sweep', 'position', pi]),
          key: `sweep.position[${pi}]`,
          message: `${m.name} cannot be inserted at ${p.label} of ${exp.model.written}: ${(e as Error).message}.`,
        });
        return;
      }
      try {
        parseModel(yaml, opts.registry, { nc: opts.data.nc });
      } catch (e) {
        problems.push({
          line: exp.lineOf(['sweep', 'module', mi]),
          key: `sweep.module[${mi}]`,
          message: `${m.name} at ${p.label}: ${(e as Error).message}. Check the module's args (see its package README).`,
        });
        return;
      }
      variants.push({ module: m, position: p, modelYaml: yaml, variant: label, indexMap });
    });
  });
  if (problems.length) throw new ExperimentError(exp.shownFile, problems);

  const pretrained: PretrainedChoice[] = exp.pretrained?.length ? exp.pretrained : [null];
  const trials: TrialSpec[] = [];
  for (const seed of exp.seeds) {
    for (const v of variants) {
      for (const ck of pretrained) trials.push(trialOf(exp, opts, v, seed, ck, pretrainedTag(ck, pretrained), trials.length));
    }
  }
  return trials;
}

/** ` pretrained:<file name>` when the sweep has the factor (several choices), '' otherwise. */
function pretrainedTag(ck: PretrainedChoice, all: PretrainedChoice[]): string {
  if (!ck || all.length < 2) return '';
  const clash = all.some((o) => o && o !== ck && o.name === ck.name);
  return ` pretrained:${ck.name}${clash ? `@${ck.sha256.slice(0, 8)}` : ''}`;
}

function trialOf(
  exp: Experiment,
  opts: ExpandOptions,
  v: { module: ModuleChoice | null; position: PositionChoice | null; modelYaml: string; variant: string; indexMap?: number[] },
  seed: number,
  ck: PretrainedChoice,
  tag: string,
  ordinal: number,
): TrialSpec {
  const config: ResolvedTrialConfig = {
    format: TRIAL_FORMAT,
    module: v.module ? { name: v.module.name, args: v.module.args } : null,
    position: v.position?.label ?? null,
    seed,
    model: { yaml: v.modelYaml, nc: opts.data.nc },
    data: opts.data,
    train: { ...exp.train, epochs: opts.epochs ?? exp.train.epochs, augment: { ...exp.train.augment }, seed },
    val: { ...exp.val },
    bench: { ...exp.bench },
    backend: opts.backend,
    ...(ck ? { pretrained: { file: ck.name, sha256: ck.sha256 } } : {}),
  };
  return {
    id: trialId(config),
    ordinal,
    variant: v.variant + tag,
    module: config.module?.name ?? null,
    moduleArgs: config.module?.args ?? null,
    position: config.position,
    seed,
    modelYaml: v.modelYaml,
    config,
    ...(ck ? { pretrained: { path: ck.file, baseYaml: exp.model.text, ...(v.indexMap ? { indexMap: v.indexMap } : {}) } } : {}),
  };
}
