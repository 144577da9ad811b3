/**
 * `Http1Client` against real loopback servers: `node:http` ones for ordinary
 * answers, raw `node:net` ones for exact bytes (chunk syntax, interim answers,
 * malformed and truncated responses). Every case runs with the runtime's
 * default connect and with `nodeConnect`.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from "node:http";
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from "node:net";
import { readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import {
  Http1Client,
  Http1ProtocolError,
  nodeConnect,
} from "../../lib/adapters/http1_client.ts";
import { bodyKindOf } from "../../lib/http/body_kind.ts";
import { deferred } from "../../lib/deferred.ts";
import { bytes, collect, tick } from "../_util.ts";

type ClientOptions = NonNullable<ConstructorParameters<typeof Http1Client>[0]>;

/** A loopback server a test drives. */
interface TestServer {
  port: number;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** The accepted sockets, in order. */
  sockets: Socket[];
  /** Runs `fn` after `ms` unless the server is closed first. */
  later(ms: number, fn: () => void): void;
  close(): Promise<void>;
}

/** What a raw server's handler is told about one request. */
interface RawRequest {
  method: string;
  path: string;
  /** The head as received, lines joined by CRLF. */
  head: string;
  /** 1 for the first connection the server accepted. */
  connection: number;
  /** 1 for the first request on this connection. */
  index: number;
}

/** Servers still open, closed at the end even when a test did not finish. */
const open = new Set<TestServer>();
after(async () => {
  await Promise.all([...open].map((server) => server.close()));
});

/**
 * Listens on 127.0.0.1, port 0, and wraps `server` as a {@link TestServer}
 * whose `close` destroys the accepted sockets and clears pending `later`s.
 */
async function listen(
  server: HttpServer | NetServer,
  onSocket: (socket: Socket, self: TestServer) => void = () => {},
): Promise<TestServer> {
  const sockets: Socket[] = [];
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let closed: Promise<void> | undefined;
  await new Promise<void>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve())
  );
  const port = (server.address() as AddressInfo).port;
  const self: TestServer = {
    port,
    url: `http://127.0.0.1:${port}`,
    get connections() {
      return sockets.length;
    },
    sockets,
    later(ms, fn) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        fn();
      }, ms);
      timers.add(timer);
    },
    close() {
      closed ??= (async () => {
        for (const timer of timers) clearTimeout(timer);
        for (const socket of sockets) socket.destroy();
        if ("closeAllConnections" in server) server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        open.delete(self);
      })();
      return closed;
    },
  };
  server.on("connection", (socket: Socket) => {
    sockets.push(socket);
    onSocket(socket, self);
  });
  open.add(self);
  return self;
}

/** A `node:http` server. */
function httpServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<TestServer> {
  return listen(createHttpServer(handler));
}

/**
 * A `node:net` server that splits what it receives into request heads (the
 * tests send no request bodies to it) and lets `handler` write whatever bytes
 * it likes.
 */
function rawServer(
  handler: (socket: Socket, request: RawRequest, server: TestServer) => void,
): Promise<TestServer> {
  return listen(createNetServer(), (socket, self) => {
    const connection = self.connections;
    socket.setNoDelay(true);
    socket.on("error", () => {});
    let pending = "";
    let index = 0;
    socket.on("data", (data: Uint8Array) => {
      pending += Buffer.from(data).toString("latin1");
      let end: number;
      while ((end = pending.indexOf("\r\n\r\n")) !== -1) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        const [method, path] = head.split("\r\n")[0].split(" ");
        const request = { method, path, head, connection, index: ++index };
        handler(socket, request, self);
      }
    });
  });
}

/** A raw server that answers every request with the same bytes. */
function rawAnswer(response: string | Uint8Array): Promise<TestServer> {
  return rawServer((socket) => {
    socket.write(response);
  });
}

/** Checks two byte arrays are equal without printing megabytes on failure. */
function assertBytes(actual: Uint8Array, expected: Uint8Array, what = "body") {
  assert.equal(actual.byteLength, expected.byteLength, `${what} length`);
  assert.ok(
    Buffer.compare(actual, expected) === 0,
    `${what}: bytes differ`,
  );
}

function text(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}

function isProtocolError(error: unknown): boolean {
  assert.ok(
    error instanceof Http1ProtocolError,
    `expected an Http1ProtocolError, got ${String(error)}`,
  );
  assert.equal(error.name, "Http1ProtocolError");
  return true;
}

/** Fetches and reads the whole body (empty for a null one). */
async function fetchAll(client: Http1Client, request: Request | string) {
  const response = await client.fetch(
    typeof request === "string" ? new Request(request) : request,
  );
  const body = response.body === null
    ? new Uint8Array(0)
    : await collect(response.body);
  return { response, body };
}

/** `promise`, or a rejection naming `what` if it takes over `ms`. */
async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string | (() => string),
): Promise<T> {
  const message = () =>
    `${typeof what === "string" ? what : what()}: no answer in ${ms} ms`;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message())), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** `it`, failing after 20 s instead of hanging the run if a read never ends. */
function test(name: string, fn: () => Promise<void>) {
  // Generous: a machine whose CPU other guests take runs these slowly.
  it(name, () => within(fn(), 20_000, name));
}

const BIG = bytes(5 * (1 << 20) + 3);

const clients: [string, (options?: ClientOptions) => Http1Client][] = [
  ["default connect", (options) => new Http1Client(options)],
  [
    "nodeConnect",
    (options) => new Http1Client({ ...options, connect: nodeConnect }),
  ],
];

describe("Http1Client", () => {
  for (const [name, make] of clients) {
    describe(name, () => {
      /** A client closed at the end of `fn`, and a server closed too. */
      async function using(
        server: Promise<TestServer>,
        fn: (server: TestServer, client: Http1Client) => Promise<void>,
        options?: ClientOptions,
      ): Promise<void> {
        const s = await server;
        const client = make(options);
        try {
          await fn(s, client);
        } finally {
          client.close();
          await s.close();
        }
      }

      test("send: a request's parts go as a Request with them would; a body already read is refused", async () => {
        const seen: { method?: string; url?: string; fields: string[] }[] = [];
        await using(
          httpServer((req, res) => {
            const chunks: Buffer[] = [];
            req.on("data", (chunk) => chunks.push(chunk));
            req.on("end", () => {
              seen.push({
                method: req.method,
                url: req.url,
                fields: req.rawHeaders,
              });
              res.end(Buffer.concat(chunks));
            });
          }),
          async (server, client) => {
            const upload = (text: string) =>
              new Response(text).body as ReadableStream<Uint8Array>;
            const response = await client.send(`${server.url}/up?x=1`, {
              method: "PUT",
              headers: new Headers({ "x-test": "1" }),
              body: upload("hello"),
              signal: new AbortController().signal,
            });
            assert.equal(await response.text(), "hello");
            assert.equal(seen[0].method, "PUT");
            assert.equal(seen[0].url, "/up?x=1");
            const fields = seen[0].fields.map((v, i) =>
              i % 2 ? v : v.toLowerCase()
            );
            assert.equal(fields[fields.indexOf("x-test") + 1], "1");

            const used = upload("gone");
            await used.getReader().read();
            await assert.rejects(
              client.send(server.url, {
                method: "POST",
                headers: new Headers(),
                body: used,
                signal: new AbortController().signal,
              }),
              TypeError,
            );
            assert.equal(seen.length, 1);
          },
        );
      });

      test("GET: status, reason, fields and body exact; sends only the request's fields", async () => {
        const body = bytes(3000, 7);
        const seen: IncomingMessage[] = [];
        await using(
          httpServer((req, res) => {
            seen.push(req);
            res.setHeader("set-cookie", [
              "a=1; Path=/",
              "b=2; Expires=Wed, 21 Oct 2015 07:28:00 GMT",
            ]);
            res.setHeader("x-multi", ["1", "2"]);
            res.writeHead(200, "Fine Thanks", {
              "content-type": "application/octet-stream",
              "content-length": String(body.byteLength),
            });
            res.end(body);
          }),
          async (server, client) => {
            const { response, body: got } = await fetchAll(
              client,
              new Request(`${server.url}/path?q=1`, {
                headers: { "x-test": "1" },
              }),
            );
            assert.equal(response.status, 200);
            assert.equal(response.statusText, "Fine Thanks");
            assert.equal(response.ok, true);
            assert.equal(
              response.headers.get("content-type"),
              "application/octet-stream",
            );
            assert.equal(response.headers.get("content-length"), "3000");
            assert.equal(response.headers.get("x-multi"), "1, 2");
            assert.deepEqual(response.headers.getSetCookie(), [
              "a=1; Path=/",
              "b=2; Expires=Wed, 21 Oct 2015 07:28:00 GMT",
            ]);
            assertBytes(got, body);

            assert.equal(seen.length, 1);
            const req = seen[0];
            assert.equal(req.method, "GET");
            assert.equal(req.url, "/path?q=1");
            assert.equal(req.httpVersion, "1.1");
            assert.equal(req.headers["x-test"], "1");
            assert.equal(req.headers.host, `127.0.0.1:${server.port}`);
            for (const field of ["user-agent", "accept", "accept-encoding"]) {
              assert.equal(req.headers[field], undefined, `sent ${field}`);
            }
            const names = new Set<string>();
            for (let i = 0; i < req.rawHeaders.length; i += 2) {
              names.add(req.rawHeaders[i].toLowerCase());
            }
            names.delete("connection");
            assert.deepEqual([...names].sort(), ["host", "x-test"]);
          },
        );
      });

      test("passes compressed bytes through untouched", async () => {
        const plain = text("hello hello hello hello hello ".repeat(200));
        const gz = gzipSync(plain);
        await using(
          httpServer((_req, res) => {
            res.writeHead(200, {
              "content-encoding": "gzip",
              "content-type": "text/plain",
              "content-length": String(gz.byteLength),
            });
            res.end(gz);
          }),
          async (server, client) => {
            const { response, body } = await fetchAll(
              client,
              new Request(server.url, {
                headers: { "accept-encoding": "gzip" },
              }),
            );
            assert.equal(response.headers.get("content-encoding"), "gzip");
            assert.equal(
              response.headers.get("content-length"),
              String(gz.byteLength),
            );
            assert.ok(gz.byteLength < plain.byteLength);
            assertBytes(body, gz);
          },
        );
      });

      /** A server answering BIG with its Content-Length. */
      const bigServer = () =>
        httpServer((_req, res) => {
          res.writeHead(200, { "content-length": String(BIG.byteLength) });
          res.end(BIG);
        });

      test("a 5 MiB Content-Length body through a default reader", async () => {
        await using(
          bigServer(),
          async (server, client) => {
            const response = await client.fetch(new Request(server.url));
            assert.equal(
              response.headers.get("content-length"),
              String(BIG.byteLength),
            );
            assertBytes(await collect(response.body!), BIG);
            assert.equal(client.idleConnections, 1);
          },
        );
      });

      test("a 5 MiB Content-Length body through a BYOB reader and one reused buffer", async () => {
        await using(
          bigServer(),
          async (server, client) => {
            const response = await client.fetch(new Request(server.url));
            const reader = response.body!.getReader({ mode: "byob" });
            let offset = 0;
            // Each read is asked for as soon as the last one is back (as a
            // pump does), so a stream must answer a read pending at its end.
            const pump = async () => {
              let buf = new Uint8Array(64 * 1024);
              while (true) {
                const { done, value } = await reader.read(buf);
                if (done) break;
                assert.ok(value.byteLength <= 64 * 1024);
                const want = BIG.subarray(offset, offset + value.byteLength);
                assert.ok(
                  value.byteLength === want.byteLength &&
                    Buffer.compare(value, want) === 0,
                  `bytes differ in ${offset}..${offset + value.byteLength}`,
                );
                offset += value.byteLength;
                buf = new Uint8Array(value.buffer);
              }
            };
            await within(
              pump(),
              2000,
              () => `BYOB read after ${offset} of ${BIG.byteLength} bytes`,
            );
            assert.equal(offset, BIG.byteLength);
            assert.equal(client.idleConnections, 1);
          },
        );
      });

      test("chunked body: hex sizes in either case, extensions, trailers", async () => {
        const parts = [
          bytes(5, 2),
          bytes(0x1a, 3),
          bytes(0x1f0, 4),
          bytes(0xab, 5),
        ];
        const sizes = ["5", "1A;ext=1", "1F0", "ab"];
        const wire: Uint8Array[] = [
          text("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"),
        ];
        parts.forEach((part, i) => {
          wire.push(text(`${sizes[i]}\r\n`), part, text("\r\n"));
        });
        wire.push(text("0\r\nx-trailer: y\r\n\r\n"));
        const all = Buffer.concat(wire);
        await using(
          rawServer(async (socket) => {
            // In pieces cut mid-line and mid-CRLF.
            const cuts = [
              0,
              20,
              49,
              51,
              60,
              200,
              all.byteLength - 3,
              all.byteLength,
            ];
            for (let i = 0; i + 1 < cuts.length; i++) {
              socket.write(all.subarray(cuts[i], cuts[i + 1]));
              await tick(2);
            }
          }),
          async (server, client) => {
            const { response, body } = await fetchAll(client, server.url);
            assert.equal(response.status, 200);
            assertBytes(body, Buffer.concat(parts));
            assert.equal(response.headers.get("x-trailer"), null);
            // Ended cleanly, so the connection may be kept.
            assert.equal(client.idleConnections, 1);
          },
        );
      });

      test("close-delimited body ends at EOF and the connection is not kept", async () => {
        const data = bytes(100_000, 9);
        await using(
          rawServer((socket) => {
            socket.write("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n");
            socket.end(data);
          }),
          async (server, client) => {
            const { response, body } = await fetchAll(client, server.url);
            assert.equal(response.status, 200);
            assertBytes(body, data);
            assert.equal(client.idleConnections, 0);
          },
        );
      });

      test("keep-alive: three GETs over one connection; close() ends it", async () => {
        const bodies: Record<string, Uint8Array> = {
          "/a": bytes(10, 1),
          "/b": bytes(70_000, 2),
          "/c": new Uint8Array(0),
        };
        await using(
          httpServer((req, res) => {
            const body = bodies[req.url!];
            res.writeHead(200, { "content-length": String(body.byteLength) });
            res.end(body);
          }),
          async (server, client) => {
            assert.equal(client.idleConnections, 0);
            for (const path of ["/a", "/b", "/c"]) {
              const { response, body } = await fetchAll(
                client,
                server.url + path,
              );
              assert.equal(response.status, 200);
              assertBytes(body, bodies[path], path);
              assert.equal(client.idleConnections, 1, `idle after ${path}`);
            }
            assert.equal(server.connections, 1);
            const closed = new Promise<void>((resolve) =>
              server.sockets[0].once("close", () => resolve())
            );
            client.close();
            assert.equal(client.idleConnections, 0);
            await closed; // the server sees the connection end
            // A later fetch opens a new one.
            const { body } = await fetchAll(client, server.url + "/a");
            assertBytes(body, bodies["/a"]);
            assert.equal(server.connections, 2);
          },
        );
      });

      test("a cancelled body's connection is not reused", async () => {
        const big = bytes(1 << 20, 11);
        await using(
          httpServer((req, res) => {
            const body = req.url === "/big" ? big : text("small");
            res.writeHead(200, { "content-length": String(body.byteLength) });
            res.end(body);
          }),
          async (server, client) => {
            const response = await client.fetch(
              new Request(server.url + "/big"),
            );
            const reader = response.body!.getReader();
            const first = await reader.read();
            assert.equal(first.done, false);
            assertBytes(
              first.value!,
              big.subarray(0, first.value!.byteLength),
              "first chunk",
            );
            await reader.cancel();
            assert.equal(client.idleConnections, 0);

            const { response: next, body } = await fetchAll(
              client,
              server.url + "/small",
            );
            assert.equal(next.status, 200);
            assert.equal(new TextDecoder().decode(body), "small");
            assert.equal(server.connections, 2);
          },
        );
      });

      test("HEAD has no body despite Content-Length; the connection is reused", async () => {
        const methods: string[] = [];
        await using(
          rawServer((socket, request) => {
            methods.push(request.method);
            socket.write(
              request.method === "HEAD"
                ? "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n"
                : "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            );
          }),
          async (server, client) => {
            const { response, body } = await fetchAll(
              client,
              new Request(server.url, { method: "HEAD" }),
            );
            assert.equal(response.status, 200);
            assert.equal(response.headers.get("content-length"), "100");
            assert.equal(body.byteLength, 0);
            assert.equal(client.idleConnections, 1);

            const get = await fetchAll(client, server.url);
            assert.equal(new TextDecoder().decode(get.body), "hello");
            assert.deepEqual(methods, ["HEAD", "GET"]);
            assert.equal(server.connections, 1);
          },
        );
      });

      test("204 and 304 have a null body; 404 and 500 come back with theirs", async () => {
        await using(
          httpServer((req, res) => {
            const status = Number(req.url!.slice(1));
            if (status === 204 || status === 304) {
              res.writeHead(status, { etag: '"x"' });
              res.end();
            } else {
              const body = `status ${status}`;
              res.writeHead(status, { "content-length": String(body.length) });
              res.end(body);
            }
          }),
          async (server, client) => {
            for (const status of [204, 304]) {
              const response = await client.fetch(
                new Request(`${server.url}/${status}`),
              );
              assert.equal(response.status, status);
              assert.equal(response.headers.get("etag"), '"x"');
              assert.equal(response.body, null, `${status} body`);
            }
            for (const status of [404, 500]) {
              const { response, body } = await fetchAll(
                client,
                `${server.url}/${status}`,
              );
              assert.equal(response.status, status);
              assert.equal(response.ok, false);
              assert.equal(new TextDecoder().decode(body), `status ${status}`);
            }
          },
        );
      });

      test("a body that came whole with its head is bytes in memory, and the connection is free at once", async () => {
        await using(
          rawAnswer(
            Buffer.from(
              "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: \xe9t\xe9\r\n\r\nhello",
              "latin1",
            ),
          ),
          async (server, client) => {
            const response = await client.fetch(new Request(server.url));
            await tick();
            assert.equal(client.idleConnections, 1, "before the body is read");
            assert.equal(bodyKindOf(response), "in-memory");
            assert.equal(response.headers.get("x-a"), "\xe9t\xe9");
            assert.equal(await response.text(), "hello");
            const again = await fetchAll(client, server.url);
            assert.equal(new TextDecoder().decode(again.body), "hello");
            assert.equal(server.connections, 1);
          },
        );
      });

      test("a head split across reads, its body arriving later, is streamed", async () => {
        let answering: Socket | undefined;
        await using(
          rawServer((socket, _request, server) => {
            answering = socket;
            socket.write("HTTP/1.1 200 OK\r\ncontent-le");
            server.later(20, () => socket.write("ngth: 6\r\nx-b: 1"));
            server.later(40, () => socket.write("\r\n\r\nabc"));
          }),
          async (server, client) => {
            const response = await client.fetch(new Request(server.url));
            assert.equal(response.headers.get("x-b"), "1");
            assert.equal(bodyKindOf(response), undefined, "half the body came");
            // The rest is sent only now that the head is in.
            answering!.write("def");
            assert.equal(await response.text(), "abcdef");
          },
        );
      });

      test("skips interim 1xx answers", async () => {
        await using(
          rawAnswer(
            "HTTP/1.1 100 Continue\r\n\r\n" +
              "HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n" +
              "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
          ),
          async (server, client) => {
            const { response, body } = await fetchAll(client, server.url);
            assert.equal(response.status, 200);
            assert.equal(response.headers.get("link"), null);
            assert.equal(new TextDecoder().decode(body), "ok");
          },
        );
      });

      test("a stream request body streams through, chunked", async () => {
        const pieces = [bytes(1, 21), bytes(65_536, 22), bytes(40_000, 23)];
        const streamed = Buffer.concat(pieces);
        const seen: { method: string; te?: string; cl?: string }[] = [];
        let received!: () => void;
        const serverGotBytes = new Promise<void>((resolve) => {
          received = resolve;
        });
        const echoed: Uint8Array[] = [];
        await using(
          httpServer((req, res) => {
            const chunks: Uint8Array[] = [];
            req.on("data", (chunk: Uint8Array) => {
              chunks.push(chunk);
              received();
            });
            req.on("end", () => {
              seen.push({
                method: req.method!,
                te: req.headers["transfer-encoding"],
                cl: req.headers["content-length"],
              });
              const body = Buffer.concat(chunks);
              echoed.push(body);
              res.writeHead(200, { "content-type": "text/plain" });
              res.end(String(body.byteLength));
            });
          }),
          async (server, client) => {
            let i = 0;
            const stream = new ReadableStream<Uint8Array>({
              async pull(controller) {
                // The rest only once the server has the first bytes: a
                // client that gathered the body before sending would wait
                // forever.
                if (i === 1) {
                  await within(
                    serverGotBytes,
                    2000,
                    "the server got no body bytes before the stream's end",
                  );
                }
                if (i < pieces.length) controller.enqueue(pieces[i++]);
                else controller.close();
              },
            });
            const init = { method: "POST", body: stream, duplex: "half" };
            const { response, body } = await fetchAll(
              client,
              new Request(server.url, init as RequestInit),
            );
            assert.equal(response.status, 200);
            assert.equal(
              new TextDecoder().decode(body),
              String(streamed.byteLength),
            );
            assert.deepEqual(seen, [{
              method: "POST",
              te: "chunked",
              cl: undefined,
            }]);
            assertBytes(echoed[0], streamed, "streamed request body");
          },
        );
      });

      test("a string request body is sent with Content-Length", async () => {
        const seen: {
          te?: string;
          cl?: string;
          type?: string;
          body: string;
        }[] = [];
        await using(
          httpServer((req, res) => {
            const chunks: Uint8Array[] = [];
            req.on("data", (chunk: Uint8Array) => chunks.push(chunk));
            req.on("end", () => {
              seen.push({
                te: req.headers["transfer-encoding"],
                cl: req.headers["content-length"],
                type: req.headers["content-type"],
                body: Buffer.concat(chunks).toString("utf8"),
              });
              res.writeHead(204);
              res.end();
            });
          }),
          async (server, client) => {
            const message = "héllo wörld ✓";
            const request = new Request(server.url, {
              method: "POST",
              body: message,
            });
            // Bun's Request carries no Content-Type for a string; Deno's does.
            const type = request.headers.get("content-type") ?? undefined;
            const response = await client.fetch(request);
            assert.equal(response.status, 204);
            assert.deepEqual(seen, [{
              te: undefined,
              cl: String(text(message).byteLength),
              type,
              body: message,
            }]);
          },
        );
      });

      test("rejects when the connection is refused", async () => {
        const server = await rawAnswer("");
        const url = server.url;
        await server.close();
        const client = make();
        try {
          await assert.rejects(client.fetch(new Request(url)));
          assert.equal(client.idleConnections, 0);
        } finally {
          client.close();
        }
      });

      const malformed: [string, string][] = [
        ["a malformed status line", "HTTX/1.1 200 OK\r\n\r\n"],
        [
          "two different Content-Length values",
          "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!",
        ],
        [
          "a non-numeric Content-Length",
          "HTTP/1.1 200 OK\r\ncontent-length: abc\r\n\r\nabc",
        ],
        [
          "an HTTP/1.0 answer with Transfer-Encoding (RFC 9112 §6.1)",
          "HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ],
        [
          "a transfer coding other than chunked (RFC 9112 §7)",
          "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ],
        [
          "chunked applied twice (RFC 9112 §7)",
          "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ],
        [
          "a close-delimited body with a transfer coding",
          "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nhello",
        ],
        [
          "a status over 599",
          "HTTP/1.1 600 Weird\r\ncontent-length: 0\r\n\r\n",
        ],
        ["a status under 100", "HTTP/1.1 099 Odd\r\ncontent-length: 0\r\n\r\n"],
        [
          "a control character in the reason phrase",
          "HTTP/1.1 200 O\x01K\r\ncontent-length: 0\r\n\r\n",
        ],
      ];
      for (const [what, answer] of malformed) {
        test(`rejects ${what} with Http1ProtocolError`, async () => {
          await using(rawAnswer(answer), async (server, client) => {
            await assert.rejects(
              client.fetch(new Request(server.url)),
              isProtocolError,
            );
            assert.equal(client.idleConnections, 0);
          });
        });
      }

      test("rejects a head over maxHeadBytes with Http1ProtocolError", async () => {
        await using(
          rawServer((socket, request) => {
            const filler = request.path === "/big" ? 4096 : 900;
            socket.write(
              `HTTP/1.1 200 OK\r\nx-big: ${"a".repeat(filler)}\r\n` +
                "content-length: 2\r\n\r\nok",
            );
          }),
          async (server, client) => {
            // Under the limit: fine.
            const small = await fetchAll(client, server.url + "/small");
            assert.equal(small.response.headers.get("x-big")!.length, 900);
            assert.equal(new TextDecoder().decode(small.body), "ok");
            await assert.rejects(
              client.fetch(new Request(server.url + "/big")),
              isProtocolError,
            );
          },
          { maxHeadBytes: 1024 },
        );
      });

      test("a Content-Length body cut short errors", async () => {
        await using(
          rawServer((socket) => {
            socket.end(
              "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789",
            );
          }),
          async (server, client) => {
            await assert.rejects(fetchAll(client, server.url));
            assert.equal(client.idleConnections, 0);
          },
        );
      });

      test("a chunked body cut mid-chunk or before its last chunk errors", async () => {
        const answers = [
          "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n10\r\nabcde",
          "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n",
        ];
        await using(
          rawServer((socket, request) => {
            socket.end(answers[request.connection - 1]);
          }),
          async (server, client) => {
            for (let i = 0; i < answers.length; i++) {
              await assert.rejects(fetchAll(client, server.url), `answer ${i}`);
            }
            assert.equal(server.connections, 2);
            assert.equal(client.idleConnections, 0);
          },
        );
      });

      test("a bad chunk size line errors", async () => {
        await using(
          rawAnswer(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
          ),
          async (server, client) => {
            await assert.rejects(fetchAll(client, server.url));
            assert.equal(client.idleConnections, 0);
          },
        );
      });

      test("abort while waiting for the head rejects promptly", async () => {
        let answered = false;
        await using(
          rawServer((socket, _request, server) => {
            server.later(300, () => {
              answered = true;
              if (!socket.destroyed) {
                socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
              }
            });
          }),
          async (server, client) => {
            const controller = new AbortController();
            const fetched = client.fetch(
              new Request(server.url, { signal: controller.signal }),
            );
            setTimeout(() => controller.abort(), 20);
            await assert.rejects(fetched);
            // Before the origin answers, not after: what it waits for is
            // the abort, however slowly the machine runs.
            assert.equal(answered, false, "rejected only once answered");

            const aborted = new AbortController();
            aborted.abort();
            await assert.rejects(
              client.fetch(new Request(server.url, { signal: aborted.signal })),
            );
          },
        );
      });

      test("bytes an origin sends after its answer are never read as the next answer", async () => {
        // Each sends more than its answer framed, a moment later: a body
        // longer than its length, a body after a HEAD's or a 304's head.
        const poison =
          "HTTP/1.1 200 OK\r\ncontent-length: 6\r\ncache-control: max-age=3600\r\n\r\nPOISON";
        const cases: [string, string, string][] = [
          ["GET", "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", poison],
          ["HEAD", "HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\n", "POISON"],
          ["GET", "HTTP/1.1 304 Not Modified\r\n\r\n", poison],
        ];
        for (const [method, answer, late] of cases) {
          // Waited for, not timed: a machine short of CPU may run the late
          // write long after the client's next request otherwise.
          const wrote = deferred<void>();
          await using(
            rawServer((socket, request, server) => {
              if (request.connection === 1 && request.index === 1) {
                socket.write(answer);
                server.later(
                  20,
                  () => socket.write(late, () => wrote.resolve()),
                );
              } else {
                socket.write(
                  "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfresh",
                );
              }
            }),
            async (server, client) => {
              const first = await fetchAll(
                client,
                new Request(server.url, { method }),
              );
              assert.equal(
                first.response.status,
                answer.includes("304") ? 304 : 200,
              );
              await wrote.promise;
              // The client's idle read sees the bytes within a turn or two.
              await tick(20);
              const next = await fetchAll(client, server.url + "/next");
              assert.equal(
                new TextDecoder().decode(next.body),
                "fresh",
                `after ${method} ${first.response.status}`,
              );
              assert.equal(next.response.headers.has("cache-control"), false);
              assert.equal(server.connections, 2, "a new connection");
            },
          );
        }
      });

      test("a message with both Transfer-Encoding and Content-Length is its connection's last", async () => {
        await using(
          rawAnswer(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
          ),
          async (server, client) => {
            const { response, body } = await fetchAll(client, server.url);
            assert.equal(new TextDecoder().decode(body), "hello");
            assert.equal(response.headers.has("content-length"), false);
            await tick(10);
            assert.equal(client.idleConnections, 0);
          },
        );
      });

      test("frames the request body itself: the request's own Content-Length never goes out unchecked", async () => {
        const heads: string[] = [];
        await using(
          rawServer((socket, request) => {
            heads.push(request.head.toLowerCase());
            socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
          }),
          async (server, client) => {
            // A length with no body (a proxy that dropped the body) is not sent.
            await fetchAll(
              client,
              new Request(server.url, { headers: { "content-length": "20" } }),
            );
            assert.doesNotMatch(heads[0], /content-length/);
            // A length shorter than the body: the request fails, and not a
            // byte past the length is sent.
            await assert.rejects(
              client.fetch(
                new Request(server.url, {
                  method: "POST",
                  body: "hello world",
                  headers: { "content-length": "3" },
                }),
              ),
              isProtocolError,
            );
          },
        );
        const got: string[] = [];
        await using(
          httpServer((req, res) => {
            let body = "";
            req.on("data", (chunk) => body += chunk);
            req.on("end", () => {
              got.push(`${req.headers["content-length"]} ${body}`);
              res.end("ok");
            });
          }),
          async (server, client) => {
            await fetchAll(
              client,
              new Request(server.url, {
                method: "POST",
                body: "hello world",
                headers: { "content-length": "11" },
              }),
            );
            assert.deepEqual(got, ["11 hello world"]);
          },
        );
      });

      test("leaves no socket open when the origin closes idle connections", async () => {
        const fds = () => {
          try {
            return readdirSync("/proc/self/fd").length;
          } catch {
            return 0; // no /proc: nothing to count
          }
        };
        await using(
          rawServer((socket, _request, server) => {
            socket.write("HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nx");
            server.later(5, () => socket.end());
          }),
          async (server, client) => {
            await fetchAll(client, server.url);
            await tick(30);
            const before = fds();
            for (let i = 0; i < 20; i++) {
              await fetchAll(client, server.url);
              await tick(30);
            }
            client.close();
            await tick(30);
            assert.ok(
              fds() - before <= 2,
              `${fds() - before} more descriptors`,
            );
            assert.equal(server.connections, 21);
          },
        );
      });

      test("a pooled connection the server closed while idle is not a failure", async () => {
        await using(
          rawServer((socket, request, server) => {
            socket.write(
              `HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n${request.connection}`,
            );
            if (request.connection === 1) server.later(20, () => socket.end());
          }),
          async (server, client) => {
            const first = await fetchAll(client, server.url);
            assert.equal(new TextDecoder().decode(first.body), "1");
            await tick(60);
            const second = await fetchAll(client, server.url);
            assert.equal(second.response.status, 200);
            assert.equal(new TextDecoder().decode(second.body), "2");
            assert.equal(server.connections, 2);
          },
        );
      });

      test("sends an idempotent request with an empty body again when a pooled connection fails, never one with content", async () => {
        await using(
          // Each connection dies at its second request, unanswered.
          rawServer((socket, request) => {
            if (request.index === 2) socket.destroy();
            else socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
          }),
          async (server, client) => {
            // What Deno's server hands over for a DELETE without a body.
            const empty = () =>
              new Request(server.url, {
                method: "DELETE",
                body: new ReadableStream<Uint8Array>({
                  start(controller) {
                    controller.enqueue(new Uint8Array(0));
                    controller.close();
                  },
                }),
                duplex: "half",
              } as RequestInit);
            assert.equal(
              (await fetchAll(client, empty())).response.status,
              200,
            );
            const again = await fetchAll(client, empty());
            assert.equal(again.response.status, 200, "sent again");
            assert.equal(server.connections, 2);
            await assert.rejects(
              fetchAll(
                client,
                new Request(server.url, { method: "PUT", body: "abc" }),
              ),
              isProtocolError,
            );
            assert.equal(server.connections, 2, "content is never sent twice");
          },
        );
      });
    });
  }
});

describe("Http1Client: an abort while connecting", () => {
  it("rejects and closes the connection once it opens", async () => {
    const server = await rawServer((socket) => {
      socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    });
    let closed = 0;
    const client = new Http1Client({
      // A connect that takes 100 ms: the abort comes while it is under way.
      connect: async (host, port, tls) => {
        await tick(100);
        const conn = await nodeConnect(host, port, tls);
        return {
          ...conn,
          close() {
            closed++;
            conn.close();
          },
        };
      },
    });
    try {
      const controller = new AbortController();
      const fetched = client.fetch(
        new Request(server.url, { signal: controller.signal }),
      );
      setTimeout(() => controller.abort(new Error("gave up")), 20);
      await within(
        assert.rejects(fetched, /gave up/),
        1000,
        "the fetch ends",
      );
      assert.equal(closed, 1, "the connection opened late is closed");
      assert.equal(client.idleConnections, 0);
    } finally {
      client.close();
      await server.close();
    }
  });
});
