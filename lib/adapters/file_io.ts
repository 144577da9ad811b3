/**
 * Reading a byte range of a file as a stream, with the fastest API of the
 * runtime: `Bun.file().slice().stream()` on Bun, 2 MiB positional reads with
 * one read ahead on Deno (its default 64 KiB `FsFile.readable` is 3-4×
 * slower), and positional `node:fs` reads elsewhere.
 *
 * @module
 */
import { open } from "node:fs/promises";
import { currentRuntime } from "./runtime.ts";
import { bunFileBlob, bunFixedFileReader, bunReadRange } from "./bun.ts";
import { type FileHandle, readAt } from "./read_at.ts";

/** Size of each read on runtimes where cistern chooses it (1 MiB). */
export const READ_CHUNK_SIZE = 1 << 20;

/**
 * Reads bytes `[start, end)` of the file at `path`; the stream errors if the
 * file is shorter than `end`.
 */
export type ReadRange = (
  path: string,
  start: number,
  end: number,
) => ReadableStream<Uint8Array>;

/**
 * Positional `node:fs` reads of `chunkSize` bytes, one always in flight ahead
 * of the consumer, so the next read runs on the thread pool while this chunk
 * is handed over. Every chunk is a fresh buffer the consumer may keep.
 */
function readRangeAhead(
  path: string,
  start: number,
  end: number,
  chunkSize: number,
): ReadableStream<Uint8Array> {
  let file: FileHandle | undefined;
  /** Offset of the next read to start. */
  let next = start;
  /** The read in flight, for the next chunk. */
  let ahead: Promise<Uint8Array> | undefined;
  const readAhead = () => {
    ahead = undefined;
    if (!file || next >= end) return;
    const want = Math.min(chunkSize, end - next);
    ahead = readAt(path, file, new Uint8Array(want), next);
    // Its failure is reported when the chunk is pulled, or dropped on cancel.
    ahead.catch(() => {});
    next += want;
  };
  const release = async () => {
    const current = file;
    const pending = ahead;
    file = undefined;
    ahead = undefined;
    await pending?.catch(() => {});
    await current?.close().catch(() => {});
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (!file) {
          file = await open(path, "r");
          readAhead();
        }
        const current = ahead;
        if (!current) {
          await release();
          controller.close();
          return;
        }
        readAhead();
        controller.enqueue(await current);
      } catch (error) {
        await release();
        controller.error(error);
      }
    },
    cancel: release,
  }, { highWaterMark: 0 });
}

/**
 * Positional reads with `node:fs`, the portable fallback: 1 MiB reads, one
 * ahead of the consumer.
 *
 * @example
 * ```ts
 * import { nodeReadRange } from "./file_io.ts";
 * const text = await new Response(nodeReadRange("deno.json", 0, 1)).text();
 * console.log(text); // "{"
 * ```
 */
export function nodeReadRange(
  path: string,
  start: number,
  end: number,
): ReadableStream<Uint8Array> {
  return readRangeAhead(path, start, end, READ_CHUNK_SIZE);
}

/**
 * Deno's range reader: the same positional reads, 2 MiB each (about 2× the
 * rate of one read at a time, and 3-4× that of `FsFile.readable`, which
 * reads 64 KiB at a time).
 */
function denoReadRange(
  path: string,
  start: number,
  end: number,
): ReadableStream<Uint8Array> {
  return readRangeAhead(path, start, end, 2 << 20);
}

/**
 * The fastest range reader for the current runtime.
 *
 * @example
 * ```ts
 * import { fastReadRange } from "./file_io.ts";
 * const readRange = fastReadRange();
 * const head = await new Response(readRange("deno.json", 0, 1)).text();
 * ```
 */
export function fastReadRange(): ReadRange {
  switch (currentRuntime()) {
    case "bun":
      return bunReadRange;
    case "deno":
      return denoReadRange;
    default:
      return nodeReadRange;
  }
}

/**
 * Positional reads of one file that does not change while read, such as a
 * stream cache's entry file. Each read is a fresh buffer the caller may keep.
 */
export interface FixedFileReader {
  /**
   * Bytes `[start, end)`; rejects if the file ends before `end`.
   *
   * @example
   * ```ts
   * import type { FixedFileReader } from "./file_io.ts";
   * const header = (reader: FixedFileReader) => reader.read(0, 20); // the first 20 bytes
   * ```
   */
  read(start: number, end: number): Promise<Uint8Array>;
  /**
   * Lets go of what the reader holds open (idempotent; it may read again after).
   *
   * @example
   * ```ts
   * import type { FixedFileReader } from "./file_io.ts";
   * const done = (reader: FixedFileReader) => reader.close(); // a later read opens it again
   * ```
   */
  close(): Promise<void>;
}

/**
 * Positional `node:fs` reads through one handle, opened at the first read
 * and held until `close()`.
 *
 * @example
 * ```ts
 * import { nodeFixedFileReader } from "./file_io.ts";
 * const reader = nodeFixedFileReader("deno.json");
 * const first = await reader.read(0, 1);
 * await reader.close();
 * ```
 */
export function nodeFixedFileReader(path: string): FixedFileReader {
  let handle: Promise<FileHandle> | undefined;
  return {
    async read(start, end) {
      handle ??= open(path, "r");
      return await readAt(
        path,
        await handle,
        new Uint8Array(end - start),
        start,
      );
    },
    async close() {
      const current = handle;
      handle = undefined;
      await (await current?.catch(() => undefined))?.close();
    },
  };
}

/**
 * How to read a fixed file fastest through a {@link FixedFileReader}: bytes
 * per read and reads kept in flight ahead of the consumer. Measured with
 * `bench/stream_cache.ts`: Bun reads 1 MiB slices best with two ahead, Deno
 * 2 MiB reads with one ahead (smaller reads cost it a third of its rate).
 */
export const FIXED_READ_PLAN: { chunkSize: number; ahead: number } =
  currentRuntime() === "bun"
    ? { chunkSize: 1 << 20, ahead: 2 }
    : { chunkSize: 2 << 20, ahead: 1 };

/**
 * The fastest {@link FixedFileReader} for the current runtime: `Bun.file`
 * slices on Bun, positional `node:fs` reads elsewhere.
 *
 * @example
 * ```ts
 * import { fastFixedFileReader } from "./file_io.ts";
 * const reader = fastFixedFileReader("deno.json");
 * const first = await reader.read(0, 1);
 * await reader.close();
 * ```
 */
export function fastFixedFileReader(path: string): FixedFileReader {
  return currentRuntime() === "bun"
    ? bunFixedFileReader(path)
    : nodeFixedFileReader(path);
}

/**
 * A file's first `size` bytes as a lazy `Blob` where the runtime has one that
 * it serves better than a stream (Bun: with `Content-Length` and sendfile);
 * `undefined` elsewhere, where a stream from {@link fastReadRange} is best.
 *
 * @example
 * ```ts
 * import { fastReadRange, fileBlob } from "./file_io.ts";
 * const body = fileBlob("deno.json", 10) ?? fastReadRange()("deno.json", 0, 10);
 * ```
 */
export function fileBlob(path: string, size: number): Blob | undefined {
  return currentRuntime() === "bun" ? bunFileBlob(path, size) : undefined;
}
