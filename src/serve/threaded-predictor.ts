// Runs a model's network in a worker thread, so that the calling thread stays free while a batch runs:
// onnxruntime-node's `run` holds the thread that calls it for the whole forward pass (seconds for SSD300 on a
// CPU), which on the server's thread would stop it reading requests, answering health checks and preparing the
// next batch meanwhile. The network goes to the worker as the model's raw ONNX export (weights included).
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { exportOnnx, type ExportableModel } from '../nn/export.js';

/**
 * The worker's code, plain CommonJS so that it runs the same from source (tsx) and from the built package.
 * workerData {model: ONNX bytes, threads?, ort: path of onnxruntime-node}; posts {ready: true} once loaded (or
 * {fatal}); then answers each {id, images, dims} with {id, locs, scores} (buffers transferred) or {id, error}.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ort);
(async () => {
  const options = { graphOptimizationLevel: 'all', logSeverityLevel: 3 };
  if (workerData.threads !== undefined) options.intraOpNumThreads = workerData.threads;
  const session = await ort.InferenceSession.create(workerData.model, options);
  parentPort.on('message', async (m) => {
    if (m === 'close') { await session.release(); parentPort.close(); return; }
    try {
      const out = await session.run({ images: new ort.Tensor('float32', m.images, m.dims) });
      const locs = out.locs.data, scores = out.scores.data;
      parentPort.postMessage({ id: m.id, locs, scores }, [locs.buffer, scores.buffer]);
    } catch (e) {
      parentPort.postMessage({ id: m.id, error: e && e.stack ? e.stack : String(e) });
    }
  });
  parentPort.postMessage({ ready: true });
})().catch((e) => parentPort.postMessage({ fatal: e && e.stack ? e.stack : String(e) }));
`;

interface Reply {
  id?: number;
  locs?: Float32Array;
  scores?: Float32Array;
  error?: string;
  ready?: boolean;
  fatal?: string;
}

/** `predict` of a Detector, run in a worker thread. */
export class ThreadedPredictor {
  private readonly pending = new Map<number, { resolve: (o: { locs: Float32Array; scores: Float32Array }) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private closed = false;

  private constructor(
    private readonly worker: Worker,
    private readonly inputSize: { width: number; height: number },
  ) {
    worker.on('message', (m: Reply) => {
      if (m.id === undefined) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(`inference worker: ${m.error}`));
      else p.resolve({ locs: m.locs!, scores: m.scores! });
    });
    const failAll = (e: Error) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', (e) => failAll(e));
    worker.on('exit', (code) => failAll(new Error(`inference worker exited (code ${code})`)));
  }

  /** Starts a worker with `model`'s network; resolves once its session is loaded. */
  static async create(model: ExportableModel, options: { threads?: number } = {}): Promise<ThreadedPredictor> {
    const bytes = exportOnnx(model);
    const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { model: bytes, threads: options.threads, ort: ortPath }, transferList: [bytes.buffer as ArrayBuffer] });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: Reply) => {
        if (m.ready) resolve();
        else if (m.fatal) reject(new Error(`inference worker could not load the model: ${m.fatal}`));
        else return;
        worker.off('message', onMessage);
        worker.off('error', reject);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    return new ThreadedPredictor(worker, model.config.inputSize);
  }

  /** Runs `batch` prepared images (N, 3, H, W) laid end to end: locs (N, P, 4), scores (N, P, K). */
  predict(images: Float32Array, batch: number): Promise<{ locs: Float32Array; scores: Float32Array }> {
    if (this.closed) return Promise.reject(new Error('the inference worker is closed'));
    const { width, height } = this.inputSize;
    if (images.length !== batch * 3 * width * height) return Promise.reject(new Error(`predict: ${images.length} values for ${batch} images of 3x${height}x${width}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, images, dims: [batch, 3, height, width] });
    });
  }

  /** Ends the worker (after the runs already sent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exited = new Promise((r) => this.worker.once('exit', r));
    this.worker.postMessage('close');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    await this.worker.terminate();
  }
}
