// A counting semaphore: at most `limit` tasks run at once, the others wait in arrival order. The server runs
// image decodes through one, so that memory spent decoding is bounded by the limit whatever the number of
// concurrent requests.

/** Runs at most `limit` tasks at once; the rest wait, first come first served. */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`Semaphore: limit ${limit} must be a whole number >= 1`);
  }

  /** Tasks running now. */
  get running(): number {
    return this.active;
  }

  /** Tasks waiting for a turn. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `task` once a turn is free; the turn is given back when it settles. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      // The turn passes straight to the next waiter, so that `active` never dips and lets a newcomer jump ahead.
      if (next) next();
      else this.active--;
    }
  }
}
