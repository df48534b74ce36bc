/**
 * What TensorFlow says about GPUs, for `pnpm native --gpu --check` (@tensorflow/tfjs-node-gpu).
 * tfjs-node's binding has no device list, but TensorFlow logs every device it creates at log level 0
 * (`Created device /job:localhost/replica:0/task:0/device:GPU:0 with 139000 MB memory) -> device: 0, name:
 * NVIDIA H200, pci bus id: ..., compute capability: 9.0`) and why it could not use CUDA (`Cannot dlopen some
 * GPU libraries`, `Could not load dynamic library 'libcudnn.so.9'`). A tensorflow backend that created no GPU
 * device runs on the CPU without a word: here that is a failure.
 *
 * Status: the parsing is tested on TensorFlow's log lines (gpu.test below); no GPU and no CUDA TensorFlow
 * build exist on the machines this was written on, so it has never run against a real GPU.
 */

/** The GPUs TensorFlow created devices for: `[{ index, name, memoryMB, capability }]`. */
export function gpuDevicesFromLog(log) {
  const out = [];
  const re =
    /Created device \S*device:GPU:(\d+) with (\d+) MB memory\)?:?\s*->\s*device: \d+, name: ([^,\n]+)(?:,[^\n]*?compute capability: ([\d.]+))?/g;
  for (const m of log.matchAll(re)) out.push({ index: Number(m[1]), name: m[3].trim(), memoryMB: Number(m[2]), capability: m[4] ?? null });
  return out;
}

/** TensorFlow's own reason for not using CUDA, when it logged one (first such line), or null. */
export function cudaProblemFromLog(log) {
  const m = log.match(
    /(Cannot dlopen some GPU libraries[^\n]*|Could not load dynamic library[^\n]*|CUDA driver version is insufficient[^\n]*|failed call to cuInit[^\n]*)/,
  );
  return m ? m[1].trim() : null;
}
