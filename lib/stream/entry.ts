/**
 * One entry of a stream cache: a single writer and any number of readers that
 * follow it live. Readers read from the entry's storage, never from per-reader
 * queues, so a slow reader holds back no one (this is not `tee()`), and a
 * reader that arrives late still starts from byte 0.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import type { Clock } from "../clock.ts";
import { type Deferred, deferred } from "../deferred.ts";
import { EntryAbortedError, StorageFailedError } from "./errors.ts";
import type { StoredFile } from "./fs.ts";

/**
 * Bytes written between wakes of waiting readers, unless a millisecond passes
 * first: the storage's `followStep`, else 8 MiB or a quarter of its follow
 * window if that is less (never under 64 KiB), so woken readers still find
 * their bytes in memory.
 */
function wakeBytes(file: StoredFile | undefined): number {
  if (file?.followStep !== undefined) return file.followStep;
  const window = file?.followWindow;
  return window === undefined
    ? 8 << 20
    : Math.max(64 * 1024, Math.min(8 << 20, window / 4));
}

/**
 * The longest a trickle of writes waits before waiting readers are woken, in
 * ms per waiting reader: waking one costs a microsecond or two, so this keeps
 * wakes to about a twentieth of the writer's time however many follow it,
 * between 1 ms (up to 25 readers) and 8 ms (200 and more).
 */
const TRICKLE_MS_PER_READER = 0.04;

/**
 * Bytes a writer stores before one of its writes waits for a turn of the event
 * loop (128 KiB). A source and a storage that both answer at once (a fast
 * socket into memory) would otherwise hold the thread until the last byte,
 * and every other client would wait for all of it. At 512 KiB, a small hit on
 * Deno behind nine clients of a 256 MiB memory miss waited a median 10.6-14.3
 * ms for its first byte, at 128 KiB 8.2-10.2 ms, with the miss as fast
 * (`docs/bench_proxy.md`, session 16).
 */
const WRITE_SLICE = 128 * 1024;

/** How much of an entry is written. */
export interface EntrySize {
  /**
   * Bytes written so far.
   *
   * @example
   * ```ts
   * import { memoryFs, StreamCache } from "../../mod.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * const { reader, writer } = await cache.get("k");
   * await writer!.getWriter().write(new Uint8Array(3));
   * reader.size().size; // 3
   * ```
   */
  size: number;
  /**
   * Whether the writer has finished.
   *
   * @example
   * ```ts
   * import { memoryFs, StreamCache } from "../../mod.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * const { reader, writer } = await cache.get("k");
   * await writer!.close();
   * reader.size().complete; // true
   * ```
   */
  complete: boolean;
}

/**
 * Reads one entry. Every caller of `cache.get` gets one, the writer too.
 * Release it with `close()` (or `await using`); streams already opened from it
 * keep the entry alive until they end.
 */
export interface EntryReader extends AsyncDisposable, Disposable {
  /**
   * The entry's key.
   *
   * @example
   * ```ts
   * import { memoryFs, StreamCache } from "../../mod.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * const { reader } = await cache.get("greeting");
   * reader.key; // "greeting"
   * ```
   */
  readonly key: string;
  /**
   * Bytes `[start, end)` (end exclusive, as in `Blob.slice`): those already
   * written, then more as the writer writes them, until it closes. A range past
   * what is written waits for it; one past the final size ends at the final
   * size. The stream errors if the writer aborts.
   *
   * @example
   * ```ts
   * import { memoryFs, StreamCache } from "../../mod.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * const { reader, writer } = await cache.get("k");
   * new Response("hello").body!.pipeTo(writer!);
   * await new Response(reader.stream(1, 3)).text(); // "el"
   * ```
   */
  stream(start?: number, end?: number): ReadableStream<Uint8Array>;
  /**
   * Bytes written so far and whether the entry is complete.
   *
   * @example
   * ```ts
   * import { memoryFs, StreamCache } from "../../mod.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * const { reader } = await cache.get("k");
   * reader.size(); // { size: 0, complete: false }
   * ```
   */
  size(): EntrySize;
  /**
   * Whether the storage lends the views `stream` gives (`lent_views.ts`):
   * the shared cache marks such answers, and cistern's server adapters give
   * the views back once the runtime holds their bytes, which frees their
   * buffers at once. Optional for other implementations.
   *
   * @example
   * ```ts
   * import { memoryFs, StreamCache } from "../../mod.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * const { reader } = await cache.get("k");
   * reader.lends; // false: memoryFs keeps its chunks
   * ```
   */
  readonly lends?: boolean;
  /**
   * The whole entry as one view, when it is complete and its storage holds
   * it in one piece (small entries in memory); `undefined` otherwise. The
   * view is not a copy: read it, do not change it.
   *
   * @example
   * ```ts
   * import { memoryFs, StreamCache } from "../../mod.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * const { reader, writer } = await cache.get("k");
   * await new Response("hi").body!.pipeTo(writer!);
   * reader.bytes(); // Uint8Array(2) [104, 105]
   * ```
   */
  bytes(): Uint8Array | undefined;
  /**
   * The final size, once the writer closes; rejects if it aborts.
   *
   * @example
   * ```ts
   * import { memoryFs, StreamCache } from "../../mod.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * const { reader, writer } = await cache.get("k");
   * new Response("hello").body!.pipeTo(writer!);
   * await reader.complete; // 5
   * ```
   */
  readonly complete: Promise<number>;
  /**
   * Releases the reader (idempotent).
   *
   * @example
   * ```ts
   * import { memoryFs, StreamCache } from "../../mod.ts";
   * const cache = new StreamCache({ fs: memoryFs() });
   * const { reader } = await cache.get("k");
   * reader.close(); // the entry may now be reaped
   * ```
   */
  close(): void;
}

/** What an entry tells its cache. */
export interface EntryEvents {
  /** The writer closed. */
  completed(entry: Entry): void;
  /** The writer aborted or storage failed; the entry must leave the cache. */
  failed(entry: Entry): void;
  /** The last writer or reader let the entry go (it is not removed). */
  released(entry: Entry): void;
}

/** Reads (and creations) so far, across every entry: each one's turn. */
let reads = 0;

/** The shared state of one entry. Internal to the stream cache. */
export class Entry {
  readonly key: string;
  file: StoredFile | undefined;
  /** Bytes written and readable. */
  size = 0;
  isComplete = false;
  error: Error | undefined;
  /** No longer in the cache's map; storage is freed when the last user leaves. */
  removed = false;
  /** Open readers, streams and the writer. */
  users = 0;
  lastRead: number;
  /**
   * When it was last read among all entries: orders reads that fall in the
   * same millisecond, which `lastRead` cannot.
   */
  readOrder = ++reads;
  lastWrite: number;
  readonly #clock: Clock;
  readonly #events: EntryEvents;
  readonly #completed = deferred<number>();
  #progress: Deferred<void> | undefined;
  /** Readers waiting on `#progress`. */
  #waiting = 0;
  #wakeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Whether the pending wake is for the next turn rather than a trickle's wait. */
  #wakeSoon = false;
  /** The size waiting readers were last woken for. */
  #announced = 0;
  #wakeBytes: number | undefined;
  #freed: Deferred<void> | undefined;
  #freeing: Promise<void> | undefined;

  constructor(
    key: string,
    clock: Clock,
    events: EntryEvents,
    file?: StoredFile,
  ) {
    this.key = key;
    this.#clock = clock;
    this.#events = events;
    this.lastRead = this.lastWrite = clock.now();
    // Nobody may await `complete`; a rejection must not be reported unhandled.
    this.#completed.promise.catch(() => {});
    if (file) {
      this.file = file;
      this.size = file.size;
      this.isComplete = true;
      this.lastRead = this.lastWrite = file.modified;
      this.#completed.resolve(file.size);
    }
  }

  get completion(): Promise<number> {
    return this.#completed.promise;
  }

  /** Resolves at the next write, completion or failure. */
  progress(): Promise<void> {
    this.#waiting++;
    return (this.#progress ??= deferred()).promise;
  }

  #notify(): void {
    if (this.#wakeTimer !== undefined) {
      clearTimeout(this.#wakeTimer);
      this.#wakeTimer = undefined;
    }
    this.#announced = this.size;
    this.#waiting = 0;
    const progress = this.#progress;
    this.#progress = undefined;
    progress?.resolve();
  }

  acquire(): void {
    this.users++;
  }

  /**
   * Its stored bytes cannot be read (a file deleted or cut short behind the
   * cache's back): the entry leaves the cache, so the next `get` stores
   * the body anew instead of failing every read.
   */
  lose(): void {
    if (!this.removed) this.#events.failed(this);
  }

  release(): void {
    this.users--;
    if (this.users > 0) return;
    // free() reports failures to whoever awaits remove(); here none may escape.
    if (this.removed) this.free().catch(() => {});
    else this.#events.released(this);
  }

  touchRead(): void {
    this.lastRead = this.#clock.now();
    this.readOrder = ++reads;
  }

  /** Frees storage once no one uses the entry; resolves when it is freed. */
  free(): Promise<void> {
    this.removed = true;
    this.#freed ??= deferred();
    if (this.users === 0 && !this.#freeing) {
      const freed = this.#freed;
      this.#freeing = (this.file?.remove() ?? Promise.resolve()).then(
        () => freed.resolve(),
        (error) => freed.reject(error),
      );
    }
    return this.#freed.promise;
  }

  append(chunk: Uint8Array): void {
    this.size += chunk.byteLength;
    this.lastWrite = this.#clock.now();
    if (!this.#progress) return;
    // Waiting readers are woken from a timer, never at once, so a writer that
    // writes without waiting runs ahead instead of taking turns with each
    // reader on every chunk. The first bytes and every wakeBytes() go out on
    // the next turn; a trickle waits 1 to 8 ms, longer the more readers wait.
    // Fewer, bigger wakes are what lets 100 readers follow one writer at
    // nearly its speed.
    // The file is set before the first write and never changes.
    this.#wakeBytes ??= wakeBytes(this.file);
    const soon = this.size - this.#announced >= this.#wakeBytes ||
      this.#announced === 0;
    if (this.#wakeTimer !== undefined) {
      if (!soon || this.#wakeSoon) return;
      clearTimeout(this.#wakeTimer);
    }
    this.#wakeSoon = soon;
    this.#wakeTimer = setTimeout(
      () => {
        this.#wakeTimer = undefined;
        this.#notify();
      },
      soon
        ? 0
        : Math.min(8, Math.max(1, this.#waiting * TRICKLE_MS_PER_READER)),
    );
  }

  finish(): void {
    this.isComplete = true;
    this.lastWrite = this.#clock.now();
    this.#completed.resolve(this.size);
    this.#notify();
    this.#events.completed(this);
  }

  fail(reason: unknown): void {
    if (this.isComplete || this.error) return;
    this.error = reason instanceof Error
      ? reason
      : new EntryAbortedError(this.key, reason);
    this.#completed.reject(this.error);
    this.#notify();
    void this.file?.abandon().catch(() => {});
    this.#events.failed(this);
  }
}

/** Makes the single writer of an entry. */
export function entryWriter(entry: Entry): WritableStream<Uint8Array> {
  entry.acquire();
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    entry.release();
  };
  const failWith = (error: unknown) => {
    entry.fail(error);
    release();
    return error;
  };
  let unyielded = 0;
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      // Other views (a DataView, an Int16Array) are taken as their bytes.
      const value: unknown = chunk;
      if (!(value instanceof Uint8Array)) {
        if (!ArrayBuffer.isView(value)) {
          throw failWith(
            new TypeError(
              `entry ${JSON.stringify(entry.key)} takes Uint8Array chunks`,
            ),
          );
        }
        chunk = new Uint8Array(
          value.buffer,
          value.byteOffset,
          value.byteLength,
        );
      }
      if (chunk.byteLength === 0) return;
      if (entry.error) throw entry.error;
      try {
        await entry.file!.write(chunk);
      } catch (error) {
        throw failWith(new StorageFailedError(entry.key, error));
      }
      entry.append(chunk);
      unyielded += chunk.byteLength;
      if (unyielded >= WRITE_SLICE) {
        unyielded = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
    async close() {
      if (entry.error) throw entry.error;
      try {
        // A removed entry is finished for its readers but never marked
        // complete in storage, so a restart cannot bring it back.
        if (!entry.removed) await entry.file!.commit();
      } catch (error) {
        throw failWith(new StorageFailedError(entry.key, error));
      }
      entry.finish();
      release();
    },
    abort(reason) {
      failWith(reason);
    },
  });
}

/**
 * Whether a read error says the stored bytes are gone (the file deleted, or
 * shorter than written), not that reading failed for now (no descriptors
 * left, an I/O error), which must not evict good entries.
 */
function isLostFile(error: unknown): boolean {
  const code = (error as { code?: string })?.code;
  return error instanceof RangeError || code === "ENOENT" || code === "ESTALE";
}

function checkRange(start: number, end: number | undefined): void {
  if (!Number.isSafeInteger(start) || start < 0) {
    throw new RangeError(`start must be an integer >= 0, got ${start}`);
  }
  if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) {
    throw new RangeError(
      `end must be an integer >= start (${start}), got ${end}`,
    );
  }
}

/** A reader of an entry: a class, as a hit makes one per request. */
class Reader implements EntryReader {
  readonly #entry: Entry;
  #closed = false;

  constructor(entry: Entry) {
    entry.acquire();
    this.#entry = entry;
  }

  get key(): string {
    return this.#entry.key;
  }

  get complete(): Promise<number> {
    return this.#entry.completion;
  }

  size(): EntrySize {
    return { size: this.#entry.size, complete: this.#entry.isComplete };
  }

  get lends(): boolean {
    return this.#entry.file?.lends === true;
  }

  bytes(): Uint8Array | undefined {
    const entry = this.#entry;
    if (!entry.isComplete || this.#closed) return undefined;
    const bytes = entry.file?.bytes?.();
    // A read like any other, for the reapers that go by last read.
    if (bytes) entry.touchRead();
    return bytes;
  }

  stream(start = 0, end?: number): ReadableStream<Uint8Array> {
    checkRange(start, end);
    if (this.#closed) {
      throw new Error(`reader of ${JSON.stringify(this.key)} is closed`);
    }
    return followEntry(this.#entry, start, end);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#entry.release();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** Makes a reader of an entry. */
export function entryReader(entry: Entry): EntryReader {
  return new Reader(entry);
}

/** The live-following byte stream of `[start, end)`. */
function followEntry(
  entry: Entry,
  start: number,
  end: number | undefined,
): ReadableStream<Uint8Array> {
  entry.acquire();
  entry.touchRead();
  let position = start;
  let source: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    entry.touchRead();
    entry.release();
  };
  const dropSource = async (reason?: unknown) => {
    const current = source;
    source = undefined;
    await current?.cancel(reason).catch(() => {});
  };
  let cancelled = false;
  // One pull keeps going while the consumer keeps up (a chunk handed to a
  // waiting read leaves `desiredSize` at 1), so a live reader costs one
  // callback per wake rather than a pull and a promise per chunk.
  const wantsMore = (controller: ReadableStreamDefaultController) =>
    !cancelled && (controller.desiredSize ?? 0) > 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (;;) {
          if (source) {
            const next = await source.read();
            if (cancelled) return;
            if (next.done) source = undefined;
            else {
              position += next.value.byteLength;
              controller.enqueue(next.value);
              if (!wantsMore(controller)) return;
            }
            continue;
          }
          const limit = end === undefined
            ? entry.size
            : Math.min(end, entry.size);
          if (position < limit) {
            const bytes = entry.file!.read(position, limit);
            if (Symbol.iterator in bytes) {
              // Views of bytes in memory: handing them all over costs nothing.
              for (const view of bytes) controller.enqueue(view);
              position = limit;
              if (!wantsMore(controller)) return;
            } else source = bytes.getReader();
            continue;
          }
          if (entry.isComplete || (end !== undefined && position >= end)) {
            release();
            controller.close();
            return;
          }
          // An aborted entry errors readers that would wait for more; bytes
          // written before the abort stay readable until then.
          if (entry.error) throw entry.error;
          await entry.progress();
          if (cancelled) return;
        }
      } catch (error) {
        await dropSource(error);
        if (entry.isComplete && isLostFile(error)) entry.lose();
        release();
        controller.error(error);
      }
    },
    async cancel(reason) {
      cancelled = true;
      await dropSource(reason);
      release();
    },
  }, { highWaterMark: 1 });
}
