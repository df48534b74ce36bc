/**
 * Debian's chromium driven by playwright-core, headless, with a fresh profile folder (never a
 * downloaded browser). Used by the browser tests and the scale benchmark.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Uncaught page errors and console errors seen so far. */
  errors: string[];
  close(): Promise<void>;
}

export async function launchBrowser(opts: { width?: number; height?: number; downloads?: string } = {}): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `No chromium at ${CHROMIUM}: install Debian's package (apt-get install -y chromium) or set CHROMIUM_PATH; browsers are never downloaded`,
    );
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'dashboard-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: opts.width ?? 1400, height: opts.height ?? 900 },
    acceptDownloads: true,
    downloadsPath: opts.downloads,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  return {
    context,
    page,
    errors,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Navigates and waits until the app says the page has rendered (`body[data-ready=true]`); returns ms. */
export async function openPage(page: Page, url: string, name: string, timeout = 30_000): Promise<number> {
  const t0 = performance.now();
  await page.goto(url);
  await page.waitForSelector(`body[data-ready="true"][data-page="${name}"]`, { timeout });
  return performance.now() - t0;
}
