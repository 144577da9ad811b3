/**
 * The RFC 9111 shared HTTP cache: a caching reverse proxy and middleware with
 * meta and entity stores chosen by URI and a policy language of events and
 * transitions.
 *
 * @example
 * ```ts
 * import { SharedCache } from "./mod.ts";
 * const cache = new SharedCache({ origin: "http://127.0.0.1:8080", entitystore: "file:./.cistern/body" });
 * ```
 *
 * @module
 */
export {
  type CacheEvent,
  type EventHandler,
  IllegalTransitionError,
  LEGAL_TRANSITIONS,
  Policy,
  type PolicyModule,
  type PolicyTarget,
  type Transition,
  type TransitionName,
} from "./config.ts";
export { CacheContext } from "./context.ts";
export { defaultPolicy, type DefaultPolicyOptions } from "./default_policy.ts";
export { type EntityStore, entityStoreFrom } from "./entitystore.ts";
export {
  fileMetaStore,
  type FileMetaStoreOptions,
  heapMetaStore,
  type HeapMetaStoreOptions,
  isStoredResponse,
  type MetaStore,
  metaStoreFrom,
  type StoredResponse,
} from "./metastore.ts";
export {
  cacheBusters,
  type CacheBustersOptions,
  honourClientNoCache,
  normalizeAcceptEncoding,
  type NormalizeAcceptEncodingOptions,
  purgeRequests,
  type PurgeRequestsOptions,
} from "./modules.ts";
export {
  SharedCache,
  sharedCache,
  type SharedCacheOptions,
} from "./shared_cache.ts";
export { proxyTo, type ProxyToOptions } from "./proxy_to.ts";
export { type FieldNormalizers } from "./vary.ts";
export {
  type ByteConn,
  type Connect,
  Http1Client,
  type Http1ClientOptions,
  Http1ProtocolError,
  nodeConnect,
  type OutgoingMessage,
} from "../adapters/http1_client.ts";
export {
  ClientGoneError,
  EntityTooLargeError,
  OriginTimeoutError,
  StoringStoppedError,
  TagPurgeUnsupportedError,
} from "./errors.ts";
export { type Handoff } from "./bodies.ts";
export { parseStoreUri, type StoreUri, StoreUriError } from "./store_uri.ts";
export {
  type AgeClock,
  currentAge,
  freshnessLifetime,
  headAnswerDescribes,
  notModifiedApplies,
  type NotStorableReason,
  notStorableReason,
  type PolicyOptions,
  requestCacheControl,
  responseCacheControl,
  staleForbidden,
  staleIfErrorAllows,
  type StoredFreshness,
  type Usability,
  usability,
} from "./policy.ts";
