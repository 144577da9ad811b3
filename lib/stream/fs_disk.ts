/**
 * On-disk storage for a stream cache that survives restarts.
 *
 * Each entry is one file, named after a hash of its key (so any key is safe)
 * plus a random suffix (so a removed entry still being read never shares a
 * file with the key's next entry). The file starts with a header holding the
 * key and a completion flag; the flag is set only after the last byte is
 * written, so a process killed mid-write leaves a file that `reload()`
 * deletes instead of serving.
 *
 * ```
 * 0  "CST1"  magic and format version
 * 4  u8      state: 0 writing, 1 complete
 * 8  u64     body size (set on commit)
 * 16 u32     key length n
 * 20 n bytes key (UTF-8), then the body
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { mkdir, open, readdir, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  fastFixedFileReader,
  FIXED_READ_PLAN,
  type FixedFileReader,
  type ReadRange,
} from "../adapters/file_io.ts";
import type { FileSystem, StoredFile } from "./fs.ts";
import { randomHex } from "../deferred.ts";
import { Folders } from "../folders.ts";
import { RecentMap } from "../recent_map.ts";
import { _Blocks } from "./fs_memory.ts";
import { SharedReads } from "./shared_reads.ts";

/**
 * The default live tail: 4 MiB in four blocks, readers woken per 1 MiB. A
 * server that holds each reader's whole wake until it is sent pays for bigger
 * wakes in memory: 8 MiB in two blocks grew a 1 GiB miss with ten clients by
 * half as much again, for the same writer speed with 100 readers
 * (`docs/bench_proxy.md`, `docs/bench_stream.md`, Session 10).
 */
const LIVE_TAIL = { bytes: 4 << 20, blocks: 4 };

const MAGIC = [0x43, 0x53, 0x54, 0x31]; // "CST1"
const FIXED_HEADER = 20;
const STATE_OFFSET = 4;
const SUFFIX = ".cst";

/** Options for {@link diskFs}. */
export interface DiskFsOptions {
  /**
   * Permission bits of entry files; folders get the matching `x` bits. Default `0o600`.
   *
   * @example
   * ```ts
   * import { diskFs } from "./fs_disk.ts";
   * const fs = diskFs("./.cache", { mode: 0o640 }); // group may read entry files
   * ```
   */
  mode?: number;
  /**
   * Flush each file to the device (`fsync`) before marking it complete, so a
   * power loss cannot leave a complete-marked file with missing bytes. Costs
   * one sync per entry. Default `false` (a killed process is safe either way).
   *
   * @example
   * ```ts
   * import { diskFs } from "./fs_disk.ts";
   * const fs = diskFs("./.cache", { durable: true }); // fsync before each commit
   * ```
   */
  durable?: boolean;
  /**
   * How ranges are read back. Default: the runtime's fastest positional
   * reads (`fastFixedFileReader`).
   *
   * @example
   * ```ts
   * import { nodeReadRange } from "../adapters/file_io.ts";
   * import { diskFs } from "./fs_disk.ts";
   * const fs = diskFs("./.cache", { readRange: nodeReadRange });
   * ```
   */
  readRange?: ReadRange;
  /**
   * While an entry is being written, its most recent bytes are also kept in
   * memory, up to this many, so live readers that keep up with the writer
   * never wait on the disk. Dropped when the entry completes. Default 4 MiB,
   * in blocks of a quarter of it (at least 64 KiB); it may hold up to one
   * block more. Readers are woken once per block written.
   *
   * @example
   * ```ts
   * import { diskFs } from "./fs_disk.ts";
   * const fs = diskFs("./.cache", { liveTail: 16 << 20 }); // live readers may lag 16 MiB
   * ```
   */
  liveTail?: number;
  /**
   * Bytes of complete bodies of up to 1 MiB also kept in memory, the most
   * recently read first, so that reading one again reads no file (and a
   * shared cache answers it as fast as from `memoryFs()`). A body is kept
   * when its writer commits it (from the live tail, with no extra read) or
   * after its first whole read; `0` keeps none. Default 64 MiB.
   *
   * @example
   * ```ts
   * import { diskFs } from "./fs_disk.ts";
   * const fs = diskFs("./.cache", { memoryBytes: 0 }); // every read goes to the file
   * ```
   */
  memoryBytes?: number;
}

/** Bodies past this size are never kept in memory: sending them costs far more than reading. */
const MEMORY_FILE_MAX = 1 << 20;

/** What every file of one storage shares. */
interface FileOptions {
  readRange: ReadRange | undefined;
  durable: boolean;
  liveTail: number;
  /** Permission bits of entry files. */
  mode: number;
  folders: Folders;
  /** Complete bodies kept in memory too, by file. */
  inMemory: RecentMap<DiskFile, Uint8Array>;
}

type Handle = Awaited<ReturnType<typeof open>>;

class DiskFile implements StoredFile {
  readonly key: string;
  readonly path: string;
  size: number;
  modified: number;
  readonly #bodyOffset: number;
  readonly #reads: SharedReads;
  readonly #durable: boolean;
  /** The live tail's length: bytes kept in memory behind the writer. */
  readonly followWindow: number;
  /** The live tail's block size: bytes written between wakes of readers. */
  readonly followStep: number;
  /** Views of the live tail and of the shared reads are lent. */
  readonly lends = true;
  #handle: Handle | undefined;
  /**
   * A new file's header while the file is not on disk yet: a body that stays
   * small is kept in the live tail and written whole, in one call, at commit
   * (a third of the file operations of an open, writes and a close).
   */
  #unwritten: Uint8Array | undefined;
  readonly #mode: number;
  readonly #folders: Folders;
  /** Copies of the last writes, up to `size`. */
  #tail: _Blocks;
  readonly #inMemory: RecentMap<DiskFile, Uint8Array>;
  /** Whether the whole body is being read into memory. */
  #loading = false;
  #removed = false;

  constructor(
    key: string,
    path: string,
    bodyOffset: number,
    size: number,
    modified: number,
    /** A new file's header, to write it; `undefined` for a complete file found on disk. */
    unwritten: Uint8Array | undefined,
    options: FileOptions,
  ) {
    this.key = key;
    this.path = path;
    this.#bodyOffset = bodyOffset;
    this.size = size;
    this.modified = modified;
    this.#unwritten = unwritten;
    this.#mode = options.mode;
    this.#folders = options.folders;
    const { readRange } = options;
    let file: FixedFileReader | undefined;
    this.#reads = new SharedReads(
      readRange
        ? (start, end) =>
          Array.fromAsync(
            readRange(path, bodyOffset + start, bodyOffset + end),
          )
        : async (start, end) => {
          file ??= fastFixedFileReader(path);
          return [await file.read(bodyOffset + start, bodyOffset + end)];
        },
      () => this.size,
      () => void file?.close().catch(() => {}),
      // Its own reads' buffers are fresh; a readRange given may keep its.
      { ...FIXED_READ_PLAN, owned: !readRange },
    );
    this.#durable = options.durable;
    this.followWindow = options.liveTail;
    this.followStep = Math.max(
      64 * 1024,
      Math.floor(options.liveTail / LIVE_TAIL.blocks),
    );
    this.#tail = new _Blocks(size, this.followStep);
    this.#inMemory = options.inMemory;
  }

  /** Bodies up to this size wait in the live tail until commit. */
  get #unwrittenMax(): number {
    return Math.min(MEMORY_FILE_MAX, this.followWindow);
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#unwritten && this.size + chunk.byteLength > this.#unwrittenMax) {
      await this.#createOnDisk();
    }
    if (!this.#unwritten) {
      if (!this.#handle) {
        throw new Error(`${this.path} is not open for writing`);
      }
      await writeAll(this.#handle, chunk, this.#bodyOffset + this.size);
    }
    this.size += chunk.byteLength;
    this.modified = Date.now();
    if (this.followWindow > 0) {
      this.#tail.append(chunk);
      this.#tail.trim(this.followWindow);
    }
  }

  /** Creates the file with what the live tail holds so far. */
  async #createOnDisk(): Promise<void> {
    const header = this.#unwritten!;
    const handle = await this.#folders.write(
      join(this.path, ".."),
      () => open(this.path, "wx", this.#mode),
    );
    try {
      await writeAll(handle, header, 0);
      let at = this.#bodyOffset;
      for (const view of this.#tail.views(0, this.size)) {
        await writeAll(handle, view, at);
        at += view.byteLength;
      }
    } catch (error) {
      await handle.close().catch(() => {});
      await unlink(this.path).catch(() => {});
      throw error;
    }
    this.#handle = handle;
    this.#unwritten = undefined;
  }

  /** Writes a small file whole, marked complete: one call. */
  async #writeWhole(header: Uint8Array): Promise<void> {
    const whole = new Uint8Array(this.#bodyOffset + this.size);
    whole.set(header);
    whole.set(completeMark(this.size), STATE_OFFSET);
    let at = this.#bodyOffset;
    for (const part of this.#tail.views(0, this.size)) {
      whole.set(part, at);
      at += part.byteLength;
    }
    // A crash mid-write leaves a file shorter than its header says, which
    // reload() deletes.
    await this.#folders.write(
      join(this.path, ".."),
      () => writeFile(this.path, whole, { flag: "wx", mode: this.#mode }),
    );
    this.#unwritten = undefined;
    this.#tail = new _Blocks(this.size, this.followStep);
    if (this.#fitsInMemory) this.#keep(whole.subarray(this.#bodyOffset));
  }

  async commit(): Promise<void> {
    const unwritten = this.#unwritten;
    // Durable files take the usual way, with its syncs.
    if (unwritten && !this.#durable) return this.#writeWhole(unwritten);
    if (unwritten) await this.#createOnDisk();
    const handle = this.#handle;
    if (!handle) throw new Error(`${this.path} is not open for writing`);
    if (this.#durable) await handle.sync();
    const mark = completeMark(this.size);
    await handle.write(mark, 0, mark.byteLength, STATE_OFFSET);
    if (this.#durable) await handle.sync();
    await handle.close();
    this.#handle = undefined;
    if (
      this.#fitsInMemory && this.#tail.start === 0 &&
      this.#tail.end === this.size
    ) {
      // The live tail still holds the whole body: keep it, read nothing.
      this.#tail.coalesce();
      this.#keep(this.#tail.views(0, this.size)[0] ?? new Uint8Array(0));
    }
    this.#tail = new _Blocks(this.size, this.followStep);
  }

  bytes(): Uint8Array | undefined {
    const held = this.#inMemory.get(this);
    if (held) return held;
    if (
      !this.#loading && !this.#handle && !this.#unwritten && !this.#removed &&
      this.#fitsInMemory
    ) {
      // Asked again later, it is at hand; this time the caller streams it.
      this.#loading = true;
      new Response(this.#reads.stream(0, this.size)).bytes()
        .then((bytes) => this.#keep(bytes))
        .catch(() => {/* read again from the file next time */})
        .finally(() => this.#loading = false);
    }
    return undefined;
  }

  get #fitsInMemory(): boolean {
    return this.size <= Math.min(MEMORY_FILE_MAX, this.#inMemory.limit);
  }

  #keep(bytes: Uint8Array): void {
    if (!this.#removed && bytes.byteLength === this.size) {
      this.#inMemory.set(this, bytes);
    }
  }

  read(
    start: number,
    end: number,
  ): ReadableStream<Uint8Array> | Iterable<Uint8Array> {
    const held = this.#inMemory.get(this);
    if (held) return [held.subarray(start, end)];
    if (start >= this.#tail.start && start < this.#tail.end) {
      return this.#tail.lend(start, end);
    }
    return this.#reads.stream(start, end);
  }

  async abandon(): Promise<void> {
    this.#unwritten = undefined;
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close().catch(() => {});
  }

  async remove(): Promise<void> {
    this.#removed = true;
    this.#inMemory.delete(this);
    this.#tail.clear();
    await this.abandon();
    await unlink(this.path).catch((error) => {
      if (error?.code !== "ENOENT") throw error;
    });
  }
}

/** The header's bytes from `STATE_OFFSET` on for a complete file of `size` body bytes: the state and the size. */
function completeMark(size: number): Uint8Array {
  const mark = new Uint8Array(12);
  const view = new DataView(mark.buffer);
  view.setUint8(0, 1);
  view.setBigUint64(4, BigInt(size), true);
  return mark;
}

/** Writes all of `bytes` at `position`. */
async function writeAll(
  handle: Handle,
  bytes: Uint8Array,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await handle.write(
      bytes,
      done,
      bytes.byteLength - done,
      position + done,
    );
    done += bytesWritten;
  }
}

/** The first 40 hex digits of SHA-256(key): a safe, fixed-length file name. */
function keyHash(key: string): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 40);
}

/**
 * Reads and checks a file's header; `undefined` when it is not a complete
 * entry, `null` when it cannot be opened (gone since the listing, a
 * dangling link, no permission, no descriptors left): then it is neither
 * loaded nor deleted.
 */
async function readHeader(
  path: string,
): Promise<
  | { key: string; bodyOffset: number; size: number; modified: number }
  | undefined
  | null
> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch {
    return null;
  }
  try {
    const info = await handle.stat();
    const fixed = new Uint8Array(FIXED_HEADER);
    const { bytesRead } = await handle.read(fixed, 0, FIXED_HEADER, 0);
    if (bytesRead < FIXED_HEADER) return undefined;
    if (MAGIC.some((byte, i) => fixed[i] !== byte)) return undefined;
    const view = new DataView(fixed.buffer);
    if (view.getUint8(STATE_OFFSET) !== 1) return undefined;
    const size = Number(view.getBigUint64(8, true));
    const keyLength = view.getUint32(16, true);
    const bodyOffset = FIXED_HEADER + keyLength;
    if (info.size !== bodyOffset + size) return undefined;
    const keyBytes = new Uint8Array(keyLength);
    const read = await handle.read(keyBytes, 0, keyLength, FIXED_HEADER);
    if (read.bytesRead !== keyLength) return undefined;
    const key = new TextDecoder("utf-8", { fatal: true }).decode(keyBytes);
    return { key, bodyOffset, size, modified: info.mtimeMs };
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

/**
 * Storage in a folder, which a later cache on the same folder reloads.
 *
 * @example
 * ```ts
 * import { mkdtemp } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { diskFs, StreamCache } from "../../mod.ts";
 * const dir = await mkdtemp(join(tmpdir(), "cache-"));
 * const cache = new StreamCache({
 *   fs: diskFs(dir, { mode: 0o600, memoryBytes: 32 << 20 }),
 * });
 * await cache.ready;
 * ```
 */
export function diskFs(dir: string, options: DiskFsOptions = {}): FileSystem {
  const mode = options.mode ?? 0o600;
  const dirMode = mode | ((mode & 0o444) >> 2);
  const fileOptions: FileOptions = {
    readRange: options.readRange,
    durable: options.durable ?? false,
    liveTail: options.liveTail ?? LIVE_TAIL.bytes,
    inMemory: new RecentMap(
      options.memoryBytes ?? 64 << 20,
      (bytes) => bytes.byteLength,
    ),
    mode,
    folders: new Folders(dirMode),
  };

  return {
    create(key: string): Promise<StoredFile> {
      if (typeof key !== "string") {
        return Promise.reject(new TypeError("key must be a string"));
      }
      // Kept as UTF-8, a lone surrogate would come back from a restart as
      // U+FFFD: another key.
      if (!key.isWellFormed()) {
        return Promise.reject(
          new TypeError("key must be well-formed Unicode (no lone surrogates)"),
        );
      }
      const hash = keyHash(key);
      const folder = join(dir, hash.slice(0, 2));
      const path = join(folder, `${hash}-${randomHex(6)}${SUFFIX}`);
      const keyBytes = new TextEncoder().encode(key);
      const header = new Uint8Array(FIXED_HEADER + keyBytes.byteLength);
      header.set(MAGIC, 0);
      new DataView(header.buffer).setUint32(16, keyBytes.byteLength, true);
      header.set(keyBytes, FIXED_HEADER);
      // Nothing is on disk until the body outgrows the live tail or commits.
      return Promise.resolve(
        new DiskFile(
          key,
          path,
          header.byteLength,
          0,
          Date.now(),
          header,
          fileOptions,
        ),
      );
    },

    async reload(): Promise<StoredFile[]> {
      await mkdir(dir, { recursive: true, mode: dirMode });
      const newest = new Map<string, DiskFile>();
      const stale: string[] = [];
      for (const folder of await readdir(dir)) {
        if (!/^[0-9a-f]{2}$/.test(folder)) continue;
        const folderPath = join(dir, folder);
        // A folder removed, or not a folder: nothing of ours to load.
        const names = await readdir(folderPath).catch(() => []);
        for (const name of names) {
          if (!name.endsWith(SUFFIX)) continue;
          const path = join(folderPath, name);
          const header = await readHeader(path);
          if (header === null) continue;
          if (!header) {
            stale.push(path);
            continue;
          }
          const file = new DiskFile(
            header.key,
            path,
            header.bodyOffset,
            header.size,
            header.modified,
            undefined,
            fileOptions,
          );
          const other = newest.get(header.key);
          // Two complete files for one key: a crash between committing the
          // new entry and deleting the removed one. The newer one wins.
          if (other && other.modified >= file.modified) stale.push(path);
          else {
            if (other) stale.push(other.path);
            newest.set(header.key, file);
          }
        }
      }
      await Promise.all(stale.map((path) => unlink(path).catch(() => {})));
      return [...newest.values()];
    },
  };
}
