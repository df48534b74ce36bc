// Placeholder while the threaded wasm shim is written (see issue 2).
export interface WasmThreadsHandle {
  afterReady(): void;
}
export function enableWasmThreads(_threads: number): WasmThreadsHandle {
  throw new Error('wasm threads are not available yet');
}
