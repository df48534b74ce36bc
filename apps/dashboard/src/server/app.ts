/**
 * The dashboard server: fastify, a read-only connection to the results database, a JSON API under
 * `/api/`, and the built browser app (Vite output) as the only static folder. Bad requests get a 4xx
 * JSON `{error, statusCode}`; unexpected failures a 500 without details (never a stack trace).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toCsv as statsCsv, toJson as statsJson, toLatex as statsLatex, toMarkdown as statsMarkdown } from '@ablate/stats';
import { Tracker } from '@ablate/tracker';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { CompareItem, SweepDetail } from '../common/api.js';
import { COCO_RESULT_COLUMNS, isMetricKey, METRIC_KEYS, METRICS, type MetricKey } from '../common/metrics.js';
import { parseVariantKey, variantKey, variantLabel } from '../common/variant.js';
import { registerArtefactRoutes } from './artefacts.js';
import { toCsv, variantsCsv } from './export.js';
import { allowedHostNames, type HostPolicy, hostAllowed } from './host-check.js';
import { HttpError, Queries, type VariantRef } from './queries.js';
import { statsInput, sweepStats, testParam, valueFormat } from './stats.js';

export interface ServerOptions {
  /** Path of the results database (opened read-only; must exist). */
  db: string;
  /** Folder of the built browser app. Default: `../web` next to this file (dist/web). */
  staticDir?: string;
  logger?: boolean;
  /** Which Host headers are answered (DNS-rebinding protection, ./host-check.ts). Default: loopback names only. */
  hosts?: HostPolicy;
}

export const DEFAULT_STATIC_DIR = fileURLToPath(new URL('../web/', import.meta.url));
const MAX_LIST = 64;
const STATUSES = ['ok', 'failed', 'running', 'interrupted', 'pending'];

type Query = Record<string, string | undefined>;

/** Checks the query string: known keys only, each at most once, each a string. */
function query(req: FastifyRequest, known: string[]): Query {
  const q = (req.query ?? {}) as Record<string, unknown>;
  const out: Query = {};
  for (const [k, v] of Object.entries(q)) {
    if (!known.includes(k)) {
      throw new HttpError(400, `Unknown query parameter "${k}"; known: ${known.length ? known.join(', ') : 'none'}`);
    }
    if (typeof v !== 'string') throw new HttpError(400, `Query parameter "${k}" given more than once`);
    if (v.length > 10_000) throw new HttpError(400, `Query parameter "${k}" is too long (${v.length} characters; at most 10000)`);
    out[k] = v;
  }
  return out;
}

function metricParam(v: string | undefined): MetricKey {
  if (v === undefined || v === '') return 'map50_95';
  if (!isMetricKey(v)) throw new HttpError(400, `Unknown metric "${v}"; known: ${METRIC_KEYS.join(', ')}`);
  return v;
}

function listParam(name: string, v: string | undefined): string[] {
  if (v === undefined || v === '') return [];
  const items = v.split(',');
  if (items.length > MAX_LIST) throw new HttpError(400, `"${name}" lists ${items.length} items; at most ${MAX_LIST}`);
  if (items.some((s) => s === '')) throw new HttpError(400, `"${name}" has an empty item: "${v}"`);
  return items;
}

function variantParam(v: string): VariantRef {
  const p = parseVariantKey(v);
  if (!p) throw new HttpError(400, `Malformed variant "${v}"; expected "baseline" or "<module>@<position>"`);
  return p;
}

function requireKnownVariants(d: SweepDetail, vs: VariantRef[]): void {
  const all = [...(d.baseline ? [d.baseline] : []), ...d.variants];
  for (const v of vs) {
    if (!all.some((x) => x.module === v.module && x.position === v.position)) {
      const known = all.map((x) => x.key);
      throw new HttpError(
        404,
        `Unknown variant "${variantKey(v.module, v.position)}" in sweep "${d.name}"; known: ${known.slice(0, 30).join(', ')}${known.length > 30 ? ', ...' : ''}`,
      );
    }
  }
}

const safeName = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100) || 'sweep';

/**
 * A database written before tracker migration 3 has no COCO columns in `results`: a temporary view of the
 * same name (this connection only; the file is untouched) adds them as NULL.
 */
function serveMissingCocoColumns(db: Tracker['db']): void {
  const cols = (db.prepare('SELECT * FROM results LIMIT 0').columns() as { name: string }[]).map((c) => c.name);
  const missing = COCO_RESULT_COLUMNS.filter((c) => !cols.includes(c));
  if (missing.length) db.exec(`CREATE TEMP VIEW results AS SELECT *, ${missing.map((c) => `NULL AS ${c}`).join(', ')} FROM main.results`);
}

export type DashboardServer = FastifyInstance & { queries: Queries; tracker: Tracker };

export async function buildServer(opts: ServerOptions): Promise<DashboardServer> {
  const tracker = new Tracker(opts.db, { readonly: true });
  let queries: Queries;
  try {
    serveMissingCocoColumns(tracker.db);
    tracker.db.pragma('query_only = ON');
    queries = new Queries(tracker.db);
  } catch (e) {
    tracker.close();
    const why = (e as Error).message;
    throw new Error(`"${opts.db}" is not an ablate results database (${why})`);
  }
  const staticDir = path.resolve(opts.staticDir ?? DEFAULT_STATIC_DIR);

  const app = Fastify({
    logger: opts.logger ?? false,
    // Malformed URLs (bad percent-encoding) are the client's fault: 400 JSON, not a stack trace.
    frameworkErrors: (err, _req, reply) => {
      (reply as unknown as FastifyReply).code(400).send({ error: `Bad request: ${err.message}`, statusCode: 400 });
    },
  });

  // DNS rebinding: a foreign Host header gets 403 before anything is read.
  const hostNames = allowedHostNames(opts.hosts ?? {});
  app.addHook('onRequest', async (req, reply) => {
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : undefined;
    if (!hostAllowed(req.headers.host, hostNames, port)) {
      reply.code(403).send({
        error: `Host "${String(req.headers.host ?? '').slice(0, 100)}" is not an address this dashboard serves (DNS-rebinding protection; use --allow-host <name> to add one)`,
        statusCode: 403,
      });
    }
  });

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Referrer-Policy', 'no-referrer');
    return payload;
  });

  app.setErrorHandler((err, req, reply) => {
    const e = err as { statusCode?: number; message?: string };
    const code = err instanceof HttpError ? err.statusCode : e.statusCode && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 500;
    if (code >= 500) req.log.error(err);
    reply
      .code(code)
      .type('application/json; charset=utf-8')
      .send({ error: code >= 500 ? 'Internal server error' : (e.message ?? 'Bad request'), statusCode: code });
  });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: `Not found: ${req.method} ${req.url.slice(0, 200)}`, statusCode: 404 });
  });

  // Sweep details are cached per sweep until the database changes (the stamp query is cheap).
  const cache = new Map<string, { stamp: string; detail: SweepDetail }>();
  const detail = (name: string): SweepDetail => {
    const stamp = queries.stamp();
    const hit = cache.get(name);
    if (hit && hit.stamp === stamp) return hit.detail;
    const d = queries.sweepDetail(name);
    if (cache.size > 32) cache.clear();
    cache.set(name, { stamp, detail: d });
    return d;
  };

  app.get('/api/stamp', async (req) => {
    query(req, []);
    return { stamp: queries.stamp() };
  });

  app.get('/api/sweeps', async (req) => {
    query(req, []);
    return { sweeps: queries.listSweeps(), stamp: queries.stamp() };
  });

  app.get<{ Params: { name: string } }>('/api/sweeps/:name', async (req) => {
    query(req, []);
    return detail(req.params.name);
  });

  app.get<{ Params: { name: string } }>('/api/sweeps/:name/curves', async (req) => {
    const q = query(req, ['variants', 'top']);
    const keys = listParam('variants', q.variants);
    const d = detail(req.params.name);
    let vs: VariantRef[];
    if (q.top !== undefined) {
      // The baseline and the N variants with the best mean mAP50-95 (the sweep page's default).
      if (keys.length) throw new HttpError(400, 'Give either "variants" or "top", not both');
      const n = Number(q.top);
      if (!/^\d+$/.test(q.top) || n < 1 || n > MAX_LIST - 1)
        throw new HttpError(400, `"top" must be an integer from 1 to ${MAX_LIST - 1}; got "${q.top}"`);
      const ranked = d.variants
        .filter((v) => v.stats.map50_95.mean !== null)
        .sort((a, b) => (b.stats.map50_95.mean as number) - (a.stats.map50_95.mean as number));
      vs = [...(d.baseline ? [d.baseline] : []), ...(ranked.length ? ranked : d.variants).slice(0, n)];
    } else {
      if (keys.length === 0) {
        throw new HttpError(
          400,
          'Missing "variants" (a comma-separated list of variant keys: "baseline", "<module>@<position>") or "top" (a number)',
        );
      }
      vs = keys.map(variantParam);
      requireKnownVariants(d, vs);
    }
    return {
      sweep: req.params.name,
      variants: queries.curves(
        req.params.name,
        vs.map((v) => ({ module: v.module, position: v.position })),
      ),
    };
  });

  app.get<{ Params: { name: string } }>('/api/sweeps/:name/trials', async (req) => {
    const q = query(req, ['variant', 'status']);
    const v = q.variant ? variantParam(q.variant) : null;
    if (q.status && !STATUSES.includes(q.status)) throw new HttpError(400, `Unknown status "${q.status}"; known: ${STATUSES.join(', ')}`);
    if (v) requireKnownVariants(detail(req.params.name), [v]);
    return { trials: queries.trialsOf(req.params.name, v, q.status ?? null) };
  });

  app.get<{ Params: { name: string } }>('/api/sweeps/:name/export.csv', async (req, reply) => {
    const q = query(req, ['by']);
    const by = q.by ?? 'trial';
    if (by !== 'trial' && by !== 'variant') throw new HttpError(400, `Unknown "by" value "${by}"; known: trial, variant`);
    const name = req.params.name;
    let body: string;
    if (by === 'variant') {
      body = variantsCsv(detail(name));
    } else {
      const rows = queries.results(name);
      const cols = (queries.db.prepare('SELECT * FROM results LIMIT 0').columns() as { name: string }[]).map((c) => c.name);
      body = toCsv(cols, rows);
    }
    reply
      .type('text/csv; charset=utf-8')
      .header('Content-Disposition', `attachment; filename="${safeName(name)}-${by === 'trial' ? 'trials' : 'variants'}.csv"`);
    return body;
  });

  /** One metric's seed statistics (auto / paired / welch test vs the baseline, Holm over the sweep). */
  const statsOf = (name: string, q: Record<string, string | undefined>) => {
    const metric = metricParam(q.metric);
    const test = testParam(q.test);
    if (typeof test !== 'string') throw new HttpError(400, test.error);
    detail(name);
    const rows = queries.results(name) as never;
    return { metric, test, rows, a: sweepStats(name, rows, metric, test) };
  };

  app.get<{ Params: { name: string } }>('/api/sweeps/:name/stats', async (req) => {
    const { a, metric, rows } = statsOf(req.params.name, query(req, ['metric', 'test']));
    const input = statsInput(req.params.name, rows, metric);
    const b = input.baseline;
    // Per-seed values of every variant (the baseline first), for the per-seed chart.
    const seedValues = [
      ...(b ? [{ module: null, position: null, seeds: b.seeds, values: b.values }] : []),
      ...input.variants.map((v) => ({ module: v.module, position: v.position, seeds: v.seeds, values: v.values })),
    ];
    return {
      report: statsJson(a),
      analysis: a,
      baselineValues: b?.seeds ? b.seeds.map((seed, i) => ({ seed, value: b.values[i] })) : [],
      seedValues,
    };
  });

  app.get<{ Params: { name: string } }>('/api/sweeps/:name/export.tex', async (req, reply) => {
    const { metric, a } = statsOf(req.params.name, query(req, ['metric', 'test']));
    const body = statsLatex(a, { value: valueFormat(metric), label: METRICS[metric].label });
    reply
      .type('text/x-tex; charset=utf-8')
      .header('Content-Disposition', `attachment; filename="${safeName(req.params.name)}-${metric}.tex"`);
    return body;
  });

  app.get<{ Params: { name: string } }>('/api/sweeps/:name/export.md', async (req, reply) => {
    const { metric, a } = statsOf(req.params.name, query(req, ['metric', 'test']));
    const body = statsMarkdown(a, { value: valueFormat(metric), label: METRICS[metric].label });
    reply
      .type('text/markdown; charset=utf-8')
      .header('Content-Disposition', `attachment; filename="${safeName(req.params.name)}-${metric}.md"`);
    return body;
  });

  app.get<{ Params: { name: string } }>('/api/sweeps/:name/export-stats.csv', async (req, reply) => {
    const { metric, a } = statsOf(req.params.name, query(req, ['metric', 'test']));
    reply
      .type('text/csv; charset=utf-8')
      .header('Content-Disposition', `attachment; filename="${safeName(req.params.name)}-${metric}-stats.csv"`);
    return statsCsv(a);
  });

  app.get<{ Params: { id: string } }>('/api/trials/:id', async (req) => {
    const q = query(req, ['sweep']);
    if (q.sweep !== undefined) queries.requireSweep(q.sweep);
    return queries.trialDetail(req.params.id, q.sweep ?? null);
  });

  app.get('/api/compare', async (req) => {
    const q = query(req, ['sweep', 'variants', 'trials']);
    const vkeys = listParam('variants', q.variants);
    const tids = listParam('trials', q.trials);
    if (vkeys.length && !q.sweep) throw new HttpError(400, '"variants" needs "sweep" (the sweep they belong to)');
    if (vkeys.length + tids.length < 2) {
      throw new HttpError(
        400,
        `Compare needs at least two items ("variants" of a "sweep" and/or "trials"); got ${vkeys.length + tids.length}`,
      );
    }
    if (vkeys.length + tids.length > 16) throw new HttpError(400, `Compare takes at most 16 items; got ${vkeys.length + tids.length}`);
    const items: CompareItem[] = [];
    if (vkeys.length && q.sweep) {
      const d = detail(q.sweep);
      const vs = vkeys.map(variantParam);
      requireKnownVariants(d, vs);
      const curves = queries.curves(q.sweep, vs);
      const all = [...(d.baseline ? [d.baseline] : []), ...d.variants];
      vs.forEach((v, i) => {
        const s = all.find((x) => x.module === v.module && x.position === v.position)!;
        items.push({
          kind: 'variant',
          key: s.key,
          label: variantLabel(v.module, v.position),
          sweep: q.sweep ?? null,
          stats: s.stats,
          curves: curves[i],
        });
      });
    }
    for (const id of tids) {
      const t = queries.trialAsItem(id);
      items.push({
        kind: 'trial',
        key: id,
        label: t.curves.label,
        sweep: null,
        stats: t.stats,
        status: t.row.status as string,
        curves: t.curves,
      });
    }
    return { items };
  });

  registerArtefactRoutes(app, { dbFile: opts.db, tracker, queries });

  // Anything else under /api/ is an unknown endpoint (JSON 404), never a static file.
  app.all('/api/*', async (req) => {
    throw new HttpError(404, `Unknown API endpoint: ${req.method} ${req.url.slice(0, 200)}`);
  });

  if (fs.existsSync(path.join(staticDir, 'index.html'))) {
    await app.register(fastifyStatic, { root: staticDir, prefix: '/', dotfiles: 'ignore', index: ['index.html'], maxAge: 0 });
  } else {
    app.get('/', async (_req, reply) => {
      reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send(
          `The browser app is not built (no ${path.join(staticDir, 'index.html')}): run "pnpm build" (or "pnpm dashboard", which builds first).`,
        );
    });
  }

  app.addHook('onClose', async () => tracker.close());
  const server = app as unknown as DashboardServer;
  server.queries = queries;
  server.tracker = tracker;
  return server;
}
