// GPU listing of `pnpm native --gpu --check`, on TensorFlow's log lines (no GPU on the test machines).
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain .mjs without types
import { cudaProblemFromLog, gpuDevicesFromLog } from './gpu.mjs';

const H200 =
  '2026-12-02 17:00:00.000000: I tensorflow/core/common_runtime/gpu/gpu_device.cc:2021] Created device /job:localhost/replica:0/task:0/device:GPU:0 with 137898 MB memory:  -> device: 0, name: NVIDIA H200, pci bus id: 0000:19:00.0, compute capability: 9.0';

describe('gpuDevicesFromLog', () => {
  it('lists every GPU device TensorFlow created, with name, memory and compute capability', () => {
    const second = H200.replace('GPU:0', 'GPU:1').replace('device: 0', 'device: 1').replace('19:00', '3b:00');
    expect(gpuDevicesFromLog(`noise\n${H200}\n${second}\n`)).toEqual([
      { index: 0, name: 'NVIDIA H200', memoryMB: 137898, capability: '9.0' },
      { index: 1, name: 'NVIDIA H200', memoryMB: 137898, capability: '9.0' },
    ]);
  });
  it('finds none in a CPU-only log (the silent fallback the check turns into a failure)', () => {
    const cpu =
      'I tensorflow/core/util/port.cc:153] oneDNN custom operations are on.\nW tensorflow/core/common_runtime/gpu/gpu_device.cc:2365] Cannot dlopen some GPU libraries. Please make sure the missing libraries mentioned above are installed properly.';
    expect(gpuDevicesFromLog(cpu)).toEqual([]);
    expect(cudaProblemFromLog(cpu)).toMatch(/^Cannot dlopen some GPU libraries/);
    expect(cudaProblemFromLog('nothing about CUDA')).toBeNull();
  });
});
