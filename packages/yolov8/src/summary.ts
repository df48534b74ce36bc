/**
 * A model summary like Ultralytics' (parse_model's table and model_info's totals line):
 * per layer index, from, n, params, module, arguments; totals: layers (the module count,
 * `len(list(model.modules()))`), parameters, gradients and GFLOPs at an image size: 2 x MACs of the
 * convolutions (8.7 for yolov8n at 640) plus each plugin module's own `flops()`.
 *
 * Status: Ultralytics' get_flops profiles a stride-sized image (32 px) and scales by (imgsz/32)^2. For
 * convolutions that is exact, and this summary gives the same numbers; for attention, whose cost grows
 * with the square of the token count, it undercounts badly (DAT at P3 of a 640 px input: 10.8 GFLOPs
 * counted here, ~0.03 GFLOPs after Ultralytics' scaling). So the shapes are profiled at imgsz itself when
 * imgsz is a multiple of the largest stride, and Ultralytics' scaling is used only otherwise.
 */
import type { Module } from '@ablate/core';
import type { DetectionModel } from './model.js';
import { Conv, Detect } from './modules.js';
import { isInnerRef } from './parse.js';
import { formatPython } from './yaml.js';

export interface SummaryRow {
  index: number;
  from: number | number[];
  /** Depth-scaled repeats (n). */
  repeats: number;
  params: number;
  /** Module type as Ultralytics prints it. */
  module: string;
  /** Constructor args (an inner module appears as its `{attn, args}` mapping). */
  args: unknown[];
  /** Output channels (Detect: one per level). */
  outChannels: number | number[];
  /** Output stride (Detect: one per level). */
  outStride: number | number[];
  /** FLOPs of this layer at imgsz (Ultralytics' counting). */
  flops: number;
}

export interface ModelSummary {
  /** e.g. `YOLOv8n` (from the YAML file name, as Ultralytics). */
  name: string;
  rows: SummaryRow[];
  /** Module count, as Ultralytics' "layers". */
  layers: number;
  parameters: number;
  gradients: number;
  /** GFLOPs at imgsz. */
  gflops: number;
  imgsz: number;
}

/** The constructor args for display: inner module refs become their YAML mapping. */
export function displayArgs(args: readonly unknown[]): unknown[] {
  return args.map((a) => (isInnerRef(a) ? a.mapping : a));
}

/** `len(list(model.modules()))` of the PyTorch model: our modules, plus the one shared nn.SiLU of Conv. */
export function countModules(m: Module): number {
  const mods = m.namedModules();
  const sharedSilu = mods.some(([, x]) => x instanceof Conv && x.act) ? 1 : 0;
  return mods.length + sharedSilu;
}

export function summary(model: DetectionModel, imgsz = 640): ModelSummary {
  const stride = Math.max(Math.trunc(Math.max(...model.stride)), 32);
  const exact = imgsz % stride === 0;
  const probe = exact ? imgsz : stride;
  const prof = model.profileShapes([1, probe, probe, model.ch]);
  const scale = exact ? 1 : (imgsz / stride) * (imgsz / stride);
  const rows: SummaryRow[] = model.layers.map(({ module, plan }, i) => {
    const det = module instanceof Detect;
    return {
      index: plan.index,
      from: plan.from,
      repeats: plan.repeats,
      params: module.numParams(),
      module: plan.type,
      args: displayArgs(plan.args),
      outChannels: det ? (module as Detect).ch.map(() => (module as Detect).no) : plan.c2,
      outStride: model.layerStrides[i],
      flops: prof[i].flops * scale,
    };
  });
  const stem = model.plan.source.replace(/^.*[\\/]/, '').replace(/\.[^.]*$/, '');
  const name = stem.startsWith('<') ? 'Model' : stem.replace('yolo', 'YOLO');
  return {
    name,
    rows,
    layers: countModules(model),
    parameters: model.numParams(),
    gradients: model.numTrainable(),
    gflops: rows.reduce((s, r) => s + r.flops, 0) / 1e9,
    imgsz,
  };
}

/** Prints the summary as Ultralytics does (table, then the totals line). */
export function formatSummary(s: ModelSummary): string {
  const pad = (v: string, n: number, left = false) => (left ? v.padEnd(n) : v.padStart(n));
  const lines = [
    `${pad('', 3)}${pad('from', 20)}${pad('n', 3)}${pad('params', 10)}  ${pad('module', 45, true)}${pad('arguments', 30, true)}`,
  ];
  for (const r of s.rows) {
    lines.push(
      `${pad(String(r.index), 3)}${pad(formatPython(r.from), 20)}${pad(String(r.repeats), 3)}${pad(String(r.params), 10)}  ${pad(r.module, 45, true)}${pad(formatPython(r.args), 30, true)}`,
    );
  }
  lines.push(`${s.name} summary: ${s.layers} layers, ${s.parameters} parameters, ${s.gradients} gradients, ${s.gflops.toFixed(1)} GFLOPs`);
  return lines.join('\n');
}
