/**
 * In-memory storage for a stream cache. Bytes are copied once, on write, into
 * blocks; readers get views of those blocks, so reading costs no copy.
 *
 * @module
 */
import type { FileSystem, StoredFile } from "./fs.ts";
import { Loan } from "./lent_views.ts";

/** The first block of a file holds at least this much (64 KiB). */
const MIN_BLOCK = 64 * 1024;
/**
 * Memory files' blocks double in size up to this (8 MiB), so a big file is
 * few views: every view is a chunk each live reader handles, and with 100
 * readers that per-chunk work, not the copying, is what slows the writer.
 */
const MAX_FILE_BLOCK = 8 << 20;
/**
 * A complete file up to MAX_FILE_BLOCK is put in one block of its exact size,
 * so it reads as one view (sent as bytes, with its length) and wastes nothing;
 * a bigger one's last block is cut to size if it wastes more than this (1 MiB).
 */
const MAX_SLACK = 1 << 20;

/**
 * Bytes copied into blocks that are only ever appended to: a view of written
 * bytes stays valid and unchanged however much is written after it (except
 * blocks whose views were lent, with `lend`: once trimmed or cleared, such a
 * block is detached when its lent views are all returned, and every view of
 * it then reads as empty; the disk storage's own `views` are read at once). Blocks
 * start at 64 KiB and double up to 1 MiB (a bigger chunk gets a block of its
 * own size), so a small file costs little and a big one reads as few large
 * views. Shared with the disk storage's live tail. Internal.
 */
export class _Blocks {
  /** Blocks in order; `#starts[i]` is the file offset of `#blocks[i][0]`. */
  readonly #blocks: Uint8Array[] = [];
  readonly #starts: number[] = [];
  /** Each block's loan, when views are lent (`lend`). */
  readonly #loans: (Loan | undefined)[] = [];
  /** Bytes used in the last block (it may have room left). */
  #lastUsed = 0;
  /** The file offset just past the last byte held. */
  end: number;

  readonly #maxBlock: number;

  /** Blocks for bytes from file offset `start` on, growing up to `maxBlock` bytes (default 1 MiB). */
  constructor(start = 0, maxBlock = 1 << 20) {
    this.end = start;
    this.#maxBlock = maxBlock;
  }

  /** File offset of the first byte held. */
  get start(): number {
    return this.#starts.length > 0 ? this.#starts[0] : this.end;
  }

  /** Copies `chunk` in at the end. */
  append(chunk: Uint8Array): void {
    let offset = 0;
    const last = this.#blocks[this.#blocks.length - 1];
    if (last && this.#lastUsed < last.byteLength) {
      offset = Math.min(last.byteLength - this.#lastUsed, chunk.byteLength);
      last.set(chunk.subarray(0, offset), this.#lastUsed);
      this.#lastUsed += offset;
    }
    if (offset < chunk.byteLength) {
      const rest = chunk.byteLength - offset;
      const grown = last
        ? Math.min(this.#maxBlock, Math.max(MIN_BLOCK, last.byteLength * 2))
        : MIN_BLOCK;
      const block = new Uint8Array(Math.max(rest, grown));
      block.set(chunk.subarray(offset));
      this.#starts.push(this.end + offset);
      this.#blocks.push(block);
      this.#loans.push(undefined);
      this.#lastUsed = rest;
    }
    this.end += chunk.byteLength;
  }

  /**
   * Replaces the last block by a copy of its used part when it wastes more
   * than `slack` bytes (views already handed out keep the old one).
   */
  shrink(slack: number): void {
    const last = this.#blocks.length - 1;
    if (last < 0 || this.#blocks[last].byteLength - this.#lastUsed <= slack) {
      return;
    }
    this.#blocks[last] = this.#blocks[last].slice(0, this.#lastUsed);
    // Views lent keep the old block, which is the collector's now.
    this.#loans[last] = undefined;
  }

  /**
   * Puts every byte held into one block of exactly their size, unless they
   * already are (views already handed out keep the old blocks).
   */
  coalesce(): void {
    const count = this.#blocks.length;
    if (
      count === 0 ||
      (count === 1 && this.#lastUsed === this.#blocks[0].byteLength)
    ) return;
    const start = this.start;
    const whole = new Uint8Array(this.end - start);
    let offset = 0;
    for (const view of this.views(start, this.end)) {
      whole.set(view, offset);
      offset += view.byteLength;
    }
    this.clear();
    this.#starts.push(start);
    this.#blocks.push(whole);
    this.#loans.push(undefined);
    this.#lastUsed = whole.byteLength;
  }

  /**
   * Drops whole blocks from the front while at least `keep` bytes remain; a
   * dropped block whose views were lent is freed once they are all returned.
   */
  trim(keep: number): void {
    while (this.#starts.length > 1 && this.end - this.#starts[1] >= keep) {
      this.#starts.shift();
      this.#blocks.shift();
      this.#loans.shift()?.drop();
    }
  }

  /** Drops every block; those whose views were lent go once all are returned. */
  clear(): void {
    for (const loan of this.#loans) loan?.drop();
    this.#blocks.length = 0;
    this.#starts.length = 0;
    this.#loans.length = 0;
    this.#lastUsed = 0;
  }

  /**
   * Views of `[start, end)`, as `views`, lent (see `lent_views.ts`): a
   * block trimmed off is detached once every view lent of it is returned.
   */
  lend(start: number, end: number): Uint8Array[] {
    return this.#views(start, end, true);
  }

  /** Views of `[start, end)`, which must lie within `[this.start, this.end)`. */
  views(start: number, end: number): Uint8Array[] {
    return this.#views(start, end, false);
  }

  #views(start: number, end: number, lent: boolean): Uint8Array[] {
    const views: Uint8Array[] = [];
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
      if (blockStart >= end) break;
      const from = Math.max(0, start - blockStart);
      const to = Math.min(this.#blocks[i].byteLength, end - blockStart);
      if (to <= from) continue;
      const view = this.#blocks[i].subarray(from, to);
      views.push(lent ? this.#loanOf(i).lend(view) : view);
    }
    return views;
  }

  #loanOf(index: number): Loan {
    let loan = this.#loans[index];
    if (!loan) {
      loan = this.#loans[index] = new Loan();
      loan.own([this.#blocks[index]]);
    }
    return loan;
  }
}

class MemoryFile implements StoredFile {
  readonly key: string;
  size = 0;
  modified: number;
  readonly #committed: Set<MemoryFile>;
  readonly #bytes = new _Blocks(0, MAX_FILE_BLOCK);
  /** The whole file as one view once asked for; `null`: not in one piece. */
  #whole: Uint8Array | null | undefined;
  #removed = false;

  constructor(key: string, committed: Set<MemoryFile>) {
    this.key = key;
    this.modified = Date.now();
    this.#committed = committed;
  }

  write(chunk: Uint8Array): Promise<void> {
    this.#bytes.append(chunk);
    this.size += chunk.byteLength;
    this.modified = Date.now();
    return Promise.resolve();
  }

  commit(): Promise<void> {
    if (this.size <= MAX_FILE_BLOCK) this.#bytes.coalesce();
    else this.#bytes.shrink(MAX_SLACK);
    this.#committed.add(this);
    return Promise.resolve();
  }

  abandon(): Promise<void> {
    return Promise.resolve();
  }

  read(start: number, end: number): Iterable<Uint8Array> {
    // Another cache on the same storage may have removed the file: its bytes
    // are gone, and an empty read would pass for a short entry.
    if (this.#removed) throw new Error(`${this.key}: file was removed`);
    return this.#bytes.views(start, end);
  }

  bytes(): Uint8Array | undefined {
    if (this.#removed) return undefined;
    // Asked only of complete files, which never change: one lookup is enough.
    if (this.#whole === undefined) {
      const views = this.#bytes.views(0, this.size);
      this.#whole = views.length === 0
        ? new Uint8Array(0)
        : views.length === 1
        ? views[0]
        : null;
    }
    return this.#whole ?? undefined;
  }

  remove(): Promise<void> {
    this.#committed.delete(this);
    this.#removed = true;
    this.#bytes.clear();
    this.#whole = undefined;
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
