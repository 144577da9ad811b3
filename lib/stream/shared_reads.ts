/**
 * Reads of one file shared by the readers at the same place in it. The file
 * is read in aligned chunks; a chunk read for one reader serves every other
 * reader that reaches it while it is kept, so a crowd reading one entry from
 * disk (clients that joined a download after the live tail moved on, or many
 * hits of one big body) costs one read per chunk, not one per reader, and
 * leaves the writer its share of the disk and the CPU.
 *
 * A chunk is kept while a stream still has it ahead, up to a few chunks;
 * when the last stream ends, all go.
 *
 * @module
 */
import { Loan } from "./lent_views.ts";

/** Reads body bytes `[start, end)`, all written, as one or more views. */
export type ReadChunk = (start: number, end: number) => Promise<Uint8Array[]>;

/** One chunk: its bytes from its start up to `end`, and, when the reads own them, their loan to streams. */
interface Chunk {
  end: number;
  views: Promise<Uint8Array[]>;
  loan?: Loan;
}

/** How {@link SharedReads} reads. */
export interface SharedReadsOptions {
  /** Bytes per chunk. Default 1 MiB. */
  chunkSize?: number;
  /** Chunks read ahead of each stream. Default 2. */
  ahead?: number;
  /** Most chunks kept at once. Default 8. */
  keep?: number;
  /**
   * Whether the buffers `read` gives are fresh and left to the reads, which
   * then free them once every view lent of them is returned
   * (`lent_views.ts`). Default `false`: a reader of its own (one that keeps
   * what it read, say) keeps its buffers.
   */
  owned?: boolean;
}

/** Shared chunked reads of one file's body. Internal to the disk storage. */
export class SharedReads {
  readonly #read: ReadChunk;
  readonly #written: () => number;
  readonly #idle: () => void;
  readonly #chunkSize: number;
  readonly #ahead: number;
  readonly #keep: number;
  readonly #owned: boolean;
  /** Chunks by index, least recently asked for first. */
  readonly #chunks = new Map<number, Chunk>();
  /** Open streams by the chunk their next byte is in. */
  readonly #streamsAt = new Map<number, number>();

  /**
   * `read` reads chunks; `written` says how many bytes are written; `idle`
   * is called when the last open stream ends (to close what reading holds).
   */
  constructor(
    read: ReadChunk,
    written: () => number,
    idle: () => void,
    options: SharedReadsOptions = {},
  ) {
    this.#read = read;
    this.#written = written;
    this.#idle = idle;
    this.#chunkSize = options.chunkSize ?? 1 << 20;
    this.#ahead = options.ahead ?? 2;
    this.#keep = Math.max(options.keep ?? 8, this.#ahead + 1);
    this.#owned = options.owned ?? false;
  }

  /** Body bytes `[start, end)`, all written. */
  stream(start: number, end: number): ReadableStream<Uint8Array> {
    const size = this.#chunkSize;
    let position = start;
    let at = Math.floor(start / size);
    this.#enter(at);
    let open = true;
    const done = () => {
      if (!open) return;
      open = false;
      this.#leave(at);
      if (this.#streamsAt.size === 0) this.#idle();
    };
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          if (position >= end) {
            done();
            controller.close();
            return;
          }
          const index = at;
          const chunk = this.#chunk(index, Math.min((index + 1) * size, end));
          for (let next = index + 1; next <= index + this.#ahead; next++) {
            if (next * size >= end) break;
            this.#chunk(next, Math.min((next + 1) * size, end));
          }
          // Dropped meanwhile, the chunk stays whole until its views are lent.
          const release = chunk.loan?.hold();
          try {
            const views = await chunk.views;
            const stop = Math.min(end, chunk.end);
            let offset = index * size;
            for (const view of views) {
              const from = Math.max(position, offset);
              const to = Math.min(stop, offset + view.byteLength);
              if (to > from) {
                // A view of its own for each stream: each is returned alone.
                const part = view.subarray(from - offset, to - offset);
                controller.enqueue(chunk.loan ? chunk.loan.lend(part) : part);
              }
              offset += view.byteLength;
            }
            // A short read must end the stream, never skip bytes.
            if (offset < stop) {
              throw new RangeError(
                `read ${offset - index * size} bytes at ${
                  index * size
                }, expected ${chunk.end - index * size}`,
              );
            }
            position = stop;
          } finally {
            release?.();
          }
          const next = Math.floor(position / size);
          if (next !== at) {
            // Leaving lets go at once of a chunk no stream has ahead any
            // more: kept until the next chunk read, buffers outlive
            // young-generation collections, get promoted, and set off full
            // ones (Deno then read a lone stream at 3 GB/s instead of 5).
            this.#enter(next);
            this.#leave(at);
            at = next;
          }
        } catch (error) {
          done();
          controller.error(error);
        }
      },
      cancel: done,
    }, { highWaterMark: 0 });
  }

  #enter(index: number): void {
    this.#streamsAt.set(index, (this.#streamsAt.get(index) ?? 0) + 1);
  }

  /** A stream leaves chunk `index`: when it was the last, drop what all passed. */
  #leave(index: number): void {
    const left = this.#streamsAt.get(index)! - 1;
    if (left > 0) this.#streamsAt.set(index, left);
    else {
      this.#streamsAt.delete(index);
      this.#dropPassed();
    }
  }

  /** Chunk `index`, holding at least up to `needed`: kept, or read now. */
  #chunk(index: number, needed: number): Chunk {
    let chunk = this.#chunks.get(index);
    this.#chunks.delete(index);
    if (!chunk || chunk.end < needed) {
      chunk?.loan?.drop();
      const start = index * this.#chunkSize;
      const end = Math.min(start + this.#chunkSize, this.#written());
      const views = this.#read(start, end);
      const made: Chunk = {
        end,
        views,
        loan: this.#owned ? new Loan() : undefined,
      };
      chunk = made;
      // A failed read is not kept; whoever awaits it gets the error.
      views.then((read) => made.loan?.own(read), () => {
        if (this.#chunks.get(index) === made) this.#chunks.delete(index);
      });
      this.#evict();
    }
    this.#chunks.set(index, chunk);
    return chunk;
  }

  /** Drops chunks every stream has passed, then the oldest over the limit. */
  #evict(): void {
    this.#dropPassed();
    for (const index of this.#chunks.keys()) {
      if (this.#chunks.size < this.#keep) break;
      this.#drop(index);
    }
  }

  /** Drops chunks every stream has passed (all of them, once none is open). */
  #dropPassed(): void {
    let lowest = Infinity;
    for (const index of this.#streamsAt.keys()) {
      lowest = Math.min(lowest, index);
    }
    for (const index of this.#chunks.keys()) {
      if (index < lowest) this.#drop(index);
    }
  }

  /** Forgets chunk `index`; its buffers go once the views lent are back. */
  #drop(index: number): void {
    this.#chunks.get(index)?.loan?.drop();
    this.#chunks.delete(index);
  }
}
