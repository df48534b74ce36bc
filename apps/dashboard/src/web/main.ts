/**
 * The dashboard's browser app: a hash router over four pages (sweeps, sweep, trial, compare) and the
 * live update loop (polls the cheap `/api/stamp`; when the database changed, the open page refreshes
 * in place). `body[data-ready]` is set once a page has rendered (used by the browser tests).
 */
import './style.css';
import { ApiFailure, api } from './api.js';
import { h } from './dom.js';
import type { Page, Route } from './page.js';
import { comparePage } from './pages/compare.js';
import { sweepPage } from './pages/sweep.js';
import { sweepsPage } from './pages/sweeps.js';
import { trialPage } from './pages/trial.js';

const root = document.getElementById('app') as HTMLElement;
const live = document.getElementById('live') as HTMLElement;
const pollMs = Math.max(200, Number(new URLSearchParams(location.search).get('poll') ?? 2000) || 2000);
let current: Page | null = null;
let stamp = '';
let generation = 0;

function parseRoute(): Route {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, qs] = raw.split('?', 2);
  const segs = path.split('/').filter((s) => s !== '');
  let args: string[];
  try {
    args = segs.slice(1).map(decodeURIComponent);
  } catch {
    args = segs.slice(1);
  }
  return { name: segs[0] ?? 'sweeps', args, params: new URLSearchParams(qs ?? '') };
}

function setReady(ready: boolean, name = ''): void {
  document.body.dataset.ready = ready ? 'true' : 'false';
  document.body.dataset.page = name;
}

function showError(e: unknown): void {
  const msg = e instanceof ApiFailure ? e.message : `Something went wrong: ${(e as Error).message ?? String(e)}`;
  root.replaceChildren(
    h(
      'div',
      { class: 'error-box', 'data-testid': 'error' },
      h('strong', null, 'Error. '),
      msg,
      ' ',
      h('a', { href: '#/' }, 'Back to the sweeps'),
    ),
  );
}

async function navigate(): Promise<void> {
  const gen = ++generation;
  setReady(false);
  current?.destroy();
  current = null;
  const route = parseRoute();
  const pages: Record<string, (root: HTMLElement, r: Route) => Promise<Page>> = {
    sweeps: sweepsPage,
    sweep: sweepPage,
    trial: trialPage,
    compare: comparePage,
  };
  const make = pages[route.name];
  const el = h('div', { class: 'page' });
  root.replaceChildren(el);
  try {
    if (!make) throw new ApiFailure(404, `Unknown page "${route.name}"; known: ${Object.keys(pages).join(', ')}`);
    const page = await make(el, route);
    if (gen !== generation) {
      page.destroy();
      return;
    }
    current = page;
    setReady(true, route.name);
  } catch (e) {
    if (gen !== generation) return;
    showError(e);
    setReady(true, 'error');
  }
}

async function poll(): Promise<void> {
  try {
    const s = await api<{ stamp: string }>('/api/stamp');
    live.classList.remove('offline');
    live.title = `Polling the database every ${pollMs / 1000} s`;
    if (stamp && s.stamp !== stamp && current) {
      const gen = generation;
      live.textContent = '● updating';
      try {
        await current.refresh();
      } catch {
        /* the next poll tries again */
      }
      if (gen === generation) document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed ?? 0) + 1);
    }
    stamp = s.stamp;
    live.textContent = `● live · ${new Date().toLocaleTimeString()}`;
  } catch {
    live.classList.add('offline');
    live.textContent = '● server unreachable';
  }
  setTimeout(poll, pollMs);
}

window.addEventListener('hashchange', () => void navigate());
// The first poll records the stamp once the first page is up; later polls refresh it on a change.
void navigate().then(() => poll());
