/**
 * What a browser sends when it asks for a page, beside `Host`: the request
 * fields of the benches that forward requests (`forward_cost.ts`, part 4 of
 * `proxy.ts`), whose cost grows with the fields' number.
 *
 * @module
 */

/** A browser's dozen request fields for a page. */
export const BROWSER_FIELDS: Record<string, string> = {
  "user-agent":
    "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0",
  accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
  "accept-language": "en-US,en;q=0.5",
  "accept-encoding": "gzip, deflate, br, zstd",
  "upgrade-insecure-requests": "1",
  "sec-fetch-dest": "document",
  "sec-fetch-mode": "navigate",
  "sec-fetch-site": "none",
  "sec-fetch-user": "?1",
  priority: "u=0, i",
  cookie: "session=0123456789abcdef; theme=dark",
  referer: "http://127.0.0.1/",
};
