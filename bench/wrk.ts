/**
 * wrk, Debian's HTTP load generator, run once against a URL: the benches'
 * one way to drive a server and read what it managed.
 *
 * @module
 */

/** What one wrk run reports. */
export interface WrkResult {
  /** Requests per second. */
  rps: number;
  /** Requests completed in the run. */
  requests: number;
  /** Non-2xx/3xx answers and socket errors, as wrk words them; empty if none. */
  errors: string;
}

/**
 * Runs `wrk -t1 -c<connections> -d<seconds>s` against `url`, pinned to
 * `cpu` when given, sending `fields` with every request.
 *
 * @example
 * ```ts
 * import { wrk } from "./wrk.ts";
 * // const { rps } = await wrk("http://127.0.0.1:8080/", 3, 50, "1");
 * ```
 */
export async function wrk(
  url: string,
  seconds: number,
  connections: number,
  cpu: string | undefined,
  fields: Record<string, string> = {},
): Promise<WrkResult> {
  const argv = [
    "wrk",
    "-t1",
    `-c${connections}`,
    `-d${seconds}s`,
    ...Object.entries(fields).flatMap(([name, value]) => [
      "-H",
      `${name}: ${value}`,
    ]),
    url,
  ];
  const full = cpu ? ["taskset", "-c", cpu, ...argv] : argv;
  const output = await new Deno.Command(full[0], {
    args: full.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  if (!output.success || !rps) {
    throw new Error(
      `wrk failed: ${text}${new TextDecoder().decode(output.stderr)}`,
    );
  }
  const problems = [
    /Non-2xx or 3xx responses: (\d+)/.exec(text)?.[0],
    /Socket errors: .*/.exec(text)?.[0],
  ].filter(Boolean).join("; ");
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? NaN);
  return { rps: Number(rps[1]), requests, errors: problems };
}
