// Its own file, so its own process: `auto` starts from nothing here.
import { createRequire } from 'node:module';
import { expect, test } from 'vitest';
import { initBackend } from './index.js';

const require = createRequire(import.meta.url);
function loads(pkg: string): boolean {
  try {
    require(pkg);
    return true;
  } catch {
    return false;
  }
}

test('auto takes the first backend that loads (tensorflow, webgpu on hardware, node, wasm, cpu) and says what it skipped', async () => {
  const lines: string[] = [];
  const info = await initBackend('auto', { log: (l) => lines.push(l) });
  expect(lines).toHaveLength(1);
  if (loads('@tensorflow/tfjs-node-gpu')) expect(info.name).toBe('tensorflow');
  else if (info.name === 'webgpu') expect(info.adapter?.software).toBe(false);
  else if (loads('@tensorflow/tfjs-node')) expect(info.name).toBe('node');
  else {
    // This machine: the optional native packages are installed without libtensorflow and cannot load,
    // and WebGPU has no adapter, or only a software one (lavapipe in CI), which auto never takes.
    expect(info.name).toBe('wasm');
    expect(info.skipped.map((s) => s.name)).toEqual(['tensorflow', 'webgpu', 'node']);
    const webgpu = info.skipped[1].reason;
    expect(webgpu).toMatch(/no WebGPU adapter|only a software adapter|no Vulkan loader/);
    for (const s of info.skipped) expect(s.reason.length).toBeGreaterThan(0);
  }
});
