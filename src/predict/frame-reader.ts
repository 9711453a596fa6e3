// Fixed-size records (raw video frames) from a byte stream such as a pipe. Chunks are pulled only as a record
// needs them, so what is held is one record and one chunk: the stream's producer waits (the pipe fills) instead
// of the reader buffering a whole video.
import type { Readable } from 'node:stream';

export class FrameReader {
  private readonly chunks: AsyncIterator<Buffer>;
  private pending: Buffer[] = [];
  private held = 0;

  constructor(stream: Readable) {
    this.chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** The next `bytes` bytes; null at the end of the stream. A stream that ends inside a record is an error. */
  async read(bytes: number): Promise<Buffer | null> {
    while (this.held < bytes) {
      const next = await this.chunks.next();
      if (next.done) break;
      this.pending.push(next.value);
      this.held += next.value.length;
    }
    if (this.held === 0) return null;
    if (this.held < bytes) throw new Error(`the stream ended inside a frame (${this.held} of ${bytes} bytes)`);
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.held);
    const rest = all.subarray(bytes);
    // The rest (less than a chunk) is copied: a view would keep the frame's memory alive with it.
    this.pending = rest.length > 0 ? [Buffer.from(rest)] : [];
    this.held = rest.length;
    return all.subarray(0, bytes);
  }
}
