// Micro-batching: requests that arrive close together share one network run. The first item waits at most
// `maxWaitMs` for company; while a run is in flight, new items queue and go together in the next run (up to
// `maxBatch`), so under load batches fill by themselves and an idle server adds at most `maxWaitMs` of latency.

/** Options of {@link MicroBatcher}. */
export interface MicroBatcherOptions {
  /** Most items per run. Default 8. */
  maxBatch?: number;
  /** Longest an item waits for others before a run starts (when no run is in flight). Default 5 ms. */
  maxWaitMs?: number;
  /** Most items waiting; beyond it `submit` rejects with a {@link QueueFullError}. Default 256. */
  maxQueue?: number;
}

/** Thrown by `submit` when the queue is full (the server answers 503). */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
}

/** Counters of a batcher, for /healthz and tests. */
export interface BatcherStats {
  /** Runs done. */
  runs: number;
  /** Items done. */
  items: number;
  /** The largest batch run so far. */
  maxBatchSeen: number;
  /** Items waiting now. */
  queued: number;
  /** Items in the run in flight. */
  running: number;
}

interface Pending<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

/**
 * Collects items and runs them in batches through `run`, which must return one output per input, in order.
 * One run is in flight at a time (the ONNX Runtime session is one, and uses every core itself).
 */
export class MicroBatcher<I, O> {
  private readonly queue: Pending<I, O>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private runningCount = 0;
  private closed = false;
  private readonly maxBatch: number;
  private maxWaitMs: number;
  private readonly maxQueue: number;
  readonly stats = { runs: 0, items: 0, maxBatchSeen: 0 };

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    options: MicroBatcherOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 8;
    this.maxWaitMs = options.maxWaitMs ?? 5;
    this.maxQueue = options.maxQueue ?? 256;
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1) throw new Error(`MicroBatcher: maxBatch ${this.maxBatch} must be a whole number >= 1`);
    if (!(this.maxWaitMs >= 0)) throw new Error(`MicroBatcher: maxWaitMs ${this.maxWaitMs} must be >= 0`);
  }

  /** Queues `item`; resolves with its output once the batch it joined has run. */
  submit(item: I): Promise<O> {
    if (this.closed) return Promise.reject(new Error('the server is shutting down'));
    if (this.queue.length >= this.maxQueue) return Promise.reject(new QueueFullError(`queue full (${this.maxQueue} waiting)`));
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Current counters. */
  snapshot(): BatcherStats {
    return { ...this.stats, queued: this.queue.length, running: this.runningCount };
  }

  /** From now on items run as soon as the network is free, without waiting for company; those waiting go now. */
  stopWaiting(): void {
    this.maxWaitMs = 0;
    if (this.timer) this.start();
  }

  /** Stops taking items and resolves when every queued item has run. */
  async drain(): Promise<void> {
    this.closed = true;
    while (this.inFlight || this.queue.length) {
      if (!this.inFlight) this.start();
      await this.inFlight;
    }
  }

  private schedule(): void {
    if (this.inFlight) return; // the run in flight starts the next one when it ends
    if (this.queue.length >= this.maxBatch || this.maxWaitMs === 0) {
      this.start();
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.start(), this.maxWaitMs);
    }
  }

  private start(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.inFlight || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.maxBatch);
    this.runningCount = batch.length;
    this.inFlight = (async () => {
      try {
        const out = await this.run(batch.map((p) => p.item));
        if (out.length !== batch.length) throw new Error(`batch run returned ${out.length} outputs for ${batch.length} inputs`);
        batch.forEach((p, i) => p.resolve(out[i]!));
      } catch (e) {
        for (const p of batch) p.reject(e);
      } finally {
        this.stats.runs++;
        this.stats.items += batch.length;
        this.stats.maxBatchSeen = Math.max(this.stats.maxBatchSeen, batch.length);
        this.runningCount = 0;
        this.inFlight = undefined;
        // Whatever queued meanwhile goes now, without waiting: it has waited a whole run already.
        if (this.queue.length) this.start();
      }
    })();
  }
}
