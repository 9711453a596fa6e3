// Serving a model: the HTTP detection service with micro-batching and its web page.
export { DetectionServer, serve } from './server.js';
export type { ServeOptions, DetectResponse } from './server.js';
export { MicroBatcher, QueueFullError } from './batcher.js';
export type { MicroBatcherOptions, BatcherStats } from './batcher.js';
export { ThreadedPredictor } from './threaded-predictor.js';
export type { Detector } from './detector.js';
