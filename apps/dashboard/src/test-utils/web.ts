/** Builds the browser app with Vite into a temporary folder, so tests always serve the current sources. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

export async function buildWeb(): Promise<string> {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dashboard-web-'));
  await build({
    configFile: fileURLToPath(new URL('../../vite.config.ts', import.meta.url)),
    logLevel: 'error',
    build: { outDir, emptyOutDir: true },
  });
  if (!fs.existsSync(path.join(outDir, 'index.html'))) throw new Error(`vite build wrote no index.html into ${outDir}`);
  return outDir;
}

export const SCREENSHOTS = fileURLToPath(new URL('../../screenshots/', import.meta.url));
