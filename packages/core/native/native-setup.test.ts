// The native setup's failure paths on small fake inputs (no network, no real TensorFlow): each one
// must end in one line naming the cause, never a crash, and never half-staged files left behind.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addonPath, buildAddon, readStageMarker, stageLibrary } from './addon.mjs';
import { findLibrary, librarySources, setupPackage } from './setup.mjs';
import { elfHeader, fakeAddonPackage, fakeLibraryFiles, fakeWheel, writeTree } from './test-utils/fakes.js';
import { cacheLibraryDir, checkElf, extractWheel, inspectLibraryDir, listCaches, wheelVersion } from './tf-lib.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-native-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => path.join(tmp, `${n++}-${name}`);
const WHEEL = 'tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl';
const ROOT = path.resolve(import.meta.dirname, '../../..');
const hasUnzip = spawnSync('unzip', ['-v']).status === 0;

describe('library folders', () => {
  it('a good folder: libraries, headers, version from the versioned library name', () => {
    const dir = writeTree(fresh('lib'), fakeLibraryFiles({ version: '2.21.0' }));
    const info = inspectLibraryDir(dir, 'x64');
    expect(info.version).toBe('2.21.0');
    expect(path.basename(info.main)).toBe('libtensorflow_cc.so.2');
    expect(path.basename(info.framework)).toBe('libtensorflow_framework.so.2');
  });

  it('the version from a Python package folder: the dist-info beside it', () => {
    const site = fresh('site-packages');
    const dir = writeTree(path.join(site, 'tensorflow'), fakeLibraryFiles());
    fs.mkdirSync(path.join(site, 'tensorflow_cpu-2.19.1.dist-info'));
    expect(inspectLibraryDir(dir, 'x64').version).toBe('2.19.1');
  });

  it('wrong architecture: names both', () => {
    const dir = writeTree(fresh('arm'), fakeLibraryFiles({ machine: 183, version: '2.21.0' }));
    expect(() => inspectLibraryDir(dir, 'x64')).toThrow('libtensorflow_cc.so.2 is built for arm64, this machine is x64');
  });

  it('a 32-bit or non-ELF file', () => {
    const f32 = path.join(writeTree(fresh('elf32'), { 'libx.so': elfHeader(3, 1) }), 'libx.so');
    expect(() => checkElf(f32, 'x64')).toThrow('built for 32-bit');
    const txt = path.join(writeTree(fresh('txt'), { 'libx.so': Buffer.from('not a library at all, just text') }), 'libx.so');
    expect(() => checkElf(txt, 'x64')).toThrow('libx.so is not an ELF shared library');
  });

  it('an unsupported TensorFlow version', () => {
    const dir = writeTree(fresh('old'), fakeLibraryFiles({ version: '1.15.0' }));
    expect(() => inspectLibraryDir(dir, 'x64')).toThrow('TensorFlow 1.15.0 is not supported (tfjs-node 4.22 needs 2.9 or later 2.x)');
  });

  it('a missing header names it', () => {
    const dir = writeTree(fresh('nohdr'), fakeLibraryFiles({ version: '2.21.0', skipHeader: 'tensorflow/c/eager/c_api.h' }));
    expect(() => inspectLibraryDir(dir, 'x64')).toThrow(/missing header tensorflow\/c\/eager\/c_api\.h/);
  });

  it('no libraries at all', () => {
    const dir = writeTree(fresh('empty'), { README: Buffer.from('x') });
    expect(() => inspectLibraryDir(dir, 'x64')).toThrow(/no libtensorflow_cc\.so\.2 \/ libtensorflow_framework\.so\.2 in/);
  });

  it('is copied once into the cache and found there again', () => {
    const root = fresh('cache');
    const dir = writeTree(fresh('lib'), fakeLibraryFiles({ version: '2.20.0' }));
    const cached = cacheLibraryDir(dir, 'ABLATE_TF_LIB', root, 'x64');
    expect(cached.dir).toBe(path.join(root, '2.20.0-x64'));
    expect(fs.existsSync(path.join(cached.dir, 'include/tensorflow/c/c_api.h'))).toBe(true);
    expect(listCaches(root, 'x64').map((c) => c.version)).toEqual(['2.20.0']);
    expect(listCaches(root, 'arm64')).toEqual([]);
  });
});

describe.skipIf(!hasUnzip)('wheels (unzip)', () => {
  it('the version comes from the file name; other names are rejected', () => {
    expect(wheelVersion(`/x/${WHEEL}`)).toBe('2.21.0');
    expect(() => wheelVersion('/x/numpy-2.0.0-cp311-none-any.whl')).toThrow('is not a TensorFlow wheel');
  });

  it('a good wheel is extracted into the cache (libraries and headers only)', () => {
    const root = fresh('cache');
    const lib = { ...fakeLibraryFiles(), 'python/unrelated.py': Buffer.from('x = 1\n') };
    const info = extractWheel(fakeWheel(path.join(fresh('w'), WHEEL), lib), root, 'x64');
    expect(info.version).toBe('2.21.0');
    expect(info.source).toBe(`wheel ${WHEEL}`);
    expect(fs.existsSync(path.join(root, '2.21.0-x64', 'python'))).toBe(false);
  });

  it('a truncated wheel: one line naming it, nothing left in the cache', () => {
    const root = fresh('cache');
    const file = fakeWheel(path.join(fresh('w'), WHEEL), fakeLibraryFiles());
    fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
    expect(() => extractWheel(file, root, 'x64')).toThrow(new RegExp(`${WHEEL.replace(/\./g, '\\.')} is truncated or not a zip file`));
    expect(listCaches(root, 'x64')).toEqual([]);
  });

  it('a wheel without a header or for another architecture', () => {
    const noHdr = fakeWheel(path.join(fresh('w'), WHEEL), fakeLibraryFiles({ skipHeader: 'tensorflow/c/c_api.h' }));
    expect(() => extractWheel(noHdr, fresh('cache'), 'x64')).toThrow(/missing header tensorflow\/c\/c_api\.h/);
    const arm = fakeWheel(path.join(fresh('w'), WHEEL), fakeLibraryFiles({ machine: 183 }));
    expect(() => extractWheel(arm, fresh('cache'), 'x64')).toThrow('is built for arm64, this machine is x64');
  });
});

describe('sources and setup', () => {
  it('tries the sources in order and reports why each failed', () => {
    const env = { ABLATE_TF_LIB: fresh('missing'), ABLATE_TF_WHEEL: path.join(fresh('missing'), WHEEL) };
    const sources = librarySources({ env, root: fresh('cache'), arch: 'x64', python: '/nonexistent/python3', pip: false });
    expect(sources.map((s) => s.name.split('=')[0].split(' ')[0])).toEqual(['ABLATE_TF_LIB', 'ABLATE_TF_WHEEL', 'cache', 'Python']);
    const { lib, tried } = findLibrary(sources);
    expect(lib).toBeNull();
    expect(tried.map((t) => t.reason)).toEqual([
      `${env.ABLATE_TF_LIB} does not exist`,
      `wheel ${env.ABLATE_TF_WHEEL} does not exist`,
      'empty',
      'no importable tensorflow',
    ]);
  });

  it('nothing found: ok false and one line naming every cause, the package left untouched', () => {
    const pkg = fakeAddonPackage(fresh('pkg'), 'int x;\n');
    const res = setupPackage(pkg, {
      sources: [
        {
          name: 'ABLATE_TF_LIB=/nowhere',
          get: () => {
            throw new Error('/nowhere does not exist');
          },
        },
      ],
    });
    expect(res.ok).toBe(false);
    expect(res.line).toMatch(/^\d+-pkg: no TensorFlow C library found \(ABLATE_TF_LIB=\/nowhere: \/nowhere does not exist\); using wasm$/);
    expect(res.line.split('\n')).toHaveLength(1);
    expect(fs.existsSync(path.join(pkg, 'deps'))).toBe(false);
  });

  it('stages the libraries under the names binding.gyp and the install script expect', () => {
    const pkg = fakeAddonPackage(fresh('pkg'), 'int x;\n');
    const lib = { ...inspectLibraryDir(writeTree(fresh('lib'), fakeLibraryFiles({ version: '2.21.0' })), 'x64'), source: 'test' };
    stageLibrary(pkg, lib);
    const names = fs.readdirSync(path.join(pkg, 'deps/lib')).sort();
    expect(names).toEqual(
      expect.arrayContaining([
        'libtensorflow.so',
        'libtensorflow.so.2.9.1',
        'libtensorflow_framework.so',
        'libtensorflow_framework.so.2.9.1',
        'libtensorflow_cc.so.2',
      ]),
    );
    expect(fs.realpathSync(path.join(pkg, 'deps/lib/libtensorflow.so'))).toBe(fs.realpathSync(lib.main));
    expect(fs.existsSync(path.join(pkg, 'deps/include/tensorflow/c/c_api.h'))).toBe(true);
    expect(readStageMarker(pkg)).toMatchObject({ version: '2.21.0', source: 'test' });
    expect(addonPath(pkg)).toBe(path.join(pkg, 'lib/napi-v8/tfjs_binding.node'));
  });

  it('a failed compile: one line with the compiler error, then the staged files are removed', () => {
    const pkg = fakeAddonPackage(fresh('pkg'), '#include "tensorflow/c/c_api.h"\nint x;\n');
    const libDir = writeTree(fresh('lib'), {
      ...fakeLibraryFiles({ version: '2.21.0' }),
      'include/tensorflow/c/c_api.h': Buffer.from('#error this c_api.h is broken\n'),
    });
    const lib = { ...inspectLibraryDir(libDir, 'x64'), source: 'ABLATE_TF_LIB' };
    expect(() => {
      stageLibrary(pkg, lib);
      buildAddon(pkg, ROOT);
    }).toThrow(/the addon did not compile: .*this c_api\.h is broken/);
    const res = setupPackage(pkg, { force: true, gypFrom: ROOT, sources: [{ name: 'test', get: () => lib }] });
    expect(res.ok).toBe(false);
    expect(res.line).toMatch(/^\d+-pkg: TensorFlow 2\.21\.0 from ABLATE_TF_LIB failed: the addon did not compile: .*broken; using wasm$/);
    expect(fs.existsSync(path.join(pkg, 'deps'))).toBe(false);
  });

  it('a library without the functions the addon calls (another TensorFlow): named by the load error', () => {
    const pkg = fakeAddonPackage(
      fresh('pkg'),
      '#include <node_api.h>\nextern "C" int TF_Nothing();\nstatic napi_value Init(napi_env env, napi_value e) { TF_Nothing(); return e; }\nNAPI_MODULE(NODE_GYP_MODULE_NAME, Init)\n',
    );
    fs.writeFileSync(path.join(pkg, 'index.js'), "module.exports = require('./lib/napi-v8/tfjs_binding.node');\n");
    // A real (empty) shared library in place of libtensorflow: it links, but the symbol is not there.
    const libDir = writeTree(fresh('lib'), fakeLibraryFiles({ version: '2.21.0' }));
    fs.writeFileSync(path.join(libDir, 'empty.c'), 'int tf_placeholder;\n');
    for (const so of ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2']) {
      const r = spawnSync('cc', ['-shared', '-fPIC', '-o', path.join(libDir, so), `-Wl,-soname,${so}`, path.join(libDir, 'empty.c')]);
      expect(r.status, String(r.stderr)).toBe(0);
    }
    const lib = { ...inspectLibraryDir(libDir, 'x64'), source: 'test' };
    const res = setupPackage(pkg, { force: true, gypFrom: ROOT, sources: [{ name: 'test', get: () => lib }] });
    expect(res.ok).toBe(false);
    expect(res.line).toMatch(
      /^\d+-pkg: TensorFlow 2\.21\.0 from test failed: the addon does not load: .*undefined symbol: TF_Nothing.*; using wasm$/,
    );
    expect(fs.existsSync(path.join(pkg, 'lib'))).toBe(false);
  });
});

describe('the CLI', () => {
  it('--install never fails pnpm install: a package that is not there is one line and exit 0', () => {
    const r = spawnSync(process.execPath, [path.join(import.meta.dirname, 'cli.mjs'), '--install', '--package', '@ablate/not-a-package'], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(
      'ablate native: @ablate/not-a-package is not installed (an optional dependency of @ablate/core); using wasm',
    );
  });

  it('--check on a package that is not there exits 1', () => {
    const r = spawnSync(process.execPath, [path.join(import.meta.dirname, 'cli.mjs'), '--check', '--package', '@ablate/not-a-package'], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
  });
});
