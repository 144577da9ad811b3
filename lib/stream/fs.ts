/**
 * Where a stream cache keeps its bytes: the {@link FileSystem} interface.
 * `memoryFs()` and `diskFs()` implement it; anything that can append, read a
 * range and mark a file complete can.
 *
 * @module
 */

/**
 * Storage for entries. Each `create` makes a new, independent file, so an
 * entry that was removed while readers still read it never shares storage
 * with the key's next entry.
 */
export interface FileSystem {
  /**
   * Makes empty storage for a new entry of `key`.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * const file = await memoryFs().create("k");
   * await file.write(new Uint8Array([1, 2, 3]));
   * file.size; // 3
   * ```
   */
  create(key: string): Promise<StoredFile>;
  /**
   * Returns the complete files kept by an earlier cache on the same storage,
   * and deletes incomplete ones (a writer that never finished).
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * await memoryFs().reload(); // []: memory keeps nothing from an earlier process
   * ```
   */
  reload(): Promise<StoredFile[]>;
}

/** The bytes of one entry. */
export interface StoredFile {
  /**
   * The entry's key.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * (await memoryFs().create("k")).key; // "k"
   * ```
   */
  readonly key: string;
  /**
   * Bytes written so far.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * const file = await memoryFs().create("k");
   * await file.write(new Uint8Array(10));
   * file.size; // 10
   * ```
   */
  readonly size: number;
  /**
   * When it was last written, in ms since the epoch (for reloaded files).
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * const file = await memoryFs().create("k");
   * new Date(file.modified); // about now
   * ```
   */
  readonly modified: number;
  /**
   * How far behind the writer a live reader may fall and still read from
   * memory (a disk file's live tail); waiting readers are woken often enough
   * to stay within it. `undefined`: everything is in memory.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * (await memoryFs().create("k")).followWindow; // undefined: all of it is in memory
   * ```
   */
  readonly followWindow?: number;
  /**
   * Bytes written between wakes of waiting readers; less than
   * `followWindow`. `undefined`: the entry picks (a quarter of the window, or
   * 8 MiB).
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * (await memoryFs().create("k")).followStep; // undefined: the entry picks
   * ```
   */
  readonly followStep?: number;
  /**
   * Whether `read` lends the views it gives (`lent_views.ts`): cistern's
   * server adapters give them back once the runtime holds their bytes, and
   * a buffer goes once the file dropped it and all its views are back.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * (await memoryFs().create("k")).lends; // undefined: memoryFs lends none
   * ```
   */
  readonly lends?: boolean;
  /**
   * Appends a chunk; resolves once readers can read it. The caller may fill
   * `chunk`'s buffer again once this resolves (the shared cache reads origin
   * bodies into one buffer), so keep a copy, never the view.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * const file = await memoryFs().create("k");
   * await file.write(new TextEncoder().encode("hello"));
   * ```
   */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Marks the file complete, so that `reload()` finds it.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * const file = await memoryFs().create("k");
   * await file.write(new TextEncoder().encode("hello"));
   * await file.commit(); // complete: reload() would find it
   * ```
   */
  commit(): Promise<void>;
  /**
   * Stops writing for good (the writer failed): releases what writing holds.
   * What was written stays readable until `remove()`.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * const file = await memoryFs().create("k");
   * await file.write(new TextEncoder().encode("hel"));
   * await file.abandon(); // the writer failed; "hel" stays readable until remove()
   * ```
   */
  abandon(): Promise<void>;
  /**
   * Bytes `[start, end)`, all already written, as a stream or (for storage
   * that has them at hand) an iterable of chunks.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * const file = await memoryFs().create("k");
   * await file.write(new TextEncoder().encode("hello"));
   * const chunks = file.read(1, 3); // a stream, or chunks at hand
   * ```
   */
  read(
    start: number,
    end: number,
  ): ReadableStream<Uint8Array> | Iterable<Uint8Array>;
  /**
   * All of the file as one view, when storage holds it in one piece (small
   * files in memory); `undefined` otherwise. Only asked of complete files.
   * Return the same view for as long as it is held, and let it go when it is
   * dropped or on `remove()`: callers may cache what they build from it in a
   * `WeakMap` keyed by the view.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * const file = await memoryFs().create("k");
   * await file.write(new TextEncoder().encode("hi"));
   * await file.commit();
   * file.bytes?.(); // Uint8Array(2) [104, 105]
   * ```
   */
  bytes?(): Uint8Array | undefined;
  /**
   * Frees the storage.
   *
   * @example
   * ```ts
   * import { memoryFs } from "./fs_memory.ts";
   * const file = await memoryFs().create("k");
   * await file.remove();
   * ```
   */
  remove(): Promise<void>;
}
