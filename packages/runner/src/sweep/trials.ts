/**
 * Trial expansion: an experiment becomes a list of trials, the baseline (if asked) and every module at
 * every position, for every seed (seeds outermost, so a first pass over all variants finishes before
 * the second seed starts). Each trial's model YAML is the experiment's model with the module inserted
 * by `insertModule` of @ablate/yolov8, checked by `parseModel` (channel inference, module args) before
 * anything runs. The trial id is a short sha256 of the canonical JSON of the resolved configuration:
 * the same file on the same data gives the same ids, so completed trials are found and skipped.
 */
import { createHash } from 'node:crypto';
import type { TrainSettings } from '@ablate/train';
import { insertModule, type ModuleRegistry, parseModel } from '@ablate/yolov8';
import { parse as parseYaml } from 'yaml';
import { type Experiment, ExperimentError, type ModuleChoice, type PositionChoice, type Problem } from './experiment.js';

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
  const identity = { ...config, data, model: { ...config.model, yaml: parseYaml(config.model.yaml) } };
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
  const variants: { module: ModuleChoice | null; position: PositionChoice | null; modelYaml: string; variant: string }[] = [];
  const problems: Problem[] = [];
  if (exp.baseline) variants.push({ module: null, position: null, modelYaml: exp.model.text, variant: 'baseline' });
  const nameCount = new Map<string, number>();
  for (const m of exp.modules) nameCount.set(m.name, (nameCount.get(m.name) ?? 0) + 1);
  exp.modules.forEach((m, mi) => {
    exp.positions.forEach((p, pi) => {
      const label =
        nameCount.get(m.name)! > 1 && m.args !== null ? `${m.name}${JSON.stringify(m.args)}@${p.label}` : `${m.name}@${p.label}`;
      let yaml: string;
      try {
        yaml = insertModule(exp.model.text, { name: m.name, args: yamlArgs(m.args) }, p.position, { registry: opts.registry });
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
      variants.push({ module: m, position: p, modelYaml: yaml, variant: label });
    });
  });
  if (problems.length) throw new ExperimentError(exp.shownFile, problems);

  const trials: TrialSpec[] = [];
  for (const seed of exp.seeds) {
    for (const v of variants) {
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
      };
      trials.push({
        id: trialId(config),
        ordinal: trials.length,
        variant: v.variant,
        module: config.module?.name ?? null,
        moduleArgs: config.module?.args ?? null,
        position: config.position,
        seed,
        modelYaml: v.modelYaml,
        config,
      });
    }
  }
  return trials;
}
