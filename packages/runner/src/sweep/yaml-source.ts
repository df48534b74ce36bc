/**
 * The experiment file as a YAML document that knows the line of every node (the `yaml` package's
 * document API), and the problems found in it: each names the file, the line and the key, and says what
 * was expected. `checkMap` validates one mapping against a field table (experiment-fields.ts).
 */
import { isMap, isPair, isScalar, LineCounter, type Node, parseDocument, type YAMLMap } from 'yaml';
import { type Field, sectionOf } from './experiment-fields.js';
import { closest } from './suggest.js';

export interface Problem {
  line?: number;
  key?: string;
  message: string;
}

/** An invalid experiment file: one paragraph per problem, each naming file, line and key. */
export class ExperimentError extends Error {
  readonly problems: Problem[];
  readonly file: string;
  constructor(file: string, problems: Problem[]) {
    super(formatProblems(file, problems));
    this.name = 'ExperimentError';
    this.file = file;
    this.problems = problems;
  }
}

export function formatProblems(file: string, problems: Problem[]): string {
  const paras = problems.map((p) => {
    const where = [file, p.line !== undefined ? `line ${p.line}` : undefined, p.key ? `key ${p.key}` : undefined]
      .filter(Boolean)
      .join(', ');
    return `${where}: ${p.message}`;
  });
  const tail = problems.length > 1 ? `(${problems.length} problems; nothing was run.)` : '';
  return paras.length === 1 ? `${paras[0]} Nothing was run.` : `${paras.join('\n\n')}\n\n${tail}`;
}

export const show = (v: unknown): string => {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return `the string "${v}"`;
  if (Array.isArray(v)) return `a list ${JSON.stringify(v)}`;
  if (typeof v === 'object') return `a mapping ${JSON.stringify(v)}`;
  return `${typeof v === 'number' ? 'the number' : `the ${typeof v}`} ${String(v)}`;
};

export const keyName = (p: (string | number)[]) => p.map((k, i) => (typeof k === 'number' ? `[${k}]` : i ? `.${k}` : k)).join('');

export type KeyPath = (string | number)[];

export interface YamlSource {
  /** The document as plain data. */
  raw: unknown;
  /** Problems found so far (checkMap and the section parsers add to it). */
  problems: Problem[];
  /** 1-based line of the node at a key path; for a missing key, the line of its nearest existing parent. */
  lineOf(keyPath: KeyPath): number | undefined;
  /** Line of the key `key` in the mapping at `mapPath`. */
  keyLine(mapPath: KeyPath, key: string): number | undefined;
  /** Validates one mapping against a field table; returns the values with defaults filled. */
  checkMap(
    value: unknown,
    fields: Record<string, Field>,
    at: KeyPath,
    what: string,
    required?: string[],
  ): Record<string, unknown> | undefined;
  /** Throws the ExperimentError of these problems. */
  fail(problems: Problem[]): never;
}

/** Parses the text; a syntax error throws ExperimentError at once (the first one only). */
export function readYamlSource(text: string, shown: string): YamlSource {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: true });
  const fail = (problems: Problem[]): never => {
    throw new ExperimentError(shown, problems);
  };
  if (doc.errors.length) {
    fail(
      // The first syntax error only: the ones after it are usually its consequences.
      doc.errors.slice(0, 1).map((e) => {
        const pos = e.linePos?.[0];
        const first = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
        return {
          line: pos?.line,
          message: `not valid YAML${pos ? ` (line ${pos.line}, column ${pos.col})` : ''}: ${first}. ${
            /unique/i.test(first)
              ? 'A key is written twice: remove or rename one.'
              : 'Fix the syntax (indentation, a missing ":" or closing bracket, a tab) and run again.'
          }`,
        };
      }),
    );
  }
  const lineAt = (offset: number | undefined) => (offset === undefined ? undefined : lc.linePos(offset).line);
  const nodeAt = (keyPath: KeyPath): Node | undefined => {
    if (!keyPath.length) return doc.contents as Node | undefined;
    return doc.getIn(keyPath, true) as Node | undefined;
  };
  /** Line of a path; for a missing key, the line of its nearest existing parent. */
  const lineOf = (keyPath: KeyPath): number | undefined => {
    for (let n = keyPath.length; n >= 0; n--) {
      const node = nodeAt(keyPath.slice(0, n));
      if (node?.range) {
        // A key's own line is better than its value's (a block mapping value starts on the next line).
        if (n > 0 && typeof keyPath[n - 1] === 'string') {
          const parent = nodeAt(keyPath.slice(0, n - 1));
          if (isMap(parent)) {
            const pair = (parent as YAMLMap).items.find((p) => isScalar(p.key) && p.key.value === keyPath[n - 1]);
            const kr = pair && isScalar(pair.key) ? pair.key.range : undefined;
            if (kr) return lineAt(kr[0]);
          }
        }
        return lineAt(node.range[0]);
      }
    }
    return 1;
  };
  const keyLine = (mapPath: KeyPath, key: string): number | undefined => {
    const parent = nodeAt(mapPath);
    if (isMap(parent)) {
      const pair = (parent as YAMLMap).items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
      if (pair && isScalar(pair.key) && pair.key.range) return lineAt(pair.key.range[0]);
    }
    return lineOf(mapPath);
  };

  const problems: Problem[] = [];

  /** Validates one mapping against a field table; returns the values with defaults filled. */
  const checkMap = (
    value: unknown,
    fields: Record<string, Field>,
    at: KeyPath,
    what: string,
    required: string[] = [],
  ): Record<string, unknown> | undefined => {
    const where = at.length ? keyName(at) : 'the top level';
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      problems.push({ line: lineOf(at), key: keyName(at), message: `expected ${what}; got ${show(value)}.` });
      return undefined;
    }
    const obj = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    const known = Object.keys(fields);
    for (const k of Object.keys(obj)) {
      if (!(k in fields)) {
        const guess = closest(k, known);
        // A key that belongs to another section (e.g. `epochs` at the top level instead of under train).
        const elsewhere = !guess && at.length === 0 ? sectionOf(k) : undefined;
        problems.push({
          line: keyLine(at, k),
          key: keyName([...at, k]),
          message:
            `unknown key \`${k}\` in ${where}` +
            (guess ? `; did you mean \`${guess}\`?` : elsewhere ? `; it belongs under \`${elsewhere}:\`.` : '.') +
            ` Known keys of ${where}: ${known.join(', ')}.`,
        });
      }
    }
    for (const [k, f] of Object.entries(fields)) {
      const v = obj[k];
      if (v === undefined || v === null) {
        if (required.includes(k)) {
          problems.push({
            line: lineOf(at),
            key: keyName([...at, k]),
            message: `the key \`${k}\` is missing in ${where}: expected ${f.expect}.`,
          });
        } else if (f.default !== undefined) out[k] = structuredClone(f.default);
        continue;
      }
      const r = f.schema.safeParse(v);
      if (!r.success) {
        problems.push({ line: lineOf([...at, k]), key: keyName([...at, k]), message: `expected ${f.expect}; got ${show(v)}.` });
        continue;
      }
      out[k] = r.data;
    }
    return out;
  };

  return { raw: doc.toJS() as unknown, problems, lineOf, keyLine, checkMap, fail };
}
