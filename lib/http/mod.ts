/**
 * HTTP caching helpers for code that serves its own responses, and the
 * validator, range and header logic the shared cache reuses:
 *
 * - Cache-Control: {@link parseCacheControl},
 *   {@link parseTargetedCacheControl}, {@link formatCacheControl},
 *   {@link expiresIn}, {@link expiresNow}, {@link noStore}
 * - validators: {@link etagFor}, {@link parseETagList}, {@link strongMatch},
 *   {@link weakMatch}, {@link evaluatePreconditions}, {@link freshWhen},
 *   {@link isStale}, {@link digestStream}
 * - dates: {@link parseHttpDate}, {@link formatHttpDate}
 * - ranges and files: {@link parseRange}, {@link ifRangeMatches},
 *   {@link rangeResponse}, {@link sendFile}
 * - content negotiation: {@link acceptedCoding}
 * - streaming: {@link stream}, {@link streamChunks}, {@link isStreaming},
 *   {@link liveStream}, {@link serverSentEvents}
 *
 * @example
 * ```ts
 * import { expiresIn, freshWhen, etagFor } from "./mod.ts";
 * const handler = (request: Request) => {
 *   const page = { title: "Home", version: 3 };
 *   return freshWhen(request, {
 *     etag: etagFor(page),
 *     cacheControl: expiresIn(60, { public: true }),
 *   }, () => Response.json(page));
 * };
 * ```
 *
 * @module
 */
export { acceptedCoding } from "./accept_encoding.ts";
export {
  type CacheControl,
  expiresIn,
  type ExpiresInOptions,
  expiresNow,
  formatCacheControl,
  InvalidCacheControlError,
  MAX_DELTA_SECONDS,
  noStore,
  parseCacheControl,
  parseTargetedCacheControl,
} from "./cache_control.ts";
export {
  freshWhen,
  type FreshWhenOptions,
  InvalidValidatorError,
  isStale,
} from "./conditional.ts";
export {
  DigestAbortedError,
  type DigestStream,
  digestStream,
  type DigestStreamOptions,
} from "./digest.ts";
export {
  ETAG_HASH,
  etagFor,
  type ETagOptions,
  isETag,
  parseETagList,
  strongMatch,
  UnhashableValueError,
  weakMatch,
} from "./etag.ts";
export { formatHttpDate, parseHttpDate } from "./http_date.ts";
export {
  forwardsInterim,
  type InterimSink,
  interimSinkOf,
  noteInterimSink,
} from "./interim.ts";
export {
  liveBody,
  liveStream,
  type LiveStreamInit,
  type LiveWriter,
  StreamClosedError,
} from "./live.ts";
export { contentTypeFor, DEFAULT_CONTENT_TYPE } from "./mime.ts";
export {
  type ConditionalRequest,
  evaluatePreconditions,
  type PreconditionOptions,
  type PreconditionResult,
  type ValidatorHeaders,
} from "./preconditions.ts";
export {
  type ByteRange,
  DEFAULT_MAX_RANGES,
  formatContentRange,
  ifRangeMatches,
  parseRange,
  type ParseRangeOptions,
  type RangeResult,
} from "./range.ts";
export {
  type ByteSource,
  rangeResponse,
  type RangeResponseInit,
  type RangeSource,
} from "./range_response.ts";
export {
  ForbiddenPathError,
  resolveFilePath,
  type ResolveFilePathOptions,
  sendFile,
  type SendFileOptions,
} from "./send_file.ts";
export {
  type EventWriter,
  formatComment,
  formatEvent,
  InvalidEventError,
  type ServerSentEvent,
  serverSentEvents,
  type ServerSentEventsInit,
} from "./sse.ts";
export {
  type BareItem,
  type Member,
  type Parameters,
  parseDictionary,
} from "./structured_fields.ts";
export {
  type Chunk,
  InvalidChunkError,
  isStreaming,
  iterableStream,
  stream,
  streamChunks,
} from "./streaming.ts";
