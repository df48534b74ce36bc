/**
 * Validation images of a trial's artefacts on canvas: ground truth (dashed) and predictions (class and
 * score) above a confidence threshold, the numbers of the box under the pointer, and the inserted
 * module's own picture for a clicked query position (sampling points per head with their weights,
 * attention maps) beside its feature-map energy before and after the module.
 */
import type { ArtefactImage, ArtefactsData, EnergyMap, ImagePictures, ModuleInspection } from '../common/artefacts.js';
import { api } from './api.js';
import { colorOf } from './charts.js';
import { enc, h } from './dom.js';

export const imageUrl = (trialId: string, n: number) => `/api/trials/${enc(trialId)}/artefacts/images/${n}`;

/** Loads a validation image; rejects with a message naming it when the server reports it missing. */
export function loadImage(trialId: string, n: number): Promise<HTMLImageElement> {
  const url = imageUrl(trialId, n);
  return new Promise<HTMLImageElement>((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = async () => {
      let why = `validation image ${n} could not be loaded`;
      try {
        const r = await fetch(url);
        const body = (await r.json()) as { error?: string };
        if (body.error) why = body.error;
      } catch {
        // keep the generic message
      }
      reject(new Error(why));
    };
    img.src = url;
  });
}

export interface Overlay {
  conf: number;
  /** Draw ground truth boxes too. */
  gt: boolean;
}

/** The boxes drawn (canvas pixels), for hover. */
interface DrawnBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  text: string;
}

/** Draws the image, GT and predictions at >= conf onto `canvas` (scaled to its width); returns the boxes. */
export function drawDetections(
  canvas: HTMLCanvasElement,
  img: HTMLImageElement | null,
  im: ArtefactImage,
  names: string[],
  o: Overlay,
): DrawnBox[] {
  const [H, W] = im.size;
  const s = canvas.width / W;
  canvas.height = Math.round(H * s);
  const ctx = canvas.getContext('2d');
  if (!ctx) return [];
  ctx.imageSmoothingEnabled = s < 2;
  ctx.fillStyle = '#ddd';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (img) ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  const boxes: DrawnBox[] = [];
  ctx.font = '11px sans-serif';
  if (o.gt) {
    ctx.setLineDash([4, 3]);
    for (const [c, x1, y1, x2, y2] of im.gt) {
      ctx.strokeStyle = '#00c853';
      ctx.lineWidth = 1.5;
      ctx.strokeRect(x1 * s, y1 * s, (x2 - x1) * s, (y2 - y1) * s);
      boxes.push({
        x1: x1 * s,
        y1: y1 * s,
        x2: x2 * s,
        y2: y2 * s,
        text: `GT ${names[c] ?? c}: [${[x1, y1, x2, y2].map((v) => v.toFixed(1)).join(', ')}] px`,
      });
    }
    ctx.setLineDash([]);
  }
  for (const [x1, y1, x2, y2, conf, c] of im.pred) {
    if (conf < o.conf) continue;
    const col = colorOf(c);
    ctx.strokeStyle = col;
    ctx.lineWidth = 2;
    ctx.strokeRect(x1 * s, y1 * s, (x2 - x1) * s, (y2 - y1) * s);
    const label = `${names[c] ?? c} ${conf.toFixed(2)}`;
    const tw = ctx.measureText(label).width + 4;
    ctx.fillStyle = col;
    ctx.fillRect(x1 * s, Math.max(0, y1 * s - 13), tw, 13);
    ctx.fillStyle = '#fff';
    ctx.fillText(label, x1 * s + 2, Math.max(10, y1 * s - 3));
    boxes.push({
      x1: x1 * s,
      y1: y1 * s,
      x2: x2 * s,
      y2: y2 * s,
      text: `${names[c] ?? c} conf ${conf.toFixed(4)}: [${[x1, y1, x2, y2].map((v) => v.toFixed(1)).join(', ')}] px, ${(x2 - x1).toFixed(1)} x ${(y2 - y1).toFixed(1)}`,
    });
  }
  return boxes;
}

/** A canvas with detections, a hover read-out of the smallest box under the pointer. */
export function detectionCanvas(
  trialId: string,
  im: ArtefactImage,
  names: string[],
  width: number,
  overlay: () => Overlay,
  testId: string,
): { el: HTMLElement; canvas: HTMLCanvasElement; redraw(): Promise<void> } {
  const canvas = h('canvas', { width, 'data-testid': testId, 'data-index': im.index }) as HTMLCanvasElement;
  const tip = h('div', { class: 'box-tip', 'data-testid': `${testId}-tip` });
  const note = h('div', { class: 'muted small' });
  const el = h('div', { class: 'det-canvas' }, canvas, tip, note);
  let boxes: DrawnBox[] = [];
  let img: HTMLImageElement | null = null;
  let tried = false;
  const redraw = async () => {
    if (!tried) {
      tried = true;
      try {
        img = await loadImage(trialId, im.index);
      } catch (e) {
        img = null;
        note.textContent = (e as Error).message;
        note.setAttribute('data-testid', 'image-missing');
      }
    }
    boxes = drawDetections(canvas, img, im, names, overlay());
  };
  canvas.addEventListener('mousemove', (ev) => {
    const r = canvas.getBoundingClientRect();
    const x = ((ev.clientX - r.left) * canvas.width) / r.width;
    const y = ((ev.clientY - r.top) * canvas.height) / r.height;
    const hits = boxes.filter((b) => x >= b.x1 && x <= b.x2 && y >= b.y1 && y <= b.y2);
    hits.sort((a, b) => (a.x2 - a.x1) * (a.y2 - a.y1) - (b.x2 - b.x1) * (b.y2 - b.y1));
    tip.textContent = hits.length ? hits.map((b) => b.text).join('\n') : '';
  });
  canvas.addEventListener('mouseleave', () => {
    tip.textContent = '';
  });
  return { el, canvas, redraw };
}

/** A map [H, W] as a heatmap canvas of the given width. */
export function energyCanvas(m: EnergyMap, width: number, testId: string, max?: number): HTMLCanvasElement {
  const [H, W] = m.size;
  const s = width / W;
  const c = h('canvas', { width, height: Math.round(H * s), 'data-testid': testId, class: 'energy' }) as HTMLCanvasElement;
  const ctx = c.getContext('2d');
  const hi = max ?? Math.max(1e-12, ...m.values);
  if (ctx) {
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        const t = Math.min(1, m.values[i * W + j] / hi);
        ctx.fillStyle = `rgb(${Math.round(255 * t)}, ${Math.round(80 + 100 * t)}, ${Math.round(200 * (1 - t))})`;
        ctx.fillRect(Math.floor(j * s), Math.floor(i * s), Math.ceil(s), Math.ceil(s));
      }
    }
  }
  return c;
}

const HEAD_COLORS = [
  '#e6194b',
  '#3cb44b',
  '#ffe119',
  '#4363d8',
  '#f58231',
  '#911eb4',
  '#46f0f0',
  '#f032e6',
  '#bcf60c',
  '#fabebe',
  '#008080',
  '#e6beff',
];

/** The nearest stored query to a position (fractions of the map). */
export function nearestQuery(p: ModuleInspection, x: number, y: number): number {
  let best = 0;
  let bd = Number.POSITIVE_INFINITY;
  (p.queries ?? []).forEach((q, i) => {
    const d = (q.x - x) ** 2 + (q.y - y) ** 2;
    if (d < bd) {
      bd = d;
      best = i;
    }
  });
  return best;
}

/**
 * Draws a module picture over the image: for `queries`, the chosen query (a cross) and each head's
 * points (radius by weight relative to the head's largest) or maps; for `maps`, the chosen map.
 * Returns the number of points drawn.
 */
export function drawPicture(
  canvas: HTMLCanvasElement,
  img: HTMLImageElement | null,
  p: ModuleInspection,
  query: number,
  head: number | 'all',
): number {
  const ctx = canvas.getContext('2d');
  if (!ctx) return 0;
  const w = canvas.width;
  const hgt = canvas.height;
  ctx.fillStyle = '#ddd';
  ctx.fillRect(0, 0, w, hgt);
  if (img) ctx.drawImage(img, 0, 0, w, hgt);
  ctx.fillStyle = 'rgba(0, 0, 0, 0.35)';
  ctx.fillRect(0, 0, w, hgt);
  let drawn = 0;
  const q = p.queries?.[query];
  if (q) {
    q.heads.forEach((hp, hi) => {
      if (head !== 'all' && head !== hi) return;
      const col = HEAD_COLORS[hi % HEAD_COLORS.length];
      if (hp.map) {
        const [mh, mw] = hp.map.size;
        const mx = Math.max(1e-12, ...hp.map.values);
        for (let i = 0; i < mh; i++)
          for (let j = 0; j < mw; j++) {
            ctx.fillStyle = `rgba(255, 200, 0, ${(0.8 * hp.map.values[i * mw + j]) / mx})`;
            ctx.fillRect((j * w) / mw, (i * hgt) / mh, w / mw, hgt / mh);
          }
      }
      const pts = hp.points ?? [];
      const mx = Math.max(1e-12, ...pts.map((t) => t[2]));
      for (const [x, y, wt] of pts) {
        ctx.beginPath();
        ctx.arc(x * w, y * hgt, 2 + 7 * Math.sqrt(wt / mx), 0, 2 * Math.PI);
        ctx.fillStyle = col;
        ctx.globalAlpha = 0.35 + 0.65 * (wt / mx);
        ctx.fill();
        ctx.globalAlpha = 1;
        ctx.strokeStyle = '#000';
        ctx.lineWidth = 0.5;
        ctx.stroke();
        drawn++;
      }
    });
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 2;
    const cx = q.x * w;
    const cy = q.y * hgt;
    ctx.beginPath();
    ctx.moveTo(cx - 8, cy);
    ctx.lineTo(cx + 8, cy);
    ctx.moveTo(cx, cy - 8);
    ctx.lineTo(cx, cy + 8);
    ctx.stroke();
  } else if (p.maps?.length) {
    const m = p.maps[head === 'all' ? 0 : Math.min(head, p.maps.length - 1)];
    const [mh, mw] = m.size;
    const mx = Math.max(1e-12, ...m.values);
    for (let i = 0; i < mh; i++)
      for (let j = 0; j < mw; j++) {
        ctx.fillStyle = `rgba(255, 200, 0, ${(0.85 * m.values[i * mw + j]) / mx})`;
        ctx.fillRect((j * w) / mw, (i * hgt) / mh, w / mw, hgt / mh);
      }
  }
  canvas.setAttribute('data-points', String(drawn));
  return drawn;
}

/** Image n's pictures of the trial (null when it has none). */
export async function fetchPictures(trialId: string, n: number): Promise<ImagePictures | null> {
  try {
    return await api<ImagePictures>(`/api/trials/${enc(trialId)}/artefacts/pictures/${n}`);
  } catch {
    return null;
  }
}

/**
 * The attention panel of one image: per inserted module, a canvas where a click picks the query, a head
 * selector, the picture's note, and the energy maps before/after the module.
 */
export async function attentionPanel(
  trialId: string,
  im: ArtefactImage,
  width: number,
  state: { qx: number; qy: number; onQuery?: (x: number, y: number) => void },
): Promise<HTMLElement> {
  const pics = await fetchPictures(trialId, im.index);
  if (!pics || pics.modules.length === 0)
    return h(
      'p',
      { class: 'muted', 'data-testid': 'no-picture' },
      'No inserted module in this trial (the baseline), so no attention picture.',
    );
  let img: HTMLImageElement | null = null;
  try {
    img = await loadImage(trialId, im.index);
  } catch {
    img = null;
  }
  const parts = pics.modules.map((m) => {
    const canvas = h('canvas', {
      width,
      height: Math.round((width * im.size[0]) / im.size[1]),
      'data-testid': 'attention-canvas',
      'data-module': m.module,
    }) as HTMLCanvasElement;
    const p = m.picture;
    const maxE = Math.max(1e-12, ...m.energyBefore.values, ...m.energyAfter.values);
    const energy = h(
      'div',
      { class: 'energy-pair' },
      h(
        'figure',
        null,
        energyCanvas(m.energyBefore, Math.round(width / 2.2), 'energy-before', maxE),
        h('figcaption', null, `before: mean |x| ${mean(m.energyBefore.values).toFixed(4)}`),
      ),
      h(
        'figure',
        null,
        energyCanvas(m.energyAfter, Math.round(width / 2.2), 'energy-after', maxE),
        h('figcaption', null, `after: mean |y| ${mean(m.energyAfter.values).toFixed(4)}`),
      ),
    );
    if (!p) {
      return h(
        'div',
        { class: 'attn-module' },
        h('h4', null, `${m.module} (layer ${m.layer})`),
        h('p', { class: 'muted' }, m.pictureError ?? 'No picture.'),
        energy,
      );
    }
    let head: number | 'all' = 'all';
    let query = nearestQuery(p, state.qx, state.qy);
    const info = h('div', { class: 'muted small', 'data-testid': 'attention-info' });
    const redraw = () => {
      const n = drawPicture(canvas, img, p, query, head);
      const q = p.queries?.[query];
      info.textContent = q
        ? `query at (${(q.x * p.mapSize[1] - 0.5).toFixed(0)}, ${(q.y * p.mapSize[0] - 0.5).toFixed(0)}) of the ${p.mapSize[0]}x${p.mapSize[1]} map; ${n} points drawn`
        : `${p.maps?.length ?? 0} maps`;
    };
    canvas.addEventListener('click', (ev) => {
      const r = canvas.getBoundingClientRect();
      const x = (ev.clientX - r.left) / r.width;
      const y = (ev.clientY - r.top) / r.height;
      query = nearestQuery(p, x, y);
      state.onQuery?.(x, y);
      redraw();
    });
    const nHeads = p.queries?.[0]?.heads.length ?? p.maps?.length ?? 0;
    const sel = h(
      'select',
      {
        'data-testid': 'attention-head',
        onchange: (e: Event) => {
          const v = (e.target as HTMLSelectElement).value;
          head = v === 'all' ? 'all' : Number(v);
          redraw();
        },
      },
      h('option', { value: 'all' }, p.queries ? 'all heads' : 'map 0'),
      Array.from({ length: nHeads }, (_, i) =>
        h('option', { value: String(i) }, p.queries?.[0]?.heads[i]?.label ?? p.maps?.[i]?.label ?? `#${i}`),
      ),
    );
    redraw();
    return h(
      'div',
      { class: 'attn-module' },
      h('h4', null, `${m.module} (layer ${m.layer})`),
      h('p', { class: 'muted small' }, p.note, ' Click the image to pick the query.'),
      h('div', null, 'show ', sel),
      canvas,
      info,
      energy,
    );
  });
  return h('div', { class: 'attention' }, parts);
}

function mean(v: number[]): number {
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0;
}

/** The grid of validation images with a shared confidence slider; a click selects an image. */
export function imageGrid(trialId: string, a: ArtefactsData, onSelect: (im: ArtefactImage) => void): { el: HTMLElement; conf(): number } {
  let conf = 0.25;
  const canvases = a.images.map((im) => detectionCanvas(trialId, im, a.names, 200, () => ({ conf, gt: true }), `val-image`));
  const label = h('span', { 'data-testid': 'conf-value' }, conf.toFixed(2));
  const slider = h('input', {
    type: 'range',
    min: '0',
    max: '1',
    step: '0.01',
    value: String(conf),
    'data-testid': 'conf-slider',
    oninput: (e: Event) => {
      conf = Number((e.target as HTMLInputElement).value);
      label.textContent = conf.toFixed(2);
      for (const c of canvases) void c.redraw();
    },
  });
  for (const [i, c] of canvases.entries()) {
    c.canvas.addEventListener('click', () => onSelect(a.images[i]));
    void c.redraw();
  }
  const el = h(
    'div',
    null,
    h(
      'p',
      null,
      'confidence ≥ ',
      slider,
      ' ',
      label,
      h(
        'span',
        { class: 'muted small' },
        ' · dashed green: ground truth · hover a box for its numbers · click an image for the attention picture',
      ),
    ),
    h(
      'div',
      { class: 'val-grid' },
      canvases.map((c) => c.el),
    ),
  );
  return { el, conf: () => conf };
}
