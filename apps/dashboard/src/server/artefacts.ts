/**
 * The trial artefacts endpoints: the best epoch's diagnostic data (`artefacts.json`, written by the
 * trainer beside the checkpoints and referenced from `trial_artefacts`), its validation images (PNG) and
 * the per-image module pictures. Only files named in the trial's own artefacts are served: the request
 * gives a trial id and an image number, never a path; the resolved file must lie inside the trial's
 * artefact folder (symbolic links included). Files are read with a size bound and parsed once per
 * modification time; a missing folder or image is reported, never a crash.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Tracker } from '@ablate/tracker';
import type { FastifyInstance } from 'fastify';
import type { ArtefactsData, ImagePictures, TrialArtefacts } from '../common/artefacts.js';
import { HttpError, type Queries } from './queries.js';

/** Larger artefact files are refused (the trainer writes a few MB at most). */
export const MAX_ARTEFACT_BYTES = 64 * 1024 * 1024;
const MAX_IMAGE_BYTES = 16 * 1024 * 1024;
const FORMAT = 'ablate-artefacts-v1';
const IMAGE_NAME = /^val-\d{2,4}\.png$/;

interface RawModule {
  layer: number;
  module: string;
  images: ImagePictures['modules'][number][];
}
type RawArtefacts = Omit<ArtefactsData, 'modules'> & { modules: RawModule[] };

interface Loaded {
  dir: string;
  raw: RawArtefacts | null;
  missing: string[];
}

export function registerArtefactRoutes(app: FastifyInstance, opts: { dbFile: string; tracker: Tracker; queries: Queries }): void {
  const dbDir = path.dirname(path.resolve(opts.dbFile));
  const cache = new Map<string, { mtimeMs: number; size: number; raw: RawArtefacts }>();

  const load = (id: string): Loaded => {
    opts.queries.requireTrial(id);
    const ref = opts.tracker.getArtefacts(id);
    if (!ref) {
      return {
        dir: '',
        raw: null,
        missing: [
          'No artefacts are recorded for this trial (it failed, was interrupted or is still running, or it ran before artefacts existed): no PR / confidence curves, confusion matrix, label statistics, validation images or attention pictures.',
        ],
      };
    }
    const dir = path.resolve(dbDir, ref.dir);
    const file = path.join(dir, 'artefacts.json');
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch {
      return { dir, raw: null, missing: [`The artefacts file ${file} no longer exists (the checkpoints folder was moved or deleted).`] };
    }
    if (!st.isFile() || st.size > MAX_ARTEFACT_BYTES) {
      return { dir, raw: null, missing: [`${file} is not a file of at most ${MAX_ARTEFACT_BYTES} bytes; not read.`] };
    }
    const hit = cache.get(file);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return { dir, raw: hit.raw, missing: [] };
    let raw: RawArtefacts;
    try {
      raw = JSON.parse(fs.readFileSync(file, 'utf8')) as RawArtefacts;
    } catch (e) {
      return { dir, raw: null, missing: [`${file} could not be read as JSON (${(e as Error).message.slice(0, 200)}).`] };
    }
    if (raw?.format !== FORMAT || !Array.isArray(raw.images) || !Array.isArray(raw.modules)) {
      return { dir, raw: null, missing: [`${file} is not an artefacts file of format ${FORMAT}.`] };
    }
    if (cache.size > 16) cache.clear();
    cache.set(file, { mtimeMs: st.mtimeMs, size: st.size, raw });
    return { dir, raw, missing: [] };
  };

  /** The image file of entry n, inside `dir`, or an HttpError. */
  const imageFile = (l: Loaded, n: number): string => {
    const img = l.raw?.images.find((i) => i.index === n);
    if (!img) throw new HttpError(404, `No validation image ${n} in this trial's artefacts (it has ${l.raw?.images.length ?? 0}).`);
    if (!IMAGE_NAME.test(img.file)) throw new HttpError(400, `Refused: the artefacts name an unexpected file "${img.file.slice(0, 80)}".`);
    const file = path.join(l.dir, img.file);
    let real: string;
    try {
      real = fs.realpathSync(file);
    } catch {
      throw new HttpError(404, `Validation image ${n} (${file}) no longer exists on disk.`);
    }
    const realDir = fs.realpathSync(l.dir);
    if (path.dirname(real) !== realDir) throw new HttpError(400, `Refused: ${file} resolves outside the trial's artefact folder.`);
    return real;
  };

  const indexParam = (v: string): number => {
    if (!/^\d{1,4}$/.test(v)) throw new HttpError(400, `Image number must be an integer 0..9999; got "${v.slice(0, 40)}"`);
    return Number(v);
  };

  app.get<{ Params: { id: string } }>('/api/trials/:id/artefacts', async (req): Promise<TrialArtefacts> => {
    const l = load(req.params.id);
    if (!l.raw) return { trialId: req.params.id, artefacts: null, missing: l.missing };
    const { modules, ...rest } = l.raw;
    const missing = [...l.missing];
    for (const img of rest.images) {
      if (!IMAGE_NAME.test(img.file) || !fs.existsSync(path.join(l.dir, img.file))) {
        missing.push(`Validation image ${img.index} (${img.file}) is missing from ${l.dir}.`);
      }
    }
    if (!rest.pr) missing.push('The validation set has no labels: no PR or confidence curves.');
    return {
      trialId: req.params.id,
      artefacts: {
        ...rest,
        modules: modules.map((m) => ({ layer: m.layer, module: m.module, pictures: m.images.some((i) => i?.picture) })),
      },
      missing,
    };
  });

  app.get<{ Params: { id: string; n: string } }>('/api/trials/:id/artefacts/images/:n', async (req, reply) => {
    const n = indexParam(req.params.n);
    const l = load(req.params.id);
    if (!l.raw) throw new HttpError(404, l.missing.join(' '));
    const file = imageFile(l, n);
    const st = fs.statSync(file);
    if (st.size > MAX_IMAGE_BYTES) throw new HttpError(413, `Validation image ${n} is larger than ${MAX_IMAGE_BYTES} bytes; not served.`);
    reply.type('image/png').header('Cache-Control', 'no-cache');
    return fs.readFileSync(file);
  });

  app.get<{ Params: { id: string; n: string } }>('/api/trials/:id/artefacts/pictures/:n', async (req): Promise<ImagePictures> => {
    const n = indexParam(req.params.n);
    const l = load(req.params.id);
    if (!l.raw) throw new HttpError(404, l.missing.join(' '));
    const k = l.raw.images.findIndex((i) => i.index === n);
    if (k < 0) throw new HttpError(404, `No validation image ${n} in this trial's artefacts (it has ${l.raw.images.length}).`);
    return {
      trialId: req.params.id,
      index: n,
      modules: l.raw.modules.filter((m) => m.images[k]).map((m) => ({ ...m.images[k], layer: m.layer, module: m.module })),
    };
  });
}
