/**
 * In-memory storage for a stream cache. Bytes are copied once, on write, into
 * blocks; readers get views of those blocks, so reading costs no copy.
 *
 * @module
 */
import type { FileSystem, StoredFile } from "./fs.ts";

/** Small writes are gathered into blocks of this size (64 KiB). */
const BLOCK_SIZE = 64 * 1024;

class MemoryFile implements StoredFile {
  readonly key: string;
  size = 0;
  modified: number;
  readonly #committed: Set<MemoryFile>;
  /** Blocks in order; `#starts[i]` is the entry offset of `#blocks[i][0]`. */
  readonly #blocks: Uint8Array[] = [];
  readonly #starts: number[] = [];
  /** Bytes used in the last block (it may have room left). */
  #lastUsed = 0;

  constructor(key: string, committed: Set<MemoryFile>) {
    this.key = key;
    this.modified = Date.now();
    this.#committed = committed;
  }

  write(chunk: Uint8Array): Promise<void> {
    let offset = 0;
    const last = this.#blocks[this.#blocks.length - 1];
    if (last && this.#lastUsed < last.byteLength) {
      offset = Math.min(last.byteLength - this.#lastUsed, chunk.byteLength);
      last.set(chunk.subarray(0, offset), this.#lastUsed);
      this.#lastUsed += offset;
    }
    if (offset < chunk.byteLength) {
      const rest = chunk.byteLength - offset;
      const block = new Uint8Array(Math.max(rest, BLOCK_SIZE));
      block.set(chunk.subarray(offset));
      this.#starts.push(this.size + offset);
      this.#blocks.push(block);
      this.#lastUsed = rest;
    }
    this.size += chunk.byteLength;
    this.modified = Date.now();
    return Promise.resolve();
  }

  commit(): Promise<void> {
    this.#committed.add(this);
    return Promise.resolve();
  }

  abandon(): Promise<void> {
    return Promise.resolve();
  }

  *read(start: number, end: number): Iterable<Uint8Array> {
    // Binary search for the block holding `start`.
    let low = 0;
    let high = this.#starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (this.#starts[mid] <= start) low = mid;
      else high = mid - 1;
    }
    for (let i = low; i < this.#blocks.length; i++) {
      const blockStart = this.#starts[i];
      if (blockStart >= end) return;
      const from = Math.max(0, start - blockStart);
      const to = Math.min(this.#blocks[i].byteLength, end - blockStart);
      if (to > from) yield this.#blocks[i].subarray(from, to);
    }
  }

  remove(): Promise<void> {
    this.#committed.delete(this);
    this.#blocks.length = 0;
    this.#starts.length = 0;
    return Promise.resolve();
  }
}

/**
 * Storage in memory. Committed files outlive a cache that is closed, so a new
 * cache on the same `memoryFs()` reloads them (as a disk cache would after a
 * restart).
 *
 * @example
 * ```ts
 * import { memoryFs, StreamCache } from "../../mod.ts";
 * const cache = new StreamCache({ fs: memoryFs() });
 * ```
 */
export function memoryFs(): FileSystem {
  const committed = new Set<MemoryFile>();
  return {
    create: (key) => Promise.resolve(new MemoryFile(key, committed)),
    reload: () => Promise.resolve([...committed]),
  };
}
