// The detection HTTP service: `POST /v1/detect` with an image body answers JSON detections; concurrent requests
// share network runs through a micro-batching queue; `GET /` is a web page that runs the exported model in the
// browser (onnxruntime-web) and falls back to this service.
//
// Errors are JSON `{error}`: 400 for a body that is not an image or a bad parameter, 404/405 for unknown routes,
// 413 beyond the size limit, 503 when the queue is full or the server is stopping, 500 for anything else, logged
// here with its stack and answered with an id only.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportOnnx } from '../nn/export.js';
import { MicroBatcher, QueueFullError, type BatcherStats } from './batcher.js';
import type { DetectOptions, Detection, Detector, PreparedImage } from './detector.js';
import { staticAsset, ortAsset, type Asset } from './static.js';
import { ThreadedPredictor } from './threaded-predictor.js';

/** Options of {@link DetectionServer}. */
export interface ServeOptions {
  /** Largest request body accepted, in bytes. Default 10 MB (10 * 2^20). */
  maxBodyBytes?: number;
  /** Most images per network run. Default 8. */
  maxBatch?: number;
  /** Longest a request waits for others to batch with (when the network is idle). Default 5 ms. */
  maxWaitMs?: number;
  /** Most requests waiting for the network before 503s. Default 256. */
  maxQueue?: number;
  /** Detection defaults; each request may override them with query parameters. */
  defaults?: { minScore?: number; maxOverlap?: number; topK?: number };
  /** Where to log (a line per error, start and stop). Default console.error; `null` for silence. */
  log?: ((line: string) => void) | null;
  /** Run the network in a worker thread (default true), so the server keeps reading and answering requests while
   *  a batch runs; false calls the detector's own `predict` on the main thread. */
  inferenceThread?: boolean;
  /** ONNX Runtime intra-op threads of the worker's session. Default: all cores. */
  threads?: number;
}

/** What `POST /v1/detect` answers. */
export interface DetectResponse {
  detections: { label: string; classIndex: number; score: number; box: Detection['box'] }[];
  /** Image size in pixels (after EXIF orientation); boxes are in these pixels. */
  width: number;
  height: number;
  /** Server time for this request, decode to answer, in milliseconds. */
  time_ms: number;
}

/** A request error with its status and a message safe to show. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * An HTTP server around a detector. `listen` starts it, `close` stops it gracefully: no new connections, requests
 * in progress are answered, then idle keep-alive connections are closed.
 */
export class DetectionServer {
  readonly server: Server;
  readonly batcher: MicroBatcher<PreparedImage, { locs: Float32Array; scores: Float32Array }>;
  private readonly maxBodyBytes: number;
  private readonly defaults: Required<NonNullable<ServeOptions['defaults']>>;
  private readonly log: (line: string) => void;
  private modelOnnx: Promise<Uint8Array> | undefined;
  private predictor: ThreadedPredictor | undefined;
  private readonly options: ServeOptions;
  private active = 0;
  private closing = false;
  private readonly startedAt = Date.now();

  constructor(
    readonly detector: Detector,
    options: ServeOptions = {},
  ) {
    this.options = options;
    this.maxBodyBytes = options.maxBodyBytes ?? 10 * 2 ** 20;
    this.defaults = { minScore: 0.2, maxOverlap: 0.45, topK: 200, ...options.defaults };
    this.log = options.log === null ? () => {} : (options.log ?? ((l) => console.error(l)));
    const { width, height } = detector.config.inputSize;
    const plane = 3 * width * height;
    this.batcher = new MicroBatcher(
      async (items) => {
        const input = new Float32Array(items.length * plane);
        items.forEach((p, i) => input.set(p.data, i * plane));
        const { locs, scores } = await (this.predictor ?? detector).predict(input, items.length);
        const nl = locs.length / items.length, ns = scores.length / items.length;
        return items.map((_, i) => ({ locs: locs.subarray(i * nl, (i + 1) * nl), scores: scores.subarray(i * ns, (i + 1) * ns) }));
      },
      { maxBatch: options.maxBatch ?? 8, maxWaitMs: options.maxWaitMs ?? 5, maxQueue: options.maxQueue ?? 256 },
    );
    this.server = createServer((req, res) => void this.handle(req, res));
    // Node's defaults bound slow clients (headers 60 s, whole request 300 s); keep idle connections a little
    // longer than clients usually do (undici: 4 s), so that a client never reuses one the server just closed.
    this.server.keepAliveTimeout = 10_000;
  }

  /** Loads the network (in its worker thread), then listens; resolves with the bound address (port 0: a free one). */
  async listen(port = 8080, host = '127.0.0.1'): Promise<{ port: number; host: string; url: string }> {
    if ((this.options.inferenceThread ?? true) && !this.predictor) {
      this.predictor = await ThreadedPredictor.create(this.detector, this.options.threads === undefined ? {} : { threads: this.options.threads });
    }
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => {
        // Nothing listens: let the worker go too, so a failed start leaves no thread behind.
        const p = this.predictor;
        this.predictor = undefined;
        void p?.close();
        reject(e);
      };
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const a = this.server.address() as AddressInfo;
        const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
        resolve({ port: a.port, host: a.address, url: `http://${h}:${a.port}` });
      });
    });
  }

  /** Stops gracefully: refuses new connections, finishes requests in flight (at most `timeoutMs`), closes. */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const deadline = Date.now() + timeoutMs;
    while (this.active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await this.batcher.drain();
    this.server.closeAllConnections();
    await closed;
    await this.predictor?.close();
  }

  /** Batching counters. */
  stats(): BatcherStats {
    return this.batcher.snapshot();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.active++;
    const t0 = performance.now();
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const path = url.pathname;
      if (path === '/v1/detect') {
        if (req.method !== 'POST') throw new HttpError(405, `use POST for ${path}`);
        const options = this.parseOptions(url.searchParams);
        const body = await this.readBody(req);
        return this.send(res, 200, await this.detect(body, options, t0));
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `use GET for ${path}`);
      if (path === '/healthz') {
        return this.send(res, this.closing ? 503 : 200, { status: this.closing ? 'stopping' : 'ok', model: this.detector.config.architecture, classes: this.detector.config.classNames.length - 1, uptime_s: Math.round((Date.now() - this.startedAt) / 1000), batching: this.stats() });
      }
      if (path === '/model.json') {
        const c = this.detector.config;
        return this.send(res, 200, { classNames: c.classNames, inputSize: c.inputSize, normalization: c.normalization, defaults: this.defaults });
      }
      if (path === '/model.onnx') {
        this.modelOnnx ??= Promise.resolve().then(() => exportOnnx(this.detector, { withPostprocess: true, overridable: true, ...this.defaults }));
        return this.sendAsset(req, res, { body: await this.modelOnnx, type: 'application/octet-stream', cache: 'no-cache' });
      }
      const asset = path.startsWith('/ort/') ? ortAsset(path.slice(5)) : staticAsset(path);
      if (asset) return this.sendAsset(req, res, asset);
      throw new HttpError(404, `no route ${path}`);
    } catch (e) {
      if (e instanceof HttpError) return this.send(res, e.status, { error: e.message });
      if (e instanceof QueueFullError) return this.send(res, 503, { error: `busy: ${e.message}; retry later` });
      const id = randomUUID().slice(0, 8);
      this.log(`ssd serve: error ${id} on ${req.method} ${req.url}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      return this.send(res, 500, { error: `internal error (id ${id})` });
    } finally {
      this.active--;
    }
  }

  private async detect(body: Buffer, options: DetectOptions, t0: number): Promise<DetectResponse> {
    if (body.length === 0) throw new HttpError(400, 'empty body: send the image bytes (JPEG, PNG, WebP, GIF, TIFF, AVIF) as the request body');
    let prepared: PreparedImage;
    try {
      prepared = await this.detector.prepare(body);
    } catch (e) {
      // The library names the input and says what is wrong; only sharp's reason is worth passing on.
      const reason = e instanceof Error ? e.message.replace(/^.*cannot read image:\s*/, '') : '';
      throw new HttpError(400, `the body is not an image this server can read${reason ? ` (${reason})` : ''}`);
    }
    if (this.closing) throw new HttpError(503, 'the server is shutting down');
    const { locs, scores } = await this.batcher.submit(prepared);
    const dets = this.detector.postprocess(locs, scores, prepared.width, prepared.height, options);
    return {
      detections: dets.map((d) => ({ label: d.label, classIndex: d.classIndex, score: d.score, box: d.box })),
      width: prepared.width,
      height: prepared.height,
      time_ms: Math.round((performance.now() - t0) * 100) / 100,
    };
  }

  private parseOptions(q: URLSearchParams): DetectOptions {
    const known = new Set(['minScore', 'maxOverlap', 'topK', 'suppress']);
    for (const k of q.keys()) if (!known.has(k)) throw new HttpError(400, `unknown query parameter '${k}'; known: ${[...known].join(', ')}`);
    const num = (name: string, fallback: number, lo: number, hi: number, integer = false): number => {
      const v = q.get(name);
      if (v === null) return fallback;
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n) || n < lo || n > hi || (integer && !Number.isInteger(n))) {
        throw new HttpError(400, `query parameter ${name}=${v}: must be ${integer ? 'a whole number' : 'a number'} in [${lo}, ${hi}]`);
      }
      return n;
    };
    const suppress = (q.get('suppress') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const names = this.detector.config.classNames;
    for (const s of suppress) {
      if (!names.includes(s) && !(/^\d+$/.test(s) && Number(s) >= 1 && Number(s) < names.length)) {
        throw new HttpError(400, `query parameter suppress: unknown class '${s}'`);
      }
    }
    return {
      minScore: num('minScore', this.defaults.minScore, 0, 0.999999),
      maxOverlap: num('maxOverlap', this.defaults.maxOverlap, 0, 1),
      topK: num('topK', this.defaults.topK, 1, 10_000, true),
      suppress: suppress.map((s) => (names.includes(s) ? s : Number(s))),
    };
  }

  /** The body, refusing (413) one larger than the limit before reading it when Content-Length says so. */
  private readBody(req: IncomingMessage): Promise<Buffer> {
    const limit = this.maxBodyBytes;
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume(); // discard, so the 413 can be read by the client
      return Promise.reject(new HttpError(413, `body of ${declared} bytes exceeds the limit of ${limit} bytes`));
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let over = false;
      req.on('data', (c: Buffer) => {
        if (over) return;
        size += c.length;
        if (size > limit) {
          over = true;
          chunks.length = 0;
          reject(new HttpError(413, `body exceeds the limit of ${limit} bytes`));
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => !over && resolve(Buffer.concat(chunks)));
      req.on('error', (e) => reject(new HttpError(400, `could not read the body: ${e.message}`)));
    });
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent) return void res.end();
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...isolation, ...(this.closing ? { connection: 'close' } : {}) });
    res.end(text);
  }

  private sendAsset(req: IncomingMessage, res: ServerResponse, a: Asset): void {
    res.writeHead(200, { 'content-type': a.type, 'content-length': a.body.byteLength, 'cache-control': a.cache ?? 'no-cache', ...isolation });
    res.end(req.method === 'HEAD' ? undefined : a.body);
  }
}

/** Cross-origin isolation, so that the page may use SharedArrayBuffer (multi-threaded WebAssembly). */
const isolation = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', 'cross-origin-resource-policy': 'same-origin' };

/** Starts a {@link DetectionServer} on `port` (0: a free one) and `host`. */
export async function serve(detector: Detector, options: ServeOptions & { port?: number; host?: string } = {}): Promise<{ server: DetectionServer; url: string; port: number }> {
  const server = new DetectionServer(detector, options);
  const { url, port } = await server.listen(options.port ?? 8080, options.host ?? '127.0.0.1');
  return { server, url, port };
}
