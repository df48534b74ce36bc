// Placeholder while the training kernels are written (see issue 2); replaced by the real registry.
export function registerWasmTrainingKernels(): void {}
export function registerMissingGradients(): void {}
