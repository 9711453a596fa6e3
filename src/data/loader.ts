/**
 * A parallel data loader: worker threads decode, augment and match samples straight into a shared
 * ring of sample cells; the main thread takes them in the epoch's order and copies them into
 * batches, with the ring prefetching ahead so that the network never waits for data.
 *
 * Batches are reproducible whatever the number of workers: sample `i` of epoch `e` is prepared with
 * its own seed `sampleSeed(seed, e, i)`, and the epoch's order is a permutation drawn from
 * `(seed, e)` alone. Which worker prepares a sample changes nothing.
 *
 * With `skipBad`, a sample whose image cannot be decoded (truncated, not an image, too large) is
 * skipped, counted and named (`Batch.skipped`, `DataLoader.skipped`), and its batch is filled from
 * the samples after it: batch b of an epoch is the b-th run of batchSize in the epoch's order with the
 * bad samples taken out, the same on every run. A bad sample found once is left out of later epochs
 * without being decoded again; a resumed run passes the ids found before as `skipIds` so that its
 * batches are the uninterrupted run's.
 *
 * Matching runs in the workers too: it costs 0.4 ms a sample (8 732 priors, 3 objects) against ~25 ms
 * for decoding and augmenting a 500x375 JPEG, and keeping it off the main thread leaves that thread to
 * feed the network.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { deriveSeed, Random } from './random.js';
import {
  runRequest,
  slotViews,
  type LoaderSample,
  type PrepareConfig,
  type SampleResponse,
  type SampleResult,
  type SlotLayout,
  type WorkerRequest,
  type WorkerResponse,
} from './loader-worker.js';

export type { LoaderSample } from './loader-worker.js';

/** Options of {@link DataLoader.create}. */
export interface DataLoaderOptions {
  /** The samples, in the split file's order. */
  samples: readonly LoaderSample[];
  /** Images per batch. */
  batchSize: number;
  /** The network's input size: images are resized to size x size. Default 300. */
  inputSize?: number;
  /**
   * The priors as (P,4) `[cx, cy, w, h]` fractional rows. When given, every sample's boxes are matched
   * to them and batches carry `trueClasses`/`trueLocs`; without, batches carry images only (evaluation).
   */
  priors?: Float32Array;
  /** The IoU threshold of the matcher. Default 0.5. */
  matchThreshold?: number;
  /** Apply the training augmentation (photometric, expand, crop, flip). Default true; off: resize + normalise only. */
  augment?: boolean;
  /** Per-channel normalisation of 0..1 RGB values. Default ImageNet's (the model config's `normalization`). */
  normalization?: { mean: readonly number[]; std: readonly number[] };
  /** Draw a new order every epoch. Default true; off: the samples' own order. */
  shuffle?: boolean;
  /** Drop a last batch smaller than batchSize. Default false. */
  dropLast?: boolean;
  /** Seed of the order and of every random choice of augmentation. Default 0. */
  seed?: number;
  /** Worker threads. Default: min(4, available cores); 0 prepares samples on the calling thread. */
  workers?: number;
  /** Batches prepared ahead of the one being consumed. Default 2. */
  prefetch?: number;
  /**
   * Skip samples whose image cannot be decoded (truncated JPEG, not an image, more than maxImagePixels)
   * and fill their batch from the next samples. Default false: such a sample stops the epoch with an
   * error naming the file.
   */
  skipBad?: boolean;
  /** Ids of samples known to be bad (what `skippedIds()` gave in the run being resumed): left out of every epoch. */
  skipIds?: readonly string[];
  /** Images with more pixels than this cannot be decoded (a bad sample). Default 8192 x 8192. */
  maxImagePixels?: number;
}

/** A sample left out because its image cannot be decoded. */
export interface SkippedSample {
  /** Index in `samples`. */
  sampleIndex: number;
  id: string;
  imagePath: string;
  /** Why, naming the file: `<path>: cannot decode image: <decoder message>`. */
  message: string;
  /** The epoch in which it was found. */
  epoch: number;
}

/** One batch, in the network's input layout. The arrays belong to the caller. */
export interface Batch {
  /** 0-based epoch. */
  epoch: number;
  /** 0-based position of the batch in its epoch. */
  index: number;
  /** Images in this batch (batchSize, or fewer for a last short batch). */
  size: number;
  /** Whether this is the epoch's last batch (with skipBad, bad samples can end an epoch before batchesPerEpoch). */
  last: boolean;
  /** Samples skipped while this batch was filled (only with skipBad; empty when none). */
  skipped: SkippedSample[];
  /** (size,3,H,W) float32, normalised ((x/255 - mean) / std). */
  images: Float32Array;
  /** (size,P) int64 class per prior (0 = background); only when priors were given. */
  trueClasses?: BigInt64Array;
  /** (size,P,4) float32 encoded offsets per prior; only when priors were given. */
  trueLocs?: Float32Array;
  /** Index in `samples` of each image. */
  sampleIndices: Int32Array;
  /** (size,2) original width, height of each image in pixels. */
  imageSizes: Int32Array;
  /** Objects kept after augmentation, per image. */
  objectCounts: Int32Array;
}

/** Seed of sample `index` of epoch `epoch` for a run seeded `seed`. */
export function sampleSeed(seed: number, epoch: number, index: number): number {
  return deriveSeed(seed, epoch, index);
}

/**
 * The order of epoch `epoch`: indices 0..n-1, shuffled by a generator seeded from `(seed, epoch)`,
 * or as given when `shuffle` is off.
 */
export function epochOrder(n: number, seed: number, epoch: number, shuffle: boolean): Int32Array {
  const order = Array.from({ length: n }, (_, i) => i);
  if (shuffle) new Random(deriveSeed(seed, epoch, -1)).shuffle(order);
  return Int32Array.from(order);
}

/** One cell of the sample ring: the sample being prepared in it and how that went. */
interface Cell {
  /** Position in the epoch's stream of the sample in this cell, or -1 when free. */
  position: number;
  sampleIndex: number;
  /** Whether its request went to a worker (queued ones are dropped when an epoch is abandoned). */
  sent: boolean;
  done: boolean;
  response: SampleResponse | undefined;
  /** Wakes the epoch waiting for this cell. */
  wake: (() => void) | undefined;
}

type RingBuffers = { images: SharedArrayBuffer; classes: SharedArrayBuffer; locs: SharedArrayBuffer };

/** Starts one loader worker. */
function spawnWorker(workerData: unknown): Worker {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const entry = new URL(`./loader-worker${ext}`, import.meta.url);
  if (ext === '.js') return new Worker(entry, { workerData });
  // Under tsx (tests, development) a worker does not inherit tsx's loader for its entry file:
  // register it first, then import the TypeScript entry.
  const api = import.meta.resolve('tsx/esm/api');
  const code = `const { register } = await import(${JSON.stringify(api)}); register(); await import(${JSON.stringify(entry.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), { workerData, execArgv: [] });
}

type LoaderSettings = Required<Omit<DataLoaderOptions, 'priors' | 'normalization' | 'skipIds' | 'maxImagePixels'>> &
  Pick<DataLoaderOptions, 'priors' | 'normalization' | 'maxImagePixels'>;

/** A parallel, reproducible batch loader. Create with {@link DataLoader.create}; call {@link close} when done. */
export class DataLoader {
  /**
   * Batches in one epoch, for the samples not known to be bad when the loader was made. With skipBad, an
   * epoch in which bad samples are found can have fewer (`Batch.last` marks the end of every epoch).
   */
  readonly batchesPerEpoch: number;
  readonly batchSize: number;
  readonly inputSize: number;
  /** Priors per image (0 without priors). */
  readonly numPriors: number;
  /** Samples found bad by this loader, in the order found (deterministic: the epochs' order). */
  readonly skipped: SkippedSample[] = [];
  private readonly known: Set<number>;
  private readonly given: string[];
  private readonly ring: { buffers: RingBuffers; layout: SlotLayout; views: ReturnType<typeof slotViews> };
  private readonly cells: Cell[];
  private readonly workers: Worker[] = [];
  private readonly idle: number[] = [];
  private readonly queue: WorkerRequest[] = [];
  private readonly config: PrepareConfig;
  private closed = false;
  private running = false;
  private fatal: Error | undefined;
  /** Images prepared since creation, and the thread time they took. */
  private prepared = 0;
  private busyMs = 0;
  private readonly started = performance.now();

  private constructor(
    private readonly opts: LoaderSettings,
    skipIds: readonly string[],
  ) {
    const n = opts.samples.length;
    this.batchSize = opts.batchSize;
    this.inputSize = opts.inputSize;
    const wanted = new Set(skipIds);
    this.known = new Set(opts.samples.flatMap((s, i) => (wanted.has(s.id) ? [i] : [])));
    this.given = opts.samples.filter((s) => wanted.has(s.id)).map((s) => s.id);
    const usable = n - this.known.size;
    this.batchesPerEpoch = opts.dropLast ? Math.floor(usable / opts.batchSize) : Math.ceil(usable / opts.batchSize);
    this.numPriors = opts.priors ? opts.priors.length / 4 : 0;
    this.config = {
      inputSize: opts.inputSize,
      augment: opts.augment,
      matchThreshold: opts.matchThreshold,
      priors: opts.priors,
      mean: opts.normalization?.mean,
      std: opts.normalization?.std,
      maxImagePixels: opts.maxImagePixels,
    };
    // As many cells as the batch being filled and `prefetch` batches ahead.
    const size = (opts.prefetch + 1) * opts.batchSize;
    const layout: SlotLayout = { batchSize: size, inputSize: opts.inputSize, numPriors: this.numPriors };
    const buffers: RingBuffers = {
      images: new SharedArrayBuffer(4 * size * 3 * opts.inputSize * opts.inputSize),
      classes: new SharedArrayBuffer(8 * size * this.numPriors),
      locs: new SharedArrayBuffer(16 * size * this.numPriors),
    };
    this.ring = { buffers, layout, views: slotViews(buffers, layout) };
    this.cells = Array.from({ length: size }, () => ({ position: -1, sampleIndex: -1, sent: false, done: false, response: undefined, wake: undefined }));
  }

  /** Creates a loader and starts its workers. Throws on an empty dataset or bad sizes. */
  static async create(options: DataLoaderOptions): Promise<DataLoader> {
    const { samples, batchSize } = options;
    if (samples.length === 0) throw new Error('data loader: the dataset has no samples');
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`data loader: batchSize must be a positive whole number, got ${batchSize}`);
    if (options.priors && options.priors.length % 4 !== 0) throw new Error(`data loader: priors length ${options.priors.length} is not a multiple of 4`);
    const workers = options.workers ?? Math.min(4, availableParallelism());
    if (!Number.isInteger(workers) || workers < 0) throw new Error(`data loader: workers must be a whole number >= 0, got ${workers}`);
    const loader = new DataLoader(
      {
        samples,
        batchSize,
        inputSize: options.inputSize ?? 300,
        priors: options.priors,
        normalization: options.normalization,
        matchThreshold: options.matchThreshold ?? 0.5,
        augment: options.augment ?? true,
        shuffle: options.shuffle ?? true,
        dropLast: options.dropLast ?? false,
        seed: options.seed ?? 0,
        workers,
        prefetch: Math.max(1, options.prefetch ?? 2),
        skipBad: options.skipBad ?? false,
        maxImagePixels: options.maxImagePixels,
      },
      options.skipIds ?? [],
    );
    if (loader.batchesPerEpoch === 0) {
      throw new Error(`data loader: ${samples.length - loader.known.size} samples make no full batch of ${batchSize} (dropLast is on)`);
    }
    await loader.startWorkers(workers);
    return loader;
  }

  private async startWorkers(count: number): Promise<void> {
    const starts: Promise<void>[] = [];
    for (let w = 0; w < count; w++) {
      const worker = spawnWorker({
        kind: 'ssd-loader',
        samples: this.opts.samples,
        config: this.config,
        ring: { buffers: this.ring.buffers, layout: this.ring.layout },
      });
      // A worker must not keep the process alive on its own (a crashed caller must still exit).
      worker.unref();
      this.workers.push(worker);
      starts.push(
        new Promise<void>((resolve, reject) => {
          const onMessage = (m: WorkerResponse) => {
            if (m.type === 'ready') {
              worker.off('message', onMessage);
              worker.off('error', reject);
              resolve();
            }
          };
          worker.on('message', onMessage);
          worker.once('error', reject);
        }),
      );
      worker.on('message', (m: WorkerResponse) => this.onWorkerMessage(w, m));
      worker.on('error', (e) => this.onFatal(new Error(`data loader worker ${w} failed: ${e.message}`)));
      worker.on('exit', (code) => {
        if (!this.closed && code !== 0) this.onFatal(new Error(`data loader worker ${w} exited with code ${code}`));
      });
    }
    await Promise.all(starts);
    for (let w = 0; w < count; w++) this.idle.push(w);
  }

  private onFatal(e: Error): void {
    if (this.fatal) return;
    this.fatal = e;
    for (const c of this.cells) c.wake?.();
  }

  private onWorkerMessage(w: number, m: WorkerResponse): void {
    if (m.type === 'ready') return;
    this.idle.push(w);
    this.complete(m);
    this.dispatch();
  }

  /** Records how preparing a cell's sample went and wakes whoever waits for it. */
  private complete(m: SampleResponse): void {
    const cell = this.cells[m.cell]!;
    if (m.type === 'done') this.busyMs += m.result.ms;
    this.prepared++;
    cell.done = true;
    cell.response = m;
    cell.wake?.();
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.shift()!;
      const req = this.queue.shift()!;
      this.cells[req.cell]!.sent = true;
      this.workers[w]!.postMessage(req);
    }
  }

  /** Images prepared per second of wall-clock time since the loader started (bounded by what was consumed). */
  imagesPerSecond(): number {
    return this.prepared / ((performance.now() - this.started) / 1000);
  }

  /**
   * What the loader could deliver if nothing waited for it: images per second of preparation time, times
   * the number of threads preparing (an estimate that assumes each worker has a core of its own).
   */
  capacity(): number {
    return this.busyMs > 0 ? (this.prepared / (this.busyMs / 1000)) * Math.max(1, this.workers.length) : NaN;
  }

  /** Ids of every sample left out: those given as `skipIds` and those found bad since (what a resumed run passes back). */
  skippedIds(): string[] {
    return [...this.given, ...this.skipped.map((s) => s.id)];
  }

  /**
   * The batches of epoch `epoch`, in order, starting at batch `startBatch` (to resume mid-epoch).
   * Each yielded batch is a fresh copy: it stays valid after the iteration moves on.
   */
  async *epoch(epoch: number, startBatch = 0): AsyncGenerator<Batch> {
    if (this.closed) throw new Error('data loader: used after close()');
    if (this.running) throw new Error('data loader: an epoch is already being iterated; finish or abandon it first');
    this.running = true;
    const order = epochOrder(this.opts.samples.length, this.opts.seed, epoch, this.opts.shuffle);
    // The epoch's stream: its order without the samples known to be bad.
    const stream = this.known.size > 0 ? order.filter((i) => !this.known.has(i)) : order;
    const cursor = { next: startBatch * this.batchSize, dispatched: startBatch * this.batchSize };
    try {
      let index = startBatch;
      let batch = await this.fill(stream, cursor, epoch, index);
      while (batch) {
        // With skipBad only filling the next batch tells whether there is one; without, the count is exact.
        const following = this.opts.skipBad ? await this.fill(stream, cursor, epoch, index + 1) : undefined;
        batch.last = this.opts.skipBad ? following === undefined : !this.anotherBatch(stream.length, cursor.next);
        yield batch;
        index++;
        batch = this.opts.skipBad ? following : batch.last ? undefined : await this.fill(stream, cursor, epoch, index);
      }
    } finally {
      // An abandoned iteration: forget queued work, then wait for the samples already in flight.
      this.queue.length = 0;
      await this.drain();
      this.running = false;
    }
  }

  /** Whether `remaining` positions of the stream from `next` make another batch (without skipping). */
  private anotherBatch(length: number, next: number): boolean {
    const remaining = length - next;
    return this.opts.dropLast ? remaining >= this.batchSize : remaining > 0;
  }

  /** Queues the stream's positions that have a free cell: at most one ring's worth ahead of `cursor.next`. */
  private prefetch(stream: Int32Array, cursor: { next: number; dispatched: number }, epoch: number): void {
    const size = this.cells.length;
    while (cursor.dispatched < stream.length && cursor.dispatched < cursor.next + size) {
      const position = cursor.dispatched++;
      const index = position % size;
      const sampleIndex = stream[position]!;
      this.cells[index] = { position, sampleIndex, sent: false, done: false, response: undefined, wake: undefined };
      this.queue.push({ type: 'prepare', cell: index, sampleIndex, seed: sampleSeed(this.opts.seed, epoch, sampleIndex) });
    }
    if (this.workers.length > 0) this.dispatch();
  }

  /** Waits until the cell holding stream position `position` is prepared (preparing it here without workers). */
  private async await(position: number): Promise<Cell> {
    const cell = this.cells[position % this.cells.length]!;
    if (!cell.done && this.workers.length === 0) {
      const i = this.queue.findIndex((r) => r.cell === position % this.cells.length);
      if (i < 0) throw new Error(`data loader: position ${position} was never queued`);
      const [req] = this.queue.splice(i, 1);
      this.complete(await runRequest(this.opts.samples, this.config, this.ring.views, req!));
    }
    if (!cell.done && !this.fatal) await new Promise<void>((resolve) => (cell.wake = resolve));
    cell.wake = undefined;
    if (this.fatal) throw this.fatal;
    return cell;
  }

  /**
   * Fills batch `index` from the stream at `cursor.next`: takes prepared samples in order, skipping bad ones
   * (with skipBad), until the batch is full or the stream ends. Undefined when no batch can be made.
   */
  private async fill(stream: Int32Array, cursor: { next: number; dispatched: number }, epoch: number, index: number): Promise<Batch | undefined> {
    if (cursor.next >= stream.length) return undefined;
    const B = this.batchSize;
    const P = this.numPriors;
    const imgLen = 3 * this.inputSize * this.inputSize;
    const views = this.ring.views;
    const images = new Float32Array(B * imgLen);
    const classes = P > 0 ? new BigInt64Array(B * P) : undefined;
    const locs = P > 0 ? new Float32Array(B * P * 4) : undefined;
    const sampleIndices = new Int32Array(B);
    const imageSizes = new Int32Array(2 * B);
    const objectCounts = new Int32Array(B);
    const skipped: SkippedSample[] = [];
    let k = 0;
    while (k < B && cursor.next < stream.length) {
      this.prefetch(stream, cursor, epoch);
      const position = cursor.next;
      const cell = await this.await(position);
      const response = cell.response!;
      if (response.type === 'done') {
        const c = position % this.cells.length;
        const r: SampleResult = response.result;
        images.set(views.images.subarray(c * imgLen, (c + 1) * imgLen), k * imgLen);
        if (classes && locs) {
          classes.set(views.classes.subarray(c * P, (c + 1) * P), k * P);
          locs.set(views.locs.subarray(c * P * 4, (c + 1) * P * 4), k * P * 4);
        }
        sampleIndices[k] = r.sampleIndex;
        imageSizes[2 * k] = r.width;
        imageSizes[2 * k + 1] = r.height;
        objectCounts[k] = r.objects;
        k++;
      } else if (response.type === 'bad' && this.opts.skipBad) {
        const sample = this.opts.samples[cell.sampleIndex]!;
        const bad: SkippedSample = { sampleIndex: cell.sampleIndex, id: sample.id, imagePath: sample.imagePath, message: response.message, epoch };
        this.known.add(cell.sampleIndex);
        this.skipped.push(bad);
        skipped.push(bad);
      } else {
        throw new Error(response.message);
      }
      cell.position = -1;
      cursor.next++;
    }
    if (k === 0 || (this.opts.dropLast && k < B)) return undefined;
    const batch: Batch = {
      epoch,
      index,
      size: k,
      last: false,
      skipped,
      images: k < B ? images.slice(0, k * imgLen) : images,
      sampleIndices: k < B ? sampleIndices.slice(0, k) : sampleIndices,
      imageSizes: k < B ? imageSizes.slice(0, 2 * k) : imageSizes,
      objectCounts: k < B ? objectCounts.slice(0, k) : objectCounts,
    };
    if (classes && locs) {
      batch.trueClasses = k < B ? classes.slice(0, k * P) : classes;
      batch.trueLocs = k < B ? locs.slice(0, k * P * 4) : locs;
    }
    return batch;
  }

  /** Waits until no sample is in flight, then frees every cell. */
  private async drain(): Promise<void> {
    for (const cell of this.cells) {
      if (cell.position >= 0 && cell.sent && !cell.done && !this.fatal) {
        await new Promise<void>((resolve) => (cell.wake = resolve));
      }
      cell.wake = undefined;
      cell.position = -1;
    }
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
