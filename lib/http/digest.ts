/**
 * Hashing a body while it streams through, so a stored entry or a file gets
 * a strong ETag without ever being buffered whole. Web Crypto cannot hash
 * incrementally; `node:crypto`'s `createHash` can, natively, in both Deno and
 * Bun (see `bench/digest.ts` for its cost against plain pass-through).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { _etagFromDigest, ETAG_HASH } from "./etag.ts";

/** Options for {@link digestStream}. */
export interface DigestStreamOptions {
  /**
   * A hash name `node:crypto` knows (`"sha256"`, `"sha1"`, `"sha512"`, …).
   * Default `"sha256"`, the one {@link etagFor} uses, so both agree on a body.
   *
   * @example
   * ```ts
   * import { digestStream } from "./digest.ts";
   * const digest = digestStream({ algorithm: "sha1" });
   * await new Response(new Response("hello").body!.pipeThrough(digest)).arrayBuffer();
   * await digest.etag; // '"qvTGHdzF6KLavt4PO0gs2a6pQ00"'
   * ```
   */
  algorithm?: string;
}

/**
 * Why a {@link DigestStream}'s digest will never come: the stream did not finish.
 *
 * @example
 * ```ts
 * import { DigestAbortedError, digestStream } from "./digest.ts";
 * const digest = digestStream();
 * await digest.writable.abort(new Error("client left"));
 * await digest.etag.catch((error) => error instanceof DigestAbortedError); // true
 * ```
 */
export class DigestAbortedError extends Error {
  /** What aborted or cancelled the stream. */
  override readonly cause: unknown;
  /** Wraps the reason the stream stopped. */
  constructor(cause: unknown) {
    super(`digest unavailable: the stream was aborted (${String(cause)})`);
    this.name = "DigestAbortedError";
    this.cause = cause;
  }
}

/**
 * A pass-through transform that hashes every byte going through it.
 * `digest` and `etag` settle when the stream ends: resolved on close,
 * rejected with {@link DigestAbortedError} when either side aborts or
 * cancels.
 */
export interface DigestStream extends TransformStream<Uint8Array, Uint8Array> {
  /**
   * The raw digest of everything that went through.
   *
   * @example
   * ```ts
   * import { digestStream } from "./digest.ts";
   * const digest = digestStream();
   * await new Response(new Response("hello").body!.pipeThrough(digest)).arrayBuffer();
   * (await digest.digest).length; // 32: a SHA-256
   * ```
   */
  readonly digest: Promise<Uint8Array>;
  /**
   * A strong entity-tag (`"<base64url digest>"`) for the body.
   *
   * @example
   * ```ts
   * import { digestStream } from "./digest.ts";
   * const digest = digestStream();
   * await new Response(new Response("hello").body!.pipeThrough(digest)).arrayBuffer();
   * await digest.etag; // '"LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ"'
   * ```
   */
  readonly etag: Promise<string>;
  /**
   * Bytes that went through so far (the total once `digest` resolves).
   *
   * @example
   * ```ts
   * import { digestStream } from "./digest.ts";
   * const digest = digestStream();
   * await new Response(new Response("hello").body!.pipeThrough(digest)).arrayBuffer();
   * digest.bytes; // 5
   * ```
   */
  readonly bytes: number;
}

/**
 * Creates a {@link DigestStream}: pipe a body through it and get its digest
 * and strong ETag when the body ends. Bytes pass unchanged, chunk for chunk.
 *
 * @example
 * ```ts
 * import { digestStream } from "./digest.ts";
 * const digest = digestStream();
 * const body = new Response("hello").body!.pipeThrough(digest);
 * await new Response(body).arrayBuffer(); // or stream it to a client / a store
 * await digest.etag; // '"LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ"'
 * ```
 */
export function digestStream(options: DigestStreamOptions = {}): DigestStream {
  const hash = createHash(options.algorithm ?? ETAG_HASH);
  let resolve!: (digest: Uint8Array) => void;
  let reject!: (error: unknown) => void;
  const digest = new Promise<Uint8Array>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Callers that only stream and never look at the digest must not see an
  // unhandled rejection when the client goes away.
  digest.catch(() => {});
  const etag = digest.then((bytes) => _etagFromDigest(bytes, false));
  etag.catch(() => {});
  let bytes = 0;
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      hash.update(chunk);
      bytes += chunk.byteLength;
      controller.enqueue(chunk);
    },
    flush() {
      resolve(new Uint8Array(hash.digest()));
    },
    cancel(reason) {
      reject(new DigestAbortedError(reason));
    },
  } as Transformer<Uint8Array, Uint8Array>);
  return Object.defineProperties(stream, {
    digest: { value: digest },
    etag: { value: etag },
    bytes: { get: () => bytes },
  }) as DigestStream;
}
