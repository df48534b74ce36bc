/**
 * `--dry-run`: the trials of a plan with params, GFLOPs, status in the database (read-only) and an
 * estimated time (calibrated on the database's finished trials when it has some). Builds models,
 * trains nothing, writes nothing.
 */
import * as fs from 'node:fs';
import { manualSeed } from '@ablate/core';
import { Tracker } from '@ablate/tracker';
import { buildModel, summary } from '@ablate/yolov8';
import { EXIT, type SweepPlan } from './plan.js';
import { calibrate, DEFAULT_SECONDS_PER_GFLOP_IMAGE, estimateSeconds, formatDuration, table } from './report.js';

/** --dry-run: the trials with params, GFLOPs and estimated time; builds models, trains nothing, writes nothing. */
export async function dryRun(plan: SweepPlan, out: (l: string) => void): Promise<number> {
  const { exp, trials, data, dbFile, workers, registry } = plan;
  const sizes = new Map<string, { params: number; gflops: number; gflops640: number }>();
  let statusOf = (_id: string): string => 'new';
  let k = DEFAULT_SECONDS_PER_GFLOP_IMAGE;
  let calibrated = false;
  if (fs.existsSync(dbFile)) {
    const tr = new Tracker(dbFile, { readonly: true });
    try {
      const hist = tr.finishedCosts().map((h) => {
        const p = h.provenance_json ? (JSON.parse(h.provenance_json) as { data?: { train?: number; val?: number } }) : {};
        return {
          trainSeconds: h.train_seconds ?? 0,
          epochs: h.epochs_done,
          gflops: h.gflops ?? 0,
          trainImages: p.data?.train ?? 0,
          valImages: p.data?.val ?? 0,
        };
      });
      const c = calibrate(hist);
      if (c) {
        k = c;
        calibrated = true;
      }
      const statuses = new Map(trials.map((t) => [t.id, tr.getTrial(t.id)?.status ?? 'new']));
      statusOf = (id) => statuses.get(id) ?? 'new';
    } finally {
      tr.close();
    }
  }
  const rows: string[][] = [];
  let total = 0;
  for (const t of trials) {
    let s = sizes.get(t.modelYaml);
    if (!s) {
      manualSeed(0);
      const model = buildModel(t.modelYaml, { nc: t.config.model.nc, registry });
      try {
        const a = summary(model, t.config.train.imgsz);
        s = { params: a.parameters, gflops: a.gflops, gflops640: summary(model, 640).gflops };
      } finally {
        model.dispose();
      }
      sizes.set(t.modelYaml, s);
    }
    const st = statusOf(t.id);
    const est =
      st === 'ok'
        ? 0
        : estimateSeconds(
            {
              gflops: s.gflops,
              epochs: t.config.train.epochs,
              trainImages: data.train.length,
              valImages: data.val.length,
              benchRuns: t.config.bench.runs,
              benchWarmup: t.config.bench.warmup,
            },
            k,
          );
    total += est;
    rows.push([
      String(t.ordinal + 1),
      t.id,
      t.variant,
      String(t.seed),
      st,
      s.params.toLocaleString('en-US'),
      s.gflops640.toFixed(2),
      s.gflops.toFixed(3),
      st === 'ok' ? 'done' : formatDuration(est),
    ]);
  }
  out(table(['#', 'trial', 'variant', 'seed', 'status', 'params', 'GFLOPs@640', `GFLOPs@${exp.train.imgsz}`, 'est. time'], rows, 5));
  out(
    `estimated total: ${formatDuration(total / Math.max(1, workers))} with ${workers} worker${workers > 1 ? 's' : ''} ` +
      `(${calibrated ? `calibrated on this database's finished trials: ${k.toFixed(3)}` : `${k} (a default measured on a 2-core machine)`} s per GFLOP-image). Dry run: nothing was trained or written.`,
  );
  return EXIT.ok;
}
