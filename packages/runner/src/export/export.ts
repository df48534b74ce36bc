/**
 * `pnpm export <trial>`: a trained variant as files other tools load — its model YAML (Ultralytics
 * format, the inserted module as a row, `nc` set to the trial's class count) and its best weights
 * (the EMA weights of the best epoch, `best.safetensors` of the trial) under PyTorch/Ultralytics state-
 * dict names (`model.<i>.<rest>`, NCHW/OIHW layouts), float32.
 *
 * Load back into ablate: `buildModel(yamlText, { registry })` then `model.loadWeights(file, { strict: true })`,
 * or start a sweep from it with `pretrained: <file>`. Into Ultralytics: the module must be registered in
 * its `parse_model` (as the tutorials that add DAT, ... to YOLOv8 do); then build `YOLO('<name>.yaml')` and
 * `model.model.load_state_dict(safetensors.torch.load_file('<name>.safetensors'), strict=False)` — strict
 * False only because torch's BatchNorm also has `num_batches_tracked` counters, which are not stored.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadSafetensorsFile, writeSafetensors } from '@ablate/core';
import { Tracker, type TrialRow } from '@ablate/tracker';
import { parseDocument } from 'yaml';

export const EXPORT_FORMATS = ['safetensors', 'yaml'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportOptions {
  /** Results database. */
  db: string;
  /** Trial id, or a unique prefix of one. */
  trial: string;
  /** Output folder (created). */
  out: string;
  /** `safetensors` (default): YAML and weights; `yaml`: the model YAML only. */
  format?: ExportFormat;
}

export interface ExportResult {
  trial: string;
  /** Files written (absolute). */
  files: string[];
  /** Tensors and parameters in the weights file (0 for `yaml`). */
  tensors: number;
  parameters: number;
}

export class ExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportError';
  }
}

/** Where the sweep keeps a trial's checkpoints (beside the database: checkpoints/<id>/). */
export function checkpointDirOf(dbFile: string, id: string): string {
  return path.join(path.dirname(path.resolve(dbFile)), 'checkpoints', id);
}

function findTrial(t: Tracker, idOrPrefix: string): TrialRow {
  const exact = t.getTrial(idOrPrefix);
  if (exact) return exact;
  const rows = t.db.prepare('SELECT id FROM trials WHERE id LIKE ? ORDER BY id').all(`${idOrPrefix.replace(/[%_]/g, '')}%`) as {
    id: string;
  }[];
  if (rows.length === 1) return t.getTrial(rows[0].id) as TrialRow;
  if (rows.length > 1) throw new ExportError(`trial "${idOrPrefix}" is ambiguous: ${rows.map((r) => r.id).join(', ')}`);
  const some = (t.db.prepare('SELECT id, module, position FROM trials ORDER BY created_at DESC LIMIT 10').all() as TrialRow[]).map(
    (r) => `${r.id} (${r.module ? `${r.module}@${r.position}` : 'baseline'})`,
  );
  throw new ExportError(
    `no trial "${idOrPrefix}" in ${t.file}${some.length ? `; recent trials: ${some.join(', ')}` : ' (it has no trials)'}`,
  );
}

/** The trial's YAML with `nc` set to the class count it was trained with (comments kept). */
export function exportYaml(row: TrialRow): string {
  if (!row.model_yaml) throw new ExportError(`trial ${row.id} has no model YAML stored`);
  const cfg = JSON.parse(row.config_json) as { model?: { nc?: number }; data?: { names?: string[] } };
  const doc = parseDocument(row.model_yaml);
  const nc = cfg.model?.nc;
  if (typeof nc === 'number') doc.set('nc', nc);
  const variant = row.module ? `${row.module} at ${row.position}` : 'baseline';
  doc.commentBefore = [
    ` ablate trial ${row.id}: ${variant}, seed ${row.seed}${typeof nc === 'number' ? `, nc ${nc}` : ''}`,
    ` weights: ${row.id}.safetensors (PyTorch/Ultralytics state-dict names, float32, EMA of the best epoch)`,
    doc.commentBefore ?? '',
  ]
    .filter(Boolean)
    .join('\n');
  return doc.toString();
}

export function exportTrial(o: ExportOptions): ExportResult {
  const format = o.format ?? 'safetensors';
  if (!EXPORT_FORMATS.includes(format)) throw new ExportError(`--format must be one of ${EXPORT_FORMATS.join(', ')}; got ${format}`);
  if (!fs.existsSync(o.db)) throw new ExportError(`the results database ${o.db} does not exist`);
  const t = new Tracker(o.db, { readonly: true });
  try {
    const row = findTrial(t, o.trial);
    const yaml = exportYaml(row);
    fs.mkdirSync(o.out, { recursive: true });
    const files: string[] = [];
    const yamlFile = path.resolve(o.out, `${row.id}.yaml`);
    let tensors = 0;
    let parameters = 0;
    if (format === 'safetensors') {
      const best = path.join(checkpointDirOf(o.db, row.id), 'best.safetensors');
      if (!fs.existsSync(best)) {
        throw new ExportError(
          `trial ${row.id} (${row.status}) has no best weights: ${best} does not exist (a trial has them once an epoch finished; --format yaml exports the YAML alone)`,
        );
      }
      const st = loadSafetensorsFile(best);
      const weightsFile = path.resolve(o.out, `${row.id}.safetensors`);
      const metadata = {
        format: 'pt',
        'ablate.trial': row.id,
        'ablate.variant': row.module ? `${row.module}@${row.position}` : 'baseline',
        'ablate.epoch': st.metadata.epoch ?? '',
        'ablate.fitness': st.metadata.fitness ?? '',
      };
      fs.writeFileSync(weightsFile, writeSafetensors(st.tensors, metadata));
      files.push(weightsFile);
      tensors = st.tensors.size;
      for (const x of st.tensors.values()) parameters += x.data.length;
    }
    fs.writeFileSync(yamlFile, yaml);
    files.unshift(yamlFile);
    return { trial: row.id, files, tensors, parameters };
  } finally {
    t.close();
  }
}
