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

/** Whether the server on `port` answers `probe` with a line starting `expect`. */
function answers(
  port: number,
  probe: string,
  expect: string,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: "127.0.0.1" });
    let text = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("connect", () => socket.write(probe));
    socket.on("data", (data) => {
      text += data.toString();
      if (text.includes("\n")) done(text.startsWith(expect));
    });
    socket.once("error", () => done(false));
    socket.once("close", () => done(false));
  });
}

/**
 * Resolves once `child` serves its protocol on `port`; rejects, naming the
 * server, if it exits first (a port taken in between) or after 100 tries
 * (5 s, or up to 100 s if something on the port accepts and never answers).
 */
async function waitForService(
  name: string,
  child: ChildProcess,
  port: number,
  probe: [string, string],
): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${name} exited (${
          child.exitCode ?? child.signalCode
        }) on port ${port}`,
      );
    }
    // Another process on the port would answer too: the child must live on.
    if (await answers(port, ...probe) && child.exitCode === null) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} does not answer on 127.0.0.1:${port}`);
}

/** `name` on the PATH, as the CI script finds it. */
function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return undefined;
}

const SERVERS = [
  {
    name: "redis",
    binary: "redis-server",
    probe: ["PING\r\n", "+PONG"] as [string, string],
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
    binary: "memcached",
    probe: ["version\r\n", "VERSION"] as [string, string],
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
  const stop = async () => {
    await Promise.all(children.map((child) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      })
    ));
  };
  try {
    for (const server of SERVERS) {
      const binary = onPath(server.binary);
      if (!binary) {
        console.log(
          `(${server.name}: ${server.binary} not installed, not started)`,
        );
        continue;
      }
      const port = await freePort();
      const child = spawn(binary, server.args(port), { stdio: "ignore" });
      children.push(child);
      await waitForService(server.name, child, port, server.probe);
      Object.assign(env, server.env(port));
    }
  } catch (error) {
    // The ones already started stop too.
    await stop();
    throw error;
  }
  return { env, stop };
}
