// The detection HTTP service: `POST /v1/detect` with an image body answers JSON detections; concurrent requests
// share network runs through a micro-batching queue; `GET /` is a web page that runs the exported model in the
// browser (onnxruntime-web) and falls back to this service.
//
// Errors are JSON `{error}`: 400 for a body that is not an image or a bad parameter, 404/405 for unknown routes,
// 413 for a body or an image (by its header's pixel count) beyond the limits, with the connection closed, 503 when
// the queue is full or the server is stopping, 500 for anything else, logged here with its stack and answered with
// an id only.
//
// What one client can cost is bounded: bodies by maxBodyBytes, images by maxPixels (judged from the header before
// decoding), decoding memory by maxDecodes images at a time, slow clients by the header and request timeouts,
// and everything by maxConnections. The network is checked at start-up with a blank image, so that a model that
// cannot run never listens, and /healthz says so when the network stops working afterwards.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { priorCount } from '../boxes/priors.js';
import { checkPixelLimit, DEFAULT_MAX_PIXELS, ImageDecodeError, ImageTooLargeError, megapixels, readImageHeader } from '../io/image.js';
import { exportOnnx } from '../nn/export.js';
import { MicroBatcher, QueueFullError, type BatcherStats } from './batcher.js';
import type { DetectOptions, Detection, Detector, PreparedImage } from './detector.js';
import { Semaphore } from './semaphore.js';
import { staticAsset, ortAsset, type Asset } from './static.js';
import { ThreadedPredictor } from './threaded-predictor.js';

/** Options of {@link DetectionServer}. */
export interface ServeOptions {
  /** Largest request body accepted, in bytes. Default 10 MB (10 * 2^20). */
  maxBodyBytes?: number;
  /** Largest image accepted, width x height in pixels, read from its header before decoding. Default 40 megapixels. */
  maxPixels?: number;
  /** Most images decoded at once (each may hold about 3.5 bytes per pixel of maxPixels while it decodes). Default: the cores. */
  maxDecodes?: number;
  /** Most open connections; more are refused at once (closed). Default 64. */
  maxConnections?: number;
  /** Longest a client may take to send a request's headers, in ms; then 408 and the connection is closed. Default 10 s. */
  headersTimeoutMs?: number;
  /** Longest a client may take to send a whole request, headers and body, in ms. Default 30 s. */
  requestTimeoutMs?: number;
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

/** A request error with its status and a message safe to show; `close` ends the connection after the answer. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly close = false,
  ) {
    super(message);
  }
}

/** A failure of the network on a batch: a 500 that says so, never mistaken for a bad image. */
class NetworkError extends Error {}

/** How the body is named in image errors (and stripped from the messages sent back). */
const BODY = 'request body';

/** Consecutive failed network runs after which /healthz reports the server as failing. */
const FAILING_AFTER = 3;

/**
 * An HTTP server around a detector. `listen` checks the model and starts it, `close` stops it gracefully: no new
 * connections, bodies still arriving are refused, requests being processed are answered, then every connection
 * is closed and the inference worker ends.
 */
export class DetectionServer {
  readonly server: Server;
  readonly batcher: MicroBatcher<PreparedImage, { locs: Float32Array; scores: Float32Array }>;
  private readonly maxBodyBytes: number;
  private readonly maxPixels: number;
  private readonly decodes: Semaphore;
  private readonly defaults: Required<NonNullable<ServeOptions['defaults']>>;
  private readonly log: (line: string) => void;
  private modelOnnx: Promise<Uint8Array> | undefined;
  private predictor: ThreadedPredictor | undefined;
  private readonly options: ServeOptions;
  private active = 0;
  private closing = false;
  private readonly startedAt = Date.now();
  /** Aborts of the bodies being read, called when the server stops. */
  private readonly readers = new Set<() => void>();
  private droppedConnections = 0;
  private failedRuns = 0;

  constructor(
    readonly detector: Detector,
    options: ServeOptions = {},
  ) {
    this.options = options;
    this.maxBodyBytes = options.maxBodyBytes ?? 10 * 2 ** 20;
    this.maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
    this.decodes = new Semaphore(options.maxDecodes ?? availableParallelism());
    this.defaults = { minScore: 0.2, maxOverlap: 0.45, topK: 200, ...options.defaults };
    this.log = options.log === null ? () => {} : (options.log ?? ((l) => console.error(l)));
    const headersTimeout = options.headersTimeoutMs ?? 10_000;
    const requestTimeout = options.requestTimeoutMs ?? 30_000;
    const maxConnections = options.maxConnections ?? 64;
    for (const [name, v] of [['maxBodyBytes', this.maxBodyBytes], ['maxPixels', this.maxPixels], ['headersTimeoutMs', headersTimeout], ['requestTimeoutMs', requestTimeout], ['maxConnections', maxConnections]] as const) {
      if (!(Number.isFinite(v) && v >= 1)) throw new Error(`DetectionServer: ${name} must be a number >= 1, got ${v}`);
    }
    if (headersTimeout > requestTimeout) throw new Error(`DetectionServer: headersTimeoutMs (${headersTimeout}) must not exceed requestTimeoutMs (${requestTimeout})`);
    const { width, height } = detector.config.inputSize;
    const plane = 3 * width * height;
    this.batcher = new MicroBatcher(
      async (items) => {
        const input = new Float32Array(items.length * plane);
        items.forEach((p, i) => input.set(p.data, i * plane));
        let out: { locs: Float32Array; scores: Float32Array };
        try {
          out = await (this.predictor ?? detector).predict(input, items.length);
        } catch (e) {
          this.failedRuns++;
          throw new NetworkError(`the network failed on a batch of ${items.length}`, { cause: e });
        }
        this.failedRuns = 0;
        const { locs, scores } = out;
        const nl = locs.length / items.length, ns = scores.length / items.length;
        return items.map((_, i) => ({ locs: locs.subarray(i * nl, (i + 1) * nl), scores: scores.subarray(i * ns, (i + 1) * ns) }));
      },
      { maxBatch: options.maxBatch ?? 8, maxWaitMs: options.maxWaitMs ?? 5, maxQueue: options.maxQueue ?? 256 },
    );
    // Node checks the header and request timeouts every connectionsCheckingInterval (default 30 s): check each
    // second so that they hold to about a second. Keep idle connections a little longer than clients usually do
    // (undici: 4 s), so that a client never reuses one the server just closed.
    this.server = createServer({ headersTimeout, requestTimeout, keepAliveTimeout: 10_000, connectionsCheckingInterval: Math.min(1000, headersTimeout) }, (req, res) => void this.handle(req, res));
    this.server.maxConnections = maxConnections;
    this.server.on('drop', () => this.droppedConnections++);
    // `Expect: 100-continue`: a body over the limit is refused before the client sends it.
    this.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      if (!(Number(req.headers['content-length']) > this.maxBodyBytes)) res.writeContinue();
      void this.handle(req, res);
    });
  }

  /**
   * Loads the network (in its worker thread), runs a blank image through it, then listens; resolves with the
   * bound address (port 0: a free one). A model that cannot run rejects here, naming what is wrong.
   */
  async listen(port = 8080, host = '127.0.0.1'): Promise<{ port: number; host: string; url: string }> {
    try {
      if ((this.options.inferenceThread ?? true) && !this.predictor) {
        this.predictor = await ThreadedPredictor.create(this.detector, this.options.threads === undefined ? {} : { threads: this.options.threads });
      }
      await this.checkModel();
      return await new Promise((resolve, reject) => {
        this.server.once('error', reject);
        this.server.listen(port, host, () => {
          this.server.off('error', reject);
          const a = this.server.address() as AddressInfo;
          const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
          resolve({ port: a.port, host: a.address, url: `http://${h}:${a.port}` });
        });
      });
    } catch (e) {
      // Nothing listens: let the worker go too, so that a failed start leaves no thread behind.
      const p = this.predictor;
      this.predictor = undefined;
      await p?.close();
      throw e;
    }
  }

  /** A blank image through preparation, the network and post-processing; the outputs must fit the config. */
  private async checkModel(): Promise<void> {
    const c = this.detector.config;
    const { width: W, height: H } = c.inputSize;
    const fail = (why: string) => new Error(`${c.architecture}: the model cannot run, so the server does not start: ${why}`);
    if (!(Number.isInteger(W) && Number.isInteger(H) && W > 0 && H > 0) || W * H > this.maxPixels) {
      throw fail(`its input size ${W}x${H} is not a size an image can be resized to (whole numbers, at most ${megapixels(this.maxPixels)} megapixels)`);
    }
    let out: { locs: Float32Array; scores: Float32Array };
    try {
      const blank = await this.detector.prepare({ data: new Uint8Array(64 * 48 * 3).fill(128), width: 64, height: 48, channels: 3 });
      out = await (this.predictor ?? this.detector).predict(blank.data, 1);
    } catch (e) {
      throw fail(`a blank ${W}x${H} image through the network failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    const P = priorCount(c.priors), K = c.classNames.length;
    if (out.locs.length !== 4 * P || out.scores.length !== P * K) {
      throw fail(`for one image the network gives ${out.locs.length} box values and ${out.scores.length} class scores; its config needs ${4 * P} (${P} priors x 4) and ${P * K} (${P} priors x ${K} classes)`);
    }
    try {
      this.detector.postprocess(out.locs, out.scores, W, H, this.defaults);
    } catch (e) {
      throw fail(`post-processing a blank image failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /**
   * Stops gracefully: refuses new connections and bodies still arriving (503), answers requests being processed
   * (at most `timeoutMs`), closes every connection and ends the inference worker. Idle, it takes milliseconds.
   */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    for (const abort of this.readers) abort();
    // Requests being processed go to the network as soon as they are ready, not after waiting for company.
    this.batcher.stopWaiting();
    const deadline = Date.now() + timeoutMs;
    while (this.active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await this.batcher.drain();
    this.server.closeAllConnections();
    await closed;
    const p = this.predictor;
    this.predictor = undefined;
    await p?.close();
  }

  /** Batching counters. */
  stats(): BatcherStats {
    return this.batcher.snapshot();
  }

  /** Why the server cannot answer detections now, or undefined when it can. */
  private failure(): string | undefined {
    const dead = this.predictor?.failure;
    if (dead) return dead;
    if (this.failedRuns >= FAILING_AFTER) return `the last ${this.failedRuns} network runs failed (the server log has the errors)`;
    return undefined;
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
      if (path === '/healthz') return this.health(res);
      if (path === '/model.json') {
        const c = this.detector.config;
        return this.send(res, 200, { classNames: c.classNames, inputSize: c.inputSize, normalization: c.normalization, precision: this.detector.onnx?.precision ?? 'float32', defaults: this.defaults });
      }
      if (path === '/model.onnx') {
        this.modelOnnx ??= Promise.resolve().then(() => exportOnnx(this.detector, { withPostprocess: true, overridable: true, ...this.defaults }));
        return this.sendAsset(req, res, { body: await this.modelOnnx, type: 'application/octet-stream', cache: 'no-cache' });
      }
      const asset = path.startsWith('/ort/') ? ortAsset(path.slice(5)) : staticAsset(path);
      if (asset) return this.sendAsset(req, res, asset);
      throw new HttpError(404, `no route ${path}`);
    } catch (e) {
      if (e instanceof HttpError) return this.send(res, e.status, { error: e.message }, e.close);
      if (e instanceof QueueFullError) return this.send(res, 503, { error: `busy: ${e.message}; retry later` });
      const id = randomUUID().slice(0, 8);
      const cause = e instanceof NetworkError && e.cause !== undefined ? e.cause : e;
      this.log(`ssd serve: error ${id} on ${req.method} ${req.url}: ${e instanceof NetworkError ? `${e.message}: ` : ''}${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`);
      const error = e instanceof NetworkError ? `the network failed on this request (error id ${id}; the server log has the details)` : `internal error (id ${id})`;
      return this.send(res, 500, { error });
    } finally {
      this.active--;
    }
  }

  private health(res: ServerResponse): void {
    const failure = this.failure();
    const status = this.closing ? 'stopping' : failure ? 'failing' : 'ok';
    this.send(res, status === 'ok' ? 200 : 503, {
      status,
      ...(failure ? { error: failure } : {}),
      model: this.detector.config.architecture,
      classes: this.detector.config.classNames.length - 1,
      uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
      batching: this.stats(),
      decoding: { running: this.decodes.running, queued: this.decodes.queued, limit: this.decodes.limit },
      connections: { dropped: this.droppedConnections },
    });
  }

  private async detect(body: Buffer, options: DetectOptions, t0: number): Promise<DetectResponse> {
    if (body.length === 0) throw new HttpError(400, 'empty body: send the image bytes (JPEG, PNG, WebP, GIF, TIFF, AVIF) as the request body');
    let prepared: PreparedImage;
    try {
      // The header first, outside the decode queue: an image bomb is refused at once whatever else is decoding.
      checkPixelLimit(await readImageHeader(body, { name: BODY }), this.maxPixels, BODY);
      prepared = await this.decodes.run(() => this.detector.prepare(body, { maxPixels: this.maxPixels, name: BODY }));
    } catch (e) {
      if (e instanceof ImageTooLargeError) {
        throw new HttpError(413, `the image is ${e.width}x${e.height} = ${megapixels(e.width * e.height)} megapixels, above this server's limit of ${megapixels(e.maxPixels)} megapixels`, true);
      }
      if (e instanceof ImageDecodeError) throw new HttpError(400, `the body is not an image this server can read (${e.reason})`);
      throw e;
    }
    if (this.closing) throw new HttpError(503, 'the server is shutting down');
    let outputs: { locs: Float32Array; scores: Float32Array };
    try {
      outputs = await this.batcher.submit(prepared);
    } catch (e) {
      // Once the server stops, the batcher takes no new items.
      if (this.closing && !(e instanceof NetworkError)) throw new HttpError(503, 'the server is shutting down');
      throw e;
    }
    const dets = this.detector.postprocess(outputs.locs, outputs.scores, prepared.width, prepared.height, options);
    return {
      detections: dets.map((d) => ({ label: d.label, classIndex: d.classIndex, score: d.score, box: d.box })),
      width: prepared.width,
      height: prepared.height,
      time_ms: Math.round((performance.now() - t0) * 100) / 100,
    };
  }

  private parseOptions(q: URLSearchParams): DetectOptions {
    const known = new Set(['minScore', 'maxOverlap', 'topK', 'suppress']);
    const seen = new Set<string>();
    for (const k of q.keys()) {
      if (!known.has(k)) throw new HttpError(400, `unknown query parameter '${k}'; known: ${[...known].join(', ')}`);
      if (seen.has(k)) throw new HttpError(400, `query parameter '${k}' is given ${q.getAll(k).length} times; give it once`);
      seen.add(k);
    }
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

  /**
   * The body, refusing (413, connection closed) one larger than the limit: before reading it when Content-Length
   * says so, else as soon as the bytes read pass the limit. Nothing more is read after a refusal.
   */
  private readBody(req: IncomingMessage): Promise<Buffer> {
    const limit = this.maxBodyBytes;
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      return Promise.reject(new HttpError(413, `body of ${declared} bytes exceeds the limit of ${limit} bytes`, true));
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      const finish = (e?: HttpError) => {
        if (done) return;
        done = true;
        this.readers.delete(abort);
        req.off('data', onData);
        if (e) {
          chunks.length = 0;
          // Stop reading: the socket closes once the answer is sent (Connection: close).
          req.pause();
          reject(e);
        } else {
          resolve(Buffer.concat(chunks));
        }
      };
      const abort = () => finish(new HttpError(503, 'the server is shutting down', true));
      const onData = (c: Buffer) => {
        size += c.length;
        if (size > limit) finish(new HttpError(413, `body exceeds the limit of ${limit} bytes`, true));
        else chunks.push(c);
      };
      this.readers.add(abort);
      req.on('data', onData);
      req.on('end', () => finish());
      req.on('error', (e) => finish(new HttpError(400, `could not read the body: ${e.message}`, true)));
      // A client that goes away (or a request timeout that closed the connection) ends the wait too.
      req.on('close', () => finish(new HttpError(400, 'the connection closed before the body was complete', true)));
    });
  }

  private send(res: ServerResponse, status: number, body: unknown, close = false): void {
    if (res.destroyed || res.socket?.destroyed) return;
    if (res.headersSent) return void res.end();
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...isolation, ...(close || this.closing ? { connection: 'close' } : {}) });
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
