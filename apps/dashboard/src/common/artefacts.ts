/**
 * The trial artefacts as the API serves them. The stored format (`artefacts.json`, written by @ablate/train)
 * is @ablate/tracker's (`@ablate/tracker/artefacts`, the tracker owns what is stored); the API serves it with
 * the module pictures split off per image. The dashboard reads the files only; it never imports the trainer.
 */
import type { ArtefactCurve, Artefacts, ModuleImageArtefact } from '@ablate/tracker/artefacts';

export type {
  ArtefactImage,
  EnergyMap,
  HeadPicture,
  ModuleInspection,
  WeightedPoint,
} from '@ablate/tracker/artefacts';

export type NamedCurve = ArtefactCurve;

export type ArtefactsData = Omit<Artefacts, 'modules' | 'format'> & {
  format: string;
  /** Without the per-image pictures (GET .../pictures/:n has them). */
  modules: { layer: number; module: string; pictures: boolean }[];
};

/** GET /api/trials/:id/artefacts */
export interface TrialArtefacts {
  trialId: string;
  /** null when the trial has none; `missing` says why. */
  artefacts: ArtefactsData | null;
  /** What is missing, in words (no artefacts recorded, folder gone, an image file gone, ...). */
  missing: string[];
}

/** GET /api/trials/:id/artefacts/pictures/:n: per inserted module, image n's energy maps and picture. */
export interface ImagePictures {
  trialId: string;
  index: number;
  modules: ({ layer: number; module: string } & ModuleImageArtefact)[];
}
