#!/usr/bin/env bun
/**
 * The `cistern` command.
 *
 * ```sh
 * deno run -A lib/cli.ts proxy --origin http://127.0.0.1:8081
 * bun lib/cli.ts proxy --origin http://127.0.0.1:8081 --store heap:
 * ```
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { parseArgs } from "node:util";
import { serve, type Server } from "./adapters/serve.ts";
import { nodeServe } from "./adapters/node_serve.ts";
import { normalizeAcceptEncoding, purgeRequests } from "./proxy/modules.ts";
import type { PolicyModule } from "./proxy/config.ts";
import { proxyOrigin } from "./proxy/proxy_to.ts";
import { SharedCache } from "./proxy/shared_cache.ts";
import { parseStoreUri, StoreUriError } from "./proxy/store_uri.ts";

/** Where `cistern proxy` keeps responses unless told otherwise. */
const DEFAULT_STORE = "file:./.cistern";

/** Seconds a stopping proxy gives the answers in flight before it exits anyway. */
const DRAIN_SECONDS = 30;

const HELP = `cistern: HTTP caching toolkit

Usage:
  cistern proxy --origin URL [options]   a caching reverse proxy (RFC 9111)
  cistern --help

proxy options:
  --origin URL          the origin server to cache, e.g. http://127.0.0.1:8081 (required)
  --listen HOST:PORT    where to listen (default 127.0.0.1:8080; a bare PORT binds 127.0.0.1)
  --store URI           where to keep responses: file:./.cistern (default, on disk,
                        survives restarts) or heap: (memory, bounded to 256 MiB of bodies)
  --max-bytes B         keep at most B bytes of bodies, least recently read go first,
                        their headers with them (default: 256 MiB for heap:, no bound
                        for file:)
  --max-entries N       keep at most N responses, least recently read go first (default:
                        heap: 10,000; file: no bound, with the headers of 10,000 URLs in
                        memory). Bound it too where clients choose long URLs: --max-bytes
                        counts bodies only
  --default-ttl S       seconds of freshness for storable responses that state none (default 0)
  --max-entry-size B    bodies larger than B bytes pass through unstored (default:
                        --max-bytes, so one body never empties the store)
  --origin-timeout S    seconds to wait for the origin's answer before a 504 (default 30)
  --fault-tolerant      serve a stale stored answer when the origin fails or answers 500,
                        502, 503 or 504, unless it said must-revalidate, proxy-revalidate,
                        s-maxage or no-cache (default: the error goes to the client)
  --trace-header NAME   response header listing what the cache did (default x-cache)
  --no-trace            send no trace header
  --cache-status NAME   append a standard Cache-Status field (RFC 9211) naming this cache
                        NAME, e.g. "cistern; hit; ttl=42" (default: none)
  --accept-encoding CODINGS
                        compare and forward, in place of Accept-Encoding, the one of
                        CODINGS (the origin's, comma-separated, preferred first, e.g.
                        br,gzip) the client accepts best, or identity, so that "Vary:
                        Accept-Encoding" stores one response per coding, not one per
                        browser's list (default: as the client sent it)
  --via NAME            add "Via: 1.1 NAME" to forwarded requests and responses
  --trust-forwarded     pass X-Forwarded-* and Forwarded as they came (for a proxy in
                        front that sets them; its address joins X-Forwarded-For); by
                        default X-Forwarded-Host/-Proto/-Port/-For are set to the
                        address the client used and its own, the rest dropped, as a
                        client could forge them
  --purge-token TOKEN   answer "PURGE /path" requests that carry "Authorization: Bearer
                        TOKEN" by forgetting what is stored for the URL (200, or 404
                        when nothing was); others get 403. One that carries the tag
                        field ("Surrogate-Key: a b") forgets instead every response the
                        origin tagged with one of its tags, whatever the URL. Also read
                        from the CISTERN_PURGE_TOKEN environment variable, which ps
                        does not show
  --tag-field NAME      the response field whose tags (separated by spaces or commas)
                        name stored responses for purging by tag (default
                        surrogate-key; Cloudflare's is cache-tag)
  --hide-tags           keep the tag field from clients, as a CDN does
  --verbose             log one line per request
  --server native|node  the server clients talk to: native (default: the runtime's
                        own HTTP server, the fastest) or node (node:http: also passes the
                        origin's 103 Early Hints and 102 Processing on to clients, at
                        2-4 times the CPU per cache hit)
  -h, --help            this help

SIGINT or SIGTERM stops the proxy gracefully: it takes no new connections and
finishes the answers in flight (up to ${DRAIN_SECONDS} s); a second signal stops it at once.
Start a replacement on the same file: folder once this one has stopped: a proxy
starting on a folder deletes the bodies left half-written there.
`;

/** Options of {@link startProxy}, as the command line gives them. */
export interface ProxyCommandOptions {
  /**
   * Origin base URL.
   *
   * @example
   * ```ts
   * import type { ProxyCommandOptions } from "./cli.ts";
   * const options: ProxyCommandOptions = { origin: "http://127.0.0.1:3000" }; // --origin
   * ```
   */
  origin: string;
  /**
   * `HOST:PORT` or `PORT`. Default `127.0.0.1:8080`.
   *
   * @example
   * ```ts
   * import type { ProxyCommandOptions } from "./cli.ts";
   * const options: ProxyCommandOptions = { origin: "http://127.0.0.1:3000", listen: "0.0.0.0:8080" }; // --listen
   * ```
   */
  listen?: string;
  /**
   * `file:PATH` (meta in PATH/meta, bodies in PATH/body) or `heap:`. Default `file:./.cistern`.
   *
   * @example
   * ```ts
   * import type { ProxyCommandOptions } from "./cli.ts";
   * const options: ProxyCommandOptions = { origin: "http://127.0.0.1:3000", store: "file:/var/cache/cistern" }; // --store
   * ```
   */
  store?: string;
  /**
   * Most bytes of bodies to keep (least recently read go first). Default: heap: 256 MiB, file: no bound.
   *
   * @example
   * ```ts
   * import type { ProxyCommandOptions } from "./cli.ts";
   * const options: ProxyCommandOptions = { origin: "http://127.0.0.1:3000", maxBytes: 10 * 2 ** 30 }; // --max-bytes, 10 GiB
   * ```
   */
  maxBytes?: number;
  /**
   * Most responses to keep (least recently read go first), and URLs whose headers memory holds. Default: `heap:` 10,000; `file:` no bound, the headers of 10,000 URLs in memory.
   *
   * @example
   * ```ts
   * import type { ProxyCommandOptions } from "./cli.ts";
   * const options: ProxyCommandOptions = { origin: "http://127.0.0.1:3000", maxEntries: 100_000 }; // --max-entries
   * ```
   */
  maxEntries?: number;
  /**
   * Default TTL in seconds. Default `0`.
   *
   * @example
   * ```ts
   * import type { ProxyCommandOptions } from "./cli.ts";
   * const options: ProxyCommandOptions = { origin: "http://127.0.0.1:3000", defaultTtl: 60 }; // --default-ttl
   * ```
   */
  defaultTtl?: number;
  /**
   * See {@link SharedCacheOptions.maxEntrySize}.
   *
   * @example
   * ```ts
   * import type { ProxyCommandOptions } from "./cli.ts";
   * const options: ProxyCommandOptions = { origin: "http://127.0.0.1:3000", maxEntrySize: 50 << 20 }; // --max-entry-size
   * ```
   */
  maxEntrySize?: number;
  /**
   * Seconds to wait for the origin's answer before a 504. Default `30`.
   *
   * @example
   * ```ts
   * import type { ProxyCommandOptions } from "./cli.ts";
   * const options: ProxyCommandOptions = { origin: "http://127.0.0.1:3000", originTimeout: 10 }; // --origin-timeout, seconds
   * ```
   */
  originTimeout?: number;
  /**
   * See {@link SharedCacheOptions.faultTolerant}. Default `false`.
   *
   * @example
   * ```ts
   * import type { ProxyCommandOptions } from "./cli.ts";
   * const options: ProxyCommandOptions = { origin: "http://127.0.0.1:3000", faultTolerant: true }; // --fault-tolerant
   * ```
   */
  faultTolerant?: boolean;
  /**
   * Trace header name, or `false`. Default `"x-cache"`.
   *
   * @example
   * ```ts
   * import type { ProxyCommandOptions } from "./cli.ts";
   * const options: ProxyCommandOptions = { origin: "http://127.0.0.1:3000", traceHeader: false }; // --no-trace
   * ```
   */
  traceHeader?: string | false;
  /**
   * See {@link SharedCacheOptions.cacheStatus}. Default: none.
   *
   * @example
   * ```ts
   * import type { ProxyCommandOptions } from "./cli.ts";
   * const options: ProxyCommandOptions = { origin: "http://127.0.0.1:3000", cacheStatus: "edge" }; // --cache-status
   * ```
   */
  cacheStatus?: string;
  /**
   * Normalize `Accept-Encoding` to the best of these codings (see `normalizeAcceptEncoding`). Default: left as sent.
   *
   * @example
   * ```ts
   * import type { ProxyCommandOptions } from "./cli.ts";
   * const options: ProxyCommandOptions = { origin: "http://127.0.0.1:3000", acceptEncoding: ["br", "gzip"] }; // --accept-encoding br,gzip
   * ```
   */
  acceptEncoding?: string[];
  /**
   * Via name.
   *
   * @example
   * ```ts
   * import type { ProxyCommandOptions } from "./cli.ts";
   * const options: ProxyCommandOptions = { origin: "http://127.0.0.1:3000", via: "edge-1" }; // --via
   * ```
   */
  via?: string;
  /**
   * Pass the `X-Forwarded-*` fields as they came (see `ProxyToOptions.forwarded`).
   *
   * @example
   * ```ts
   * import type { ProxyCommandOptions } from "./cli.ts";
   * const options: ProxyCommandOptions = { origin: "http://127.0.0.1:3000", trustForwarded: true }; // --trust-forwarded
   * ```
   */
  trustForwarded?: boolean;
  /**
   * Answer `PURGE` requests that carry `Authorization: Bearer <purgeToken>` (see `purgeRequests`). Default: none are.
   *
   * @example
   * ```ts
   * import type { ProxyCommandOptions } from "./cli.ts";
   * const options: ProxyCommandOptions = { origin: "http://127.0.0.1:3000", purgeToken: "s3cret" }; // --purge-token
   * ```
   */
  purgeToken?: string;
  /**
   * See {@link SharedCacheOptions.tagField}. Default `"surrogate-key"`.
   *
   * @example
   * ```ts
   * import type { ProxyCommandOptions } from "./cli.ts";
   * const options: ProxyCommandOptions = { origin: "http://127.0.0.1:3000", tagField: "cache-tag" }; // --tag-field
   * ```
   */
  tagField?: string;
  /**
   * Keep the tag field from clients (`forwardTagField: false`). Default `false`.
   *
   * @example
   * ```ts
   * import type { ProxyCommandOptions } from "./cli.ts";
   * const options: ProxyCommandOptions = { origin: "http://127.0.0.1:3000", hideTags: true }; // --hide-tags
   * ```
   */
  hideTags?: boolean;
  /**
   * Log each request.
   *
   * @example
   * ```ts
   * import type { ProxyCommandOptions } from "./cli.ts";
   * const options: ProxyCommandOptions = { origin: "http://127.0.0.1:3000", verbose: true }; // --verbose
   * ```
   */
  verbose?: boolean;
  /**
   * Which server answers clients: `"native"` (the runtime's own HTTP
   * server, the fastest) or `"node"` (`node:http`, which also passes an origin's
   * `103 Early Hints` and `102 Processing` on, at 2–4 times the CPU per
   * cache hit).
   * Default `"native"`.
   *
   * @example
   * ```ts
   * import type { ProxyCommandOptions } from "./cli.ts";
   * const options: ProxyCommandOptions = { origin: "http://127.0.0.1:3000", server: "node" }; // --server node
   * ```
   */
  server?: "native" | "node";
}

/**
 * Thrown for a command line that cannot be run, with the message to print.
 *
 * @example
 * ```ts
 * import { main, UsageError } from "./cli.ts";
 * const error = new UsageError("--max-entries must be a whole number, got 1.5");
 * await main(["proxy", "--origin", "http://127.0.0.1:3000", "--max-entries", "1.5"]); // 2, the message printed
 * ```
 */
export class UsageError extends Error {
  /** Makes the error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

function parseListen(listen: string): { hostname: string; port: number } {
  const match = /^(?:(.+):)?(\d{1,5})$/.exec(listen);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) {
    throw new UsageError(
      `--listen must be HOST:PORT or PORT, got ${JSON.stringify(listen)}`,
    );
  }
  return {
    hostname: (match[1] ?? "127.0.0.1").replace(/^\[(.*)\]$/, "$1"),
    port,
  };
}

function storesFor(
  store: string,
  bounds: { maxBytes?: number; maxEntries?: number },
): { metastore: string; entitystore: string } {
  // The command takes the two store kinds that hold both metas and bodies.
  const uri = /^(heap|file):/.test(store) ? parseStoreUri(store) : undefined;
  if (!uri || (uri.scheme === "file" && !uri.path)) {
    throw new UsageError(
      `--store must be file:PATH or heap:, got ${JSON.stringify(store)}`,
    );
  }
  const query = uri.params;
  // The store's own maxEntries bounds both stores, as --max-entries does; 0
  // (a meta folder shared between processes) would keep no bodies at all.
  const given = query.get("maxEntries");
  if (given !== null) {
    if (Number(given) === 0) {
      throw new UsageError(
        "--store ...?maxEntries=0 would keep no bodies: a cistern proxy's folder is its own, not shared",
      );
    }
    query.delete("maxEntries");
    bounds = {
      ...bounds,
      maxEntries: bounds.maxEntries ?? count(given, "--store's maxEntries"),
    };
  }
  if (bounds.maxBytes !== undefined) {
    query.set("maxBytes", String(bounds.maxBytes));
  }
  // Headers are bounded by count (and their own bytes) in memory.
  const meta = new URLSearchParams();
  if (bounds.maxEntries !== undefined) {
    query.set("maxEntries", String(bounds.maxEntries));
    meta.set("maxEntries", String(bounds.maxEntries));
  }
  const options = query.size > 0 ? `?${query}` : "";
  const metaOptions = meta.size > 0 ? `?${meta}` : "";
  if (uri.scheme === "heap") {
    return { metastore: `heap:${metaOptions}`, entitystore: `heap:${options}` };
  }
  const path = uri.path.replace(/\/$/, "");
  return {
    metastore: `file:${path}/meta${metaOptions}`,
    entitystore: `file:${path}/body${options}`,
  };
}

/**
 * Starts a caching reverse proxy; resolves with the running server.
 *
 * @example
 * ```ts
 * import { startProxy } from "./cli.ts";
 * const { server } = await startProxy({ origin: "http://127.0.0.1:8081", listen: "0", store: "heap:" });
 * await server.shutdown();
 * ```
 */
export async function startProxy(
  options: ProxyCommandOptions,
): Promise<{ server: Server; cache: SharedCache }> {
  const { hostname, port } = parseListen(options.listen ?? "127.0.0.1:8080");
  // Checked before the stores open: nothing is left running on a bad token.
  const allowPurge = options.purgeToken === undefined
    ? undefined
    : bearerIs(options.purgeToken);
  let cache: SharedCache;
  let normalizing: PolicyModule | undefined;
  try {
    if (options.acceptEncoding) {
      normalizing = normalizeAcceptEncoding({
        codings: options.acceptEncoding,
      });
    }
    cache = new SharedCache({
      origin: options.trustForwarded
        ? proxyOrigin(options.origin, { forwarded: "keep" })
        : options.origin,
      ...storesFor(options.store ?? DEFAULT_STORE, options),
      defaultTtl: options.defaultTtl,
      maxEntrySize: options.maxEntrySize,
      originTimeout: options.originTimeout === undefined
        ? undefined
        : options.originTimeout * 1000,
      faultTolerant: options.faultTolerant,
      traceHeader: options.traceHeader,
      cacheStatus: options.cacheStatus,
      via: options.via ?? false,
      tagField: options.tagField,
      forwardTagField: !options.hideTags,
      verbose: options.verbose,
    });
  } catch (error) {
    if (error instanceof TypeError || error instanceof StoreUriError) {
      throw new UsageError(error.message);
    }
    throw error;
  }
  if (allowPurge) {
    cache.use(purgeRequests({ allow: allowPurge, tagField: options.tagField }));
  }
  if (normalizing) cache.use(normalizing);
  let server: Server;
  try {
    server = options.server === "node"
      ? await nodeServe(cache.fetch, { hostname, port })
      : serve(cache.fetch, { hostname, port });
  } catch (error) {
    void cache.close();
    const text = String((error as Error)?.message ?? error);
    if (
      /in use|EADDRINUSE|AddrInUse/i.test(text) ||
      (error as Error)?.name === "AddrInUse" ||
      (error as { code?: string })?.code === "EADDRINUSE"
    ) {
      throw new UsageError(
        `${hostname}:${port} is already in use; pick another with --listen`,
      );
    }
    throw error;
  }
  return { server, cache };
}

/**
 * Whether a request carries `Authorization: Bearer <token>` (the scheme in
 * any case, RFC 9110 §11.1), the token compared in constant time (hashes
 * first, as `timingSafeEqual` takes equal lengths).
 */
function bearerIs(token: string): (request: Request) => boolean {
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new UsageError("--purge-token must be visible ASCII, without spaces");
  }
  const digest = (text: string) => createHash("sha256").update(text).digest();
  const expected = digest(token);
  return (request) => {
    const [, scheme, given] =
      /^([^ ]+) +(.*)$/.exec(request.headers.get("authorization") ?? "") ?? [];
    return scheme?.toLowerCase() === "bearer" &&
      timingSafeEqual(digest(given), expected);
  };
}

function numberFlag(
  value: string | undefined,
  flag: string,
  positive = false,
): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0 || (positive && number === 0)) {
    throw new UsageError(
      `${flag} must be a number ${positive ? "> 0" : ">= 0"}, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return number;
}

/** A flag that counts things: a whole number, at least 1. */
function count(value: string | undefined, flag: string): number | undefined {
  const number = numberFlag(value, flag, true);
  if (number !== undefined && !Number.isSafeInteger(number)) {
    throw new UsageError(`${flag} must be a whole number, got ${value}`);
  }
  return number;
}

/**
 * Runs a started proxy until the first SIGINT or SIGTERM (as an orchestrator
 * stops a process it replaces), then stops it gracefully: no new connections,
 * answers in flight go on for up to 30 s, the cache is closed. A second
 * signal, or the deadline, exits the process at once.
 *
 * @example
 * ```ts
 * import { startProxy, untilStopped } from "./cli.ts";
 * // in a command's entry module: runs until SIGINT or SIGTERM
 * if (import.meta.main) {
 *   await untilStopped(await startProxy({ origin: "http://127.0.0.1:8081", listen: "0" }));
 * }
 * ```
 */
export async function untilStopped(
  proxy: { server: Server; cache: SharedCache },
): Promise<void> {
  const { server, cache } = proxy;
  let stopping = false;
  for (const [signal, number] of [["SIGINT", 2], ["SIGTERM", 15]] as const) {
    process.on(signal, () => {
      if (stopping) process.exit(128 + number);
      stopping = true;
      console.error(
        `cistern: ${signal}: finishing the answers in flight (send it again to stop now)`,
      );
      const deadline = setTimeout(() => {
        console.error(
          `cistern: answers or stored bodies still in flight after ${DRAIN_SECONDS} s; stopping`,
        );
        process.exit(1);
      }, DRAIN_SECONDS * 1000);
      // Also for the cache's close: bodies still being stored, then records.
      closed.finally(() => clearTimeout(deadline)).catch(() => {});
      void server.shutdown();
    });
  }
  const closed = server.finished.then(() => cache.close());
  await closed;
  console.error("cistern: stopped");
}

/**
 * Runs the command line `args`; resolves with the exit code once the command
 * is done (a proxy runs until the process is stopped).
 *
 * @example
 * ```ts
 * import { main } from "./cli.ts";
 * await main(["--help"]); // prints the usage, returns 0
 * ```
 */
export async function main(args: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        origin: { type: "string" },
        listen: { type: "string" },
        store: { type: "string" },
        "default-ttl": { type: "string" },
        "max-bytes": { type: "string" },
        "max-entries": { type: "string" },
        "max-entry-size": { type: "string" },
        "origin-timeout": { type: "string" },
        "fault-tolerant": { type: "boolean" },
        "trace-header": { type: "string" },
        "no-trace": { type: "boolean" },
        "cache-status": { type: "string" },
        "accept-encoding": { type: "string" },
        via: { type: "string" },
        "trust-forwarded": { type: "boolean" },
        "purge-token": { type: "string" },
        "tag-field": { type: "string" },
        "hide-tags": { type: "boolean" },
        verbose: { type: "boolean" },
        server: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help || positionals.length === 0) {
      console.log(HELP);
      return values.help ? 0 : 2;
    }
    if (positionals[0] !== "proxy" || positionals.length > 1) {
      throw new UsageError(
        `unknown command ${JSON.stringify(positionals.join(" "))}`,
      );
    }
    if (!values.origin) throw new UsageError("proxy needs --origin URL");
    const server = values.server ?? "native";
    if (server !== "native" && server !== "node") {
      throw new UsageError(
        `--server must be native or node, got ${JSON.stringify(server)}`,
      );
    }
    const proxy = await startProxy({
      server,
      origin: values.origin,
      listen: values.listen,
      store: values.store,
      defaultTtl: numberFlag(values["default-ttl"], "--default-ttl"),
      maxBytes: numberFlag(values["max-bytes"], "--max-bytes"),
      maxEntries: count(values["max-entries"], "--max-entries"),
      maxEntrySize: numberFlag(values["max-entry-size"], "--max-entry-size"),
      originTimeout: numberFlag(
        values["origin-timeout"],
        "--origin-timeout",
        true,
      ),
      faultTolerant: values["fault-tolerant"],
      traceHeader: values["no-trace"] ? false : values["trace-header"],
      cacheStatus: values["cache-status"],
      acceptEncoding: values["accept-encoding"]?.split(","),
      via: values.via,
      trustForwarded: values["trust-forwarded"],
      purgeToken: values["purge-token"] ??
        (process.env.CISTERN_PURGE_TOKEN || undefined),
      tagField: values["tag-field"],
      hideTags: values["hide-tags"],
      verbose: values.verbose,
    });
    try {
      await proxy.cache.ready;
    } catch (error) {
      await proxy.server.shutdown();
      throw new UsageError(
        `the store ${values.store ?? DEFAULT_STORE} cannot be used: ${
          (error as Error)?.message ?? error
        }`,
      );
    }
    console.log(`cistern: caching ${values.origin} at ${proxy.server.url}`);
    await untilStopped(proxy);
    return 0;
  } catch (error) {
    const usage = error instanceof UsageError ||
      (error as { code?: string })?.code?.startsWith("ERR_PARSE_ARGS");
    console.error(`cistern: ${(error as Error)?.message ?? error}`);
    if (usage) console.error("run `cistern --help` for usage");
    return usage ? 2 : 1;
  }
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
