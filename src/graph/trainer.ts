// TrainingSession lives in runtime.ts (next to InferenceRunner); this path is kept for importers that use it.
export { TrainingSession } from './runtime.js';
export type { TrainingOptions } from './runtime.js';
