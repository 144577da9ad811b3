/**
 * `BodyReader`: reads an origin body into one reused buffer when the body is
 * a byte stream, so copying it into the cache leaves nothing for the garbage
 * collector; other streams are read chunk by chunk as they come.
 *
 * @module
 */
import type { Handoff } from "./bodies.ts";

/** The reused buffer's size (256 KiB): one read's most. */
const BUFFER_SIZE = 256 * 1024;

/**
 * A reader over a body that reads into one buffer again and again when it
 * can: each chunk read must be done with (written elsewhere) before
 * {@link BodyReader.reuse} hands its buffer back for the next read.
 *
 * @example
 * ```ts
 * import { BodyReader } from "./body_reader.ts";
 * const body = new Response("hello").body!;
 * const reader = new BodyReader(body);
 * for (let next = await reader.read(); !next.done; next = await reader.read()) {
 *   console.log(next.value.byteLength);
 *   reader.reuse(next.value);
 * }
 * ```
 */
export class BodyReader {
  readonly #body: ReadableStream<Uint8Array>;
  #byob: ReadableStreamBYOBReader | undefined;
  #plain: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #buffer: Uint8Array | undefined;

  /** Locks `body` to this reader. */
  constructor(body: ReadableStream<Uint8Array>) {
    this.#body = body;
    try {
      this.#byob = body.getReader({ mode: "byob" });
    } catch {
      // Not a byte stream: its chunks are its own.
      this.#plain = body.getReader();
    }
  }

  /** The next chunk; with a byte stream, a view of the reused buffer. */
  read(): Promise<ReadableStreamReadResult<Uint8Array>> {
    if (!this.#byob) return this.#plain!.read();
    const buffer = this.#buffer ?? new Uint8Array(BUFFER_SIZE);
    this.#buffer = undefined;
    return this.#byob.read(buffer) as Promise<
      ReadableStreamReadResult<Uint8Array>
    >;
  }

  /** Gives `chunk`'s buffer back for the next read: its bytes are no longer needed. */
  reuse(chunk: Uint8Array): void {
    if (this.#byob) this.#buffer = new Uint8Array(chunk.buffer);
  }

  /** Cancels the body; a pending read ends. */
  cancel(reason?: unknown): Promise<void> {
    return (this.#byob ?? this.#plain)!.cancel(reason);
  }

  /**
   * Hands the rest of the body on, after `first` (the last chunk read, which
   * is not reused): for a client that reads it instead of the cache.
   */
  handOff(first: Uint8Array): Handoff {
    if (this.#byob) {
      this.#byob.releaseLock();
      this.#byob = undefined;
      this.#plain = this.#body.getReader();
    }
    return { first, rest: this.#plain! };
  }
}
