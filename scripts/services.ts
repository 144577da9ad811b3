/**
 * Starts the external servers the test suites talk to (Redis, Memcached) on
 * free loopback ports, and stops them afterwards. Suites find them through
 * `CISTERN_REDIS_URL` and `CISTERN_MEMCACHED` in the environment; a server
 * whose binary is missing is reported and left out.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createConnection, createServer } from "node:net";
import { existsSync } from "node:fs";

/** Running services and the environment that points the suites at them. */
export interface Services {
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Asks the OS for a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on the port (or rejects after ~5 s). */
async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: "127.0.0.1" });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

const SERVERS = [
  {
    name: "redis",
    binary: "/usr/bin/redis-server",
    args: (port: number) => [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
    ],
    env: (port: number) => ({ CISTERN_REDIS_URL: `redis://127.0.0.1:${port}` }),
  },
  {
    name: "memcached",
    binary: "/usr/bin/memcached",
    args: (port: number) => [
      "-l",
      "127.0.0.1",
      "-p",
      String(port),
      "-U",
      "0",
      "-u",
      "root",
    ],
    env: (port: number) => ({ CISTERN_MEMCACHED: `127.0.0.1:${port}` }),
  },
];

/** Starts every server whose binary is installed. */
export async function startServices(): Promise<Services> {
  const children: ChildProcess[] = [];
  const env: Record<string, string> = {};
  for (const server of SERVERS) {
    if (!existsSync(server.binary)) {
      console.log(
        `(${server.name}: ${server.binary} not installed, not started)`,
      );
      continue;
    }
    const port = await freePort();
    const child = spawn(server.binary, server.args(port), { stdio: "ignore" });
    children.push(child);
    await waitForPort(port);
    Object.assign(env, server.env(port));
  }
  return {
    env,
    async stop() {
      await Promise.all(children.map((child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill("SIGTERM");
        })
      ));
    },
  };
}
