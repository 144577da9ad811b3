/**
 * Content types by file extension, for {@link sendFile}: a short table of
 * the types web servers send most, not a full mime database.
 *
 * @module
 */

const TYPES: Record<string, string> = {
  // text (sent with charset=utf-8)
  html: "text/html",
  htm: "text/html",
  css: "text/css",
  js: "text/javascript",
  mjs: "text/javascript",
  cjs: "text/javascript",
  txt: "text/plain",
  md: "text/markdown",
  csv: "text/csv",
  xml: "application/xml",
  json: "application/json",
  map: "application/json",
  webmanifest: "application/manifest+json",
  svg: "image/svg+xml",
  ts: "text/plain",
  vtt: "text/vtt",
  // images
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  avif: "image/avif",
  ico: "image/vnd.microsoft.icon",
  bmp: "image/bmp",
  // fonts
  woff: "font/woff",
  woff2: "font/woff2",
  ttf: "font/ttf",
  otf: "font/otf",
  // audio and video
  mp3: "audio/mpeg",
  ogg: "audio/ogg",
  wav: "audio/wav",
  flac: "audio/flac",
  m4a: "audio/mp4",
  mp4: "video/mp4",
  webm: "video/webm",
  mov: "video/quicktime",
  m3u8: "application/vnd.apple.mpegurl",
  // documents and archives
  pdf: "application/pdf",
  zip: "application/zip",
  gz: "application/gzip",
  tar: "application/x-tar",
  wasm: "application/wasm",
  bin: "application/octet-stream",
};

const UTF8 = /^(text\/|application\/(json|xml|manifest\+json)|image\/svg\+xml)/;

/** The type sent for unknown extensions. */
export const DEFAULT_CONTENT_TYPE = "application/octet-stream";

/**
 * The content type for a file name by its extension (case-insensitive), with
 * `; charset=utf-8` on textual types; `application/octet-stream` when the
 * extension is unknown.
 *
 * @example
 * ```ts
 * import { contentTypeFor } from "./mime.ts";
 * contentTypeFor("index.HTML"); // "text/html; charset=utf-8"
 * contentTypeFor("movie.mp4"); // "video/mp4"
 * contentTypeFor("README"); // "application/octet-stream"
 * ```
 */
export function contentTypeFor(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  if (dot <= 0) return DEFAULT_CONTENT_TYPE;
  const extension = name.slice(dot + 1).toLowerCase();
  const type = Object.hasOwn(TYPES, extension) ? TYPES[extension] : undefined;
  if (!type) return DEFAULT_CONTENT_TYPE;
  return UTF8.test(type) ? `${type}; charset=utf-8` : type;
}
