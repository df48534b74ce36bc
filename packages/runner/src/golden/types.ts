/**
 * `pnpm golden` evaluates reference cases found in folders laid out like `fixtures/golden/`. A family
 * recognises its case files (from their JSON content, never their names) and evaluates them into
 * one line per case. The output is a contract other tools read: see `format.ts`.
 */

/** A case file: the JSON sidecar (tensors, if any, are beside it under `json.file`). */
export interface GoldenFile {
  /** Absolute path of the JSON file. */
  path: string;
  // biome-ignore lint/suspicious/noExplicitAny: free-form reference JSON
  json: any;
}

export type CaseStatus = 'PASS' | 'FAIL' | 'SKIPPED';

/** One printed line. */
export interface CaseLine {
  /** Case name, e.g. `dat_c32_s1_k9_orfm1_b2_12x12` or `census/yolov8n`. */
  name: string;
  status: CaseStatus;
  /** The worst error found (absolute, or whatever `metric` says). */
  worst?: number;
  /** The tolerance the worst error was compared with. */
  tolerance?: number;
  /** What `worst` measures, e.g. `output.y max_abs` or `params (exact)`. */
  metric?: string;
  /** Reason for SKIPPED/FAIL, or extra detail. */
  note?: string;
}

export interface GoldenContext {
  /** Backend the case runs on (`wasm`, `cpu`, ...). Already initialised by the CLI. */
  backend: string;
  verbose: boolean;
  /** Extra diagnostic output (stderr). */
  log(line: string): void;
}

export interface GoldenFamily {
  /** e.g. `yolov8/census`, `attention`. */
  id: string;
  /** True when this family evaluates the file. */
  matches(file: GoldenFile): boolean;
  /** One or more lines (a file may hold several cases). Throwing marks the file's case FAIL. */
  evaluate(file: GoldenFile, ctx: GoldenContext): Promise<CaseLine[]>;
}
