#!/usr/bin/env node
// Writes fixtures/golden/yolov8/insertion_combined.json: combined insertion positions (several positions
// applied together) of the 1x1-conv stand-in into yolov8n, in the format of insertion.json.
// The numbers come from ablate's own insertModule + summary (there is no Ultralytics reference for
// combinations): packages/yolov8/src/insert-combined.test.ts checks every entry by a second, independent
// computation (index map built directly, params as stock + the single-position additions of
// insertion.json, identity stand-ins reproducing the stock output).
// Usage: pnpm --filter @ablate/yolov8 build && node scripts/make_insertion_combined.mjs
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// The built packages (no workspace resolution from scripts/).
const req = createRequire(path.join(root, 'packages/yolov8/package.json'));
const { initBackend } = await import(pathToFileURL(path.join(root, 'packages/core/dist/index.js')).href);
const { buildModel, countModules, createRegistry, insertionKeyPositions, insertModule, standInPlugin, summary } = await import(
  pathToFileURL(path.join(root, 'packages/yolov8/dist/index.js')).href
);
const { parse: parseYaml } = await import(pathToFileURL(req.resolve('yaml')).href);
const src = JSON.parse(fs.readFileSync(path.join(root, 'fixtures/golden/yolov8/insertion.json'), 'utf8'));
await initBackend('cpu', { log: false });
const registry = createRegistry(standInPlugin);
const standIn = { name: 'StandIn', args: (p) => [p.channels] };
const KEYS = {
  'residual+neck':
    "the stand-in inside the Bottleneck of the deepest backbone C2f (layer 8) and a new layer after the head's first C2f (12)",
  'pre-SPPF+neck':
    "new layers before SPPF (after C2f 8) and after the head's first C2f (12): the Concat [-1, 6] stays, [-1, 9] -> [-1, 10], [-1, 12] -> [-1, 14]",
  'after-2+pre-head': 'a new layer after the backbone C2f 2 and a branch on each Detect input',
  'all-four': 'residual + pre-SPPF + neck + pre-head applied together',
};
const positions = {};
for (const [key, description] of Object.entries(KEYS)) {
  const text = insertModule(src.stock.yaml_text, standIn, insertionKeyPositions(key), { registry });
  const m = buildModel(text, { scale: src.scale, nc: src.nc, registry });
  const s = summary(m);
  const standIns = m.layers.filter((l) => l.plan.module === 'StandIn');
  const p = parseYaml(text);
  positions[key] = {
    description,
    params: m.numParams(),
    num_layers: m.layers.length,
    num_modules_summary: countModules(m),
    stand_in_indices: standIns.map((l) => l.plan.index),
    stand_in_channels: standIns.map((l) => l.plan.c2),
    detect_from: m.layers[m.layers.length - 1].plan.from,
    save: m.save,
    yaml: { backbone: p.backbone, head: p.head },
    yaml_text: text,
    layers: s.rows.map((r) => ({ index: r.index, from: r.from, repeats: r.repeats, module: r.module, args: r.args, params: r.params })),
  };
  m.dispose();
}
const out = {
  case: 'insertion',
  generated_by:
    'scripts/make_insertion_combined.mjs (ablate insertModule; checked independently by packages/yolov8/src/insert-combined.test.ts)',
  scale: src.scale,
  nc: src.nc,
  stock: src.stock,
  stand_in: src.stand_in,
  semantics:
    'several positions applied together in one rewrite: layer roles and numbers refer to the stock YAML; each from ref is shifted once per new layer before it (the single-insertion rule of insertion.json, composed).',
  positions,
  tolerance: { how: 'exact: rewritten layers (from, repeats, module, args), params, layer counts' },
};
fs.writeFileSync(path.join(root, 'fixtures/golden/yolov8/insertion_combined.json'), `${JSON.stringify(out, null, 1)}\n`);
console.log(
  Object.entries(positions)
    .map(([k, v]) => `${k}: ${v.params} params, ${v.num_layers} layers, stand-ins at ${v.stand_in_indices}`)
    .join('\n'),
);
