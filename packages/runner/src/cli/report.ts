#!/usr/bin/env node
/**
 * `pnpm report <sweep> [--db F] [--metric m] [--format md|latex|csv|json] [--test auto|paired|welch]`:
 * the sweep's table with seed statistics and significance vs the baseline (see @ablate/stats), without
 * the dashboard. `--format json` is a contract (README, "pnpm report").
 * Exit codes: 0 printed; 2 bad options, unknown sweep or metric, missing database.
 */
import * as path from 'node:path';
import { TEST_CHOICES, type TestChoice } from '@ablate/stats';
import { Command, InvalidArgumentError, Option } from 'commander';
import { openResults } from '../report/load.js';
import { REPORT_FORMATS, REPORT_SECTIONS, type ReportFormat, renderReport } from '../report/render.js';

// pnpm runs scripts from the repo root; resolve the user's relative paths against where they typed them.
const userCwd = process.env.INIT_CWD ?? process.cwd();

const oneOf =
  <T extends string>(name: string, known: readonly T[]) =>
  (v: string): T => {
    if (!known.includes(v as T)) throw new InvalidArgumentError(`${name} must be one of ${known.join(', ')}`);
    return v as T;
  };

const program = new Command()
  .name('pnpm report')
  .description('Print a sweep as a table with seed statistics: mean ± std, 95% intervals, Δ vs the baseline, p (Holm).')
  .argument('<sweep>', "sweep name (the experiment's `name`), e.g. dat-positions")
  .option('--db <file>', 'results database', 'results/ablate.db')
  .option('-m, --metric <column>', 'a metric column of the results view', 'map50_95')
  .addOption(new Option('-f, --format <format>', 'output format').choices([...REPORT_FORMATS]).default('md'))
  .option(
    '-t, --test <test>',
    'auto (paired by seed when the seeds match the baseline, else Welch), paired or welch',
    oneOf('--test', TEST_CHOICES),
    'auto',
  )
  .showHelpAfterError()
  .exitOverride((e) => {
    process.exit(e.exitCode === 0 ? 0 : 2);
  });
for (const s of REPORT_SECTIONS) program.option(s.flag, s.description);

program.action((sweep: string, o: Record<string, unknown> & { db: string; metric: string; format: ReportFormat; test: TestChoice }) => {
  const t = openResults(path.resolve(userCwd, o.db));
  try {
    const sections = REPORT_SECTIONS.filter((s) => o[new Option(s.flag).attributeName()]);
    process.stdout.write(renderReport(t, { sweep, metric: o.metric, format: o.format, test: o.test }, sections));
  } finally {
    t.close();
  }
});

try {
  program.parse(process.argv);
} catch (e) {
  console.error(`pnpm report: ${(e as Error).message}`);
  process.exit(2);
}
