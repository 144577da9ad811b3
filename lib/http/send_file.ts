/**
 * `sendFile`: a file as an HTTP response, streamed from disk with
 * validators, conditional GET, ranges and HEAD handled (by
 * {@link rangeResponse}), and with request paths kept inside a root.
 *
 * The file is never read whole: bytes come from the runtime's fastest range
 * reader (`fastReadRange()`, see `lib/adapters/file_io.ts`), and only the
 * ranges asked for are read. cistern answers ranges itself rather than
 * leaving it to Bun's own file responses, so both runtimes behave alike.
 *
 * @module
 */
import { realpath, stat } from "node:fs/promises";
import { basename, join, resolve, sep } from "node:path";
import { fastReadRange, fileBlob } from "../adapters/file_io.ts";
import { copyHeaders } from "../adapters/header_copies.ts";
import { formatHttpDate } from "./http_date.ts";
import { contentTypeFor } from "./mime.ts";
import { rangeResponse } from "./range_response.ts";

/**
 * Why {@link resolveFilePath} refused a request path.
 *
 * @example
 * ```ts
 * import { ForbiddenPathError, resolveFilePath } from "./send_file.ts";
 * try {
 *   await resolveFilePath("./public", "/../secrets.txt");
 * } catch (error) {
 *   if (error instanceof ForbiddenPathError) console.log(error.status); // 403
 * }
 * ```
 */
export class ForbiddenPathError extends Error {
  /** The request path as given. */
  readonly path: string;
  /** The status to answer with: 403 for escapes, 404 for hidden files. */
  readonly status: 403 | 404;
  /** Describes which path was refused and why. */
  constructor(path: string, reason: string, status: 403 | 404 = 403) {
    super(`refused path ${JSON.stringify(path)}: ${reason}`);
    this.name = "ForbiddenPathError";
    this.path = path;
    this.status = status;
  }
}

/** Options for {@link resolveFilePath}. */
export interface ResolveFilePathOptions {
  /**
   * Dotfiles (any segment starting with `.`, like `.env` or `.git/config`):
   * `"deny"` refuses them with a 404-status error, `"allow"` serves them.
   * Default `"deny"`.
   *
   * @example
   * ```ts
   * import { resolveFilePath } from "./send_file.ts";
   * await resolveFilePath("./public", "/.well-known/security.txt", { dotfiles: "allow" });
   * // "<cwd>/public/.well-known/security.txt"
   * ```
   */
  dotfiles?: "deny" | "allow";
}

/**
 * Resolves a URL path (percent-encoded, `/`-separated) to a file path inside
 * `root`, refusing what could escape it: `..` segments (also encoded, as
 * `%2e%2e` or `..%2f`), NUL bytes, backslashes, malformed encodings and
 * symbolic links that lead outside `root`. Decodes exactly once, so `%252e`
 * is a file named `%2e`, not a way out.
 *
 * @throws {ForbiddenPathError} when the path is refused.
 *
 * @example
 * ```ts
 * import { resolveFilePath } from "./send_file.ts";
 * await resolveFilePath("./public", "/css/site.css"); // "/…/public/css/site.css"
 * await resolveFilePath("./public", "/%2e%2e/secret").catch((e) => e.status); // 403
 * ```
 */
export async function resolveFilePath(
  root: string,
  urlPath: string,
  options: ResolveFilePathOptions = {},
): Promise<string> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    throw new ForbiddenPathError(urlPath, "malformed percent-encoding");
  }
  if (decoded.includes("\0")) {
    throw new ForbiddenPathError(urlPath, "NUL byte");
  }
  if (decoded.includes("\\")) {
    throw new ForbiddenPathError(urlPath, "backslash");
  }
  const segments = decoded.split("/");
  if (segments.includes("..")) {
    throw new ForbiddenPathError(urlPath, "parent segment");
  }
  const denyDotfiles = (options.dotfiles ?? "deny") === "deny";
  const hidden = (parts: string[]) =>
    parts.some((s) => s.startsWith(".") && s !== ".");
  if (denyDotfiles && hidden(segments)) {
    throw new ForbiddenPathError(urlPath, "hidden file", 404);
  }
  const base = resolve(root);
  const file = join(base, decoded);
  const inside = (path: string, dir: string) =>
    path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
  if (!inside(file, base)) {
    throw new ForbiddenPathError(urlPath, "outside the root");
  }
  // A symlink inside the root may point outside it: compare real paths.
  let real: string;
  try {
    real = await realpath(file);
  } catch {
    return file; // missing: the caller's stat answers 404
  }
  const realBase = await realpath(base).catch(() => base);
  if (!inside(real, realBase)) {
    throw new ForbiddenPathError(urlPath, "symbolic link outside the root");
  }
  // A link with a plain name may lead to a hidden file (`env.txt` → `.env`).
  if (denyDotfiles && hidden(real.slice(realBase.length).split(sep))) {
    throw new ForbiddenPathError(urlPath, "hidden file", 404);
  }
  return file;
}

/** Options for {@link sendFile}. */
export interface SendFileOptions extends ResolveFilePathOptions {
  /**
   * Serve only inside this directory. `path` is then a URL path (for example
   * `new URL(request.url).pathname`), percent-decoded once and checked by
   * {@link resolveFilePath}. Without `root`, `path` is a file system path
   * used as is: never pass request input without a root. Default: none.
   *
   * @example
   * ```ts
   * import { sendFile } from "./send_file.ts";
   * const handler = (request: Request) =>
   *   sendFile(request, new URL(request.url).pathname, { root: "./public" }); // /a.css: ./public/a.css
   * ```
   */
  root?: string;
  /**
   * Content-Type. Default: from the extension, `application/octet-stream` if unknown.
   *
   * @example
   * ```ts
   * import { sendFile } from "./send_file.ts";
   * const handler = (request: Request) =>
   *   sendFile(request, "./data/export.log", { contentType: "text/plain; charset=utf-8" });
   * ```
   */
  contentType?: string;
  /**
   * ETag, or `false` for none. Default: a strong tag from size and
   * modification time (`"<size>-<mtime ms>"`, base 36), as nginx does; it
   * changes whenever the file is rewritten with a new mtime, and being
   * strong it lets `If-Range` resume downloads.
   *
   * @example
   * ```ts
   * import { sendFile } from "./send_file.ts";
   * const handler = (request: Request) =>
   *   sendFile(request, "./build/app.js", { etag: '"build-1234"' }); // or false for none
   * ```
   */
  etag?: string | false;
  /**
   * Last-Modified, or `false` for none. Default: the file's modification time.
   *
   * @example
   * ```ts
   * import { sendFile } from "./send_file.ts";
   * const handler = (request: Request) =>
   *   sendFile(request, "./build/app.js", { lastModified: false }); // validate by ETag only
   * ```
   */
  lastModified?: Date | number | false;
  /**
   * Cache-Control. Default `"no-cache"`: clients may store the file but
   * revalidate each time, which the validators make a cheap 304.
   *
   * @example
   * ```ts
   * import { expiresIn } from "./cache_control.ts";
   * import { sendFile } from "./send_file.ts";
   * const handler = (request: Request) =>
   *   sendFile(request, "./build/app.1a2b3c.js", { cacheControl: expiresIn(31_536_000, { public: true, immutable: true }) });
   * ```
   */
  cacheControl?: string;
  /**
   * Content-Disposition: `"inline"`, `"attachment"` (named after the file),
   * or a type with a download name. Default: none sent.
   *
   * @example
   * ```ts
   * import { sendFile } from "./send_file.ts";
   * const handler = (request: Request) =>
   *   sendFile(request, "./exports/42.csv", { disposition: { type: "attachment", filename: "report.csv" } });
   * ```
   */
  disposition?:
    | "inline"
    | "attachment"
    | { type: "inline" | "attachment"; filename: string };
  /**
   * Most ranges one request may ask for before it gets the whole file. Default `50`.
   *
   * @example
   * ```ts
   * import { sendFile } from "./send_file.ts";
   * const handler = (request: Request) =>
   *   sendFile(request, "./media/video.mp4", { maxRanges: 1 }); // one range per request, at most
   * ```
   */
  maxRanges?: number;
  /**
   * Further response headers. Default: none.
   *
   * @example
   * ```ts
   * import { sendFile } from "./send_file.ts";
   * const handler = (request: Request) =>
   *   sendFile(request, "./public/index.html", { headers: { "x-content-type-options": "nosniff" } });
   * ```
   */
  headers?: HeadersInit;
  /**
   * Reads bytes `[start, end)` of a file as a stream that errors if the file
   * is shorter. Default: `fastReadRange()`, the runtime's fastest reader.
   *
   * @example
   * ```ts
   * import { nodeReadRange } from "../adapters/file_io.ts";
   * import { sendFile } from "./send_file.ts";
   * const handler = (request: Request) =>
   *   sendFile(request, "./media/video.mp4", { readRange: nodeReadRange });
   * ```
   */
  readRange?: (
    path: string,
    start: number,
    end: number,
  ) => ReadableStream<Uint8Array>;
}

/** `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266), safe for any name. */
function contentDisposition(type: string, name: string): string {
  // A lone surrogate (a name taken from a request) would make encoding throw.
  const filename = name.toWellFormed();
  const ascii = filename.replace(/[^\x20-\x7e]|["\\%]/g, "_");
  const encoded = encodeURIComponent(filename).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${type}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

function plain(status: number, text: string, headers?: HeadersInit): Response {
  const response = new Response(text, { status, headers });
  response.headers.set("content-type", "text/plain; charset=utf-8");
  return response;
}

/**
 * Sends a file: `200` with the whole file, `206` for one range or several
 * (multipart/byteranges), `416` for unsatisfiable ranges, `304` / `412` for
 * conditional requests, HEAD without a body. `404` when the file is missing
 * or is a directory (or another non-regular file), `403` for a path refused
 * by {@link resolveFilePath} or a file that cannot be read, `405` for methods
 * other than GET and HEAD.
 *
 * @example
 * ```ts
 * import { sendFile } from "./send_file.ts";
 * const handler = (request: Request) =>
 *   sendFile(request, new URL(request.url).pathname, { root: "./public" });
 * ```
 */
export async function sendFile(
  request: Request,
  path: string,
  options: SendFileOptions = {},
): Promise<Response> {
  const method = request.method.toUpperCase();
  if (method !== "GET" && method !== "HEAD") {
    return plain(405, "Method Not Allowed", { allow: "GET, HEAD" });
  }
  let file = path;
  if (options.root !== undefined) {
    try {
      file = await resolveFilePath(options.root, path, options);
    } catch (error) {
      if (!(error instanceof ForbiddenPathError)) throw error;
      return error.status === 404
        ? plain(404, "Not Found")
        : plain(403, "Forbidden");
    }
  }
  let info;
  try {
    info = await stat(file);
  } catch (error) {
    const code = (error as { code?: string }).code;
    return code === "EACCES" || code === "EPERM"
      ? plain(403, "Forbidden")
      : plain(404, "Not Found");
  }
  if (!info.isFile()) return plain(404, "Not Found");

  const headers = copyHeaders(options.headers);
  headers.set("content-type", options.contentType ?? contentTypeFor(file));
  if (options.etag !== false) {
    headers.set(
      "etag",
      options.etag ??
        `"${info.size.toString(36)}-${Math.floor(info.mtimeMs).toString(36)}"`,
    );
  }
  if (options.lastModified !== false) {
    headers.set(
      "last-modified",
      // Never in the future (RFC 9110 §8.8.2.1): a clock set ahead would
      // answer 304 for a month to a file changed since.
      formatHttpDate(
        options.lastModified ?? Math.min(info.mtimeMs, Date.now()),
      ),
    );
  }
  headers.set("cache-control", options.cacheControl ?? "no-cache");
  const disposition = options.disposition;
  if (disposition !== undefined) {
    headers.set(
      "content-disposition",
      typeof disposition === "object"
        ? contentDisposition(disposition.type, disposition.filename)
        : disposition === "attachment"
        ? contentDisposition("attachment", basename(file))
        : "inline",
    );
  }
  // Bun serves a file Blob with its length and sendfile, a stream without.
  const blob = options.readRange ? undefined : fileBlob(file, info.size);
  // Bun names the file in a Content-Disposition of its own for Blob bodies
  // unless one is set: keep the documented default (none) in effect.
  if (blob && !headers.has("content-disposition")) {
    headers.set("content-disposition", "inline");
  }
  const readRange = options.readRange ?? fastReadRange();
  return rangeResponse(
    request,
    blob ?? {
      size: info.size,
      stream: (start, end) => readRange(file, start, end),
    },
    { headers, maxRanges: options.maxRanges },
  );
}
