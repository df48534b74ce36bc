// Small fake inputs for the native-setup tests: ELF headers for an architecture, library folders,
// stored (uncompressed) zip files standing in for TensorFlow wheels, a tfjs-node-like package.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

/** The first 64 bytes of a 64-bit little-endian ELF shared object for `machine` (62 x86-64, 183 aarch64). */
export function elfHeader(machine: number, elfClass = 2): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = elfClass;
  b[5] = 1; // little endian
  b[6] = 1;
  b.writeUInt16LE(3, 16); // ET_DYN
  b.writeUInt16LE(machine, 18);
  return b;
}

export const HEADERS = [
  'tensorflow/c/c_api.h',
  'tensorflow/c/eager/c_api.h',
  'tensorflow/c/tf_tstring.h',
  'tensorflow/core/platform/ctstring_internal.h',
];

/** A library folder laid out like the wheel's `tensorflow/` (libraries, include/). */
export function fakeLibraryFiles(opts: { machine?: number; version?: string; skipHeader?: string } = {}): Record<string, Buffer> {
  const elf = elfHeader(opts.machine ?? 62);
  const files: Record<string, Buffer> = {
    'libtensorflow_cc.so.2': elf,
    'libtensorflow_framework.so.2': elf,
  };
  if (opts.version) files[`libtensorflow_cc.so.${opts.version}`] = elf;
  for (const h of HEADERS) if (h !== opts.skipHeader) files[`include/${h}`] = Buffer.from(`/* ${h} */\n`);
  return files;
}

export function writeTree(root: string, files: Record<string, Buffer>): string {
  for (const [name, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), data);
  }
  return root;
}

/** A zip file of stored entries (what unzip reads; enough to stand in for a wheel). */
export function zipFiles(files: Record<string, Buffer>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(files)) {
    const n = Buffer.from(name);
    const crc = zlib.crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(10, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(n.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(10, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(n.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, n, data);
    centrals.push(central, n);
    offset += 30 + n.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(files).length, 8);
  end.writeUInt16LE(Object.keys(files).length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** A wheel-shaped zip: the library folder under `tensorflow/`. */
export function fakeWheel(file: string, lib: Record<string, Buffer>): string {
  const entries: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(lib)) entries[`tensorflow/${k}`] = v;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, zipFiles(entries));
  return file;
}

/** A package folder shaped like tfjs-node (package.json binary fields, binding.gyp, one source file). */
export function fakeAddonPackage(dir: string, source: string): string {
  const pkg = {
    name: 'fake-tfjs-node',
    version: '0.0.0',
    binary: { module_name: 'tfjs_binding', module_path: './lib/napi-v{napi_build_version}', napi_versions: [3, 8] },
  };
  const gyp = {
    targets: [
      {
        target_name: 'tfjs_binding',
        sources: ['binding/binding.cc'],
        include_dirs: ['<(module_root_dir)/deps/include'],
        libraries: ['-Wl,-rpath,$$ORIGIN/../../deps/lib', '-ltensorflow'],
        library_dirs: ['<(module_root_dir)/deps/lib'],
      },
      {
        target_name: 'action_after_build',
        type: 'none',
        dependencies: ['<(module_name)'],
        copies: [{ files: ['<(PRODUCT_DIR)/<(module_name).node'], destination: '<(module_path)' }],
      },
    ],
  };
  return writeTree(dir, {
    'package.json': Buffer.from(JSON.stringify(pkg)),
    'binding.gyp': Buffer.from(JSON.stringify(gyp)),
    'binding/binding.cc': Buffer.from(source),
  });
}
