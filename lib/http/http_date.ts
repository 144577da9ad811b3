/**
 * HTTP dates (RFC 9110 §5.6.7): parse the three formats a recipient must
 * accept, format the one a sender must generate.
 *
 * Parsing never throws: a date that cannot be read is `undefined`, because
 * RFC 9110 tells recipients to ignore conditional headers with invalid dates
 * rather than fail the request.
 *
 * @module
 */
import { trimOws } from "./field_tokens.ts";

const MONTHS = [
  "jan",
  "feb",
  "mar",
  "apr",
  "may",
  "jun",
  "jul",
  "aug",
  "sep",
  "oct",
  "nov",
  "dec",
];

// IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
const IMF_FIXDATE =
  /^[a-z]{3}, (\d{2}) ([a-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) gmt$/;
// obsolete RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
const RFC850_DATE =
  /^[a-z]{6,9}, (\d{2})-([a-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) gmt$/;
// obsolete asctime: Sun Nov  6 08:49:37 1994
const ASCTIME_DATE =
  /^[a-z]{3} ([a-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

// The longest valid form ("Wednesday, 09-Nov-94 08:49:37 GMT") is 33 chars;
// anything much longer is junk, and refusing it early bounds the work.
const MAX_DATE_LENGTH = 64;

/**
 * Parses an HTTP date in IMF-fixdate, RFC 850 or asctime form into
 * milliseconds since the epoch, or `undefined` when it is absent or invalid.
 *
 * Two-digit RFC 850 years more than 50 years in the future are read as the
 * past century (RFC 9110 §5.6.7).
 *
 * @example
 * ```ts
 * import { parseHttpDate } from "./http_date.ts";
 * parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"); // 784111777000
 * parseHttpDate("yesterday"); // undefined
 * ```
 */
export function parseHttpDate(
  value: string | null | undefined,
): number | undefined {
  if (!value || value.length > MAX_DATE_LENGTH) return undefined;
  const text = trimOws(value).toLowerCase();
  let day: string, month: string, year: string;
  let hour: string, minute: string, second: string;
  let m = IMF_FIXDATE.exec(text);
  if (m) {
    [, day, month, year, hour, minute, second] = m;
  } else if ((m = RFC850_DATE.exec(text))) {
    [, day, month, year, hour, minute, second] = m;
    const now = new Date().getUTCFullYear();
    let full = Math.floor(now / 100) * 100 + Number(year);
    if (full > now + 50) full -= 100;
    year = String(full);
  } else if ((m = ASCTIME_DATE.exec(text))) {
    [, month, day, hour, minute, second, year] = m;
  } else {
    return undefined;
  }
  const monthIndex = MONTHS.indexOf(month);
  const d = Number(day);
  const h = Number(hour), min = Number(minute), s = Number(second);
  if (monthIndex < 0 || d < 1 || d > 31 || h > 23 || min > 59 || s > 60) {
    return undefined;
  }
  // Date.UTC reads years 0-99 as 1900-1999; setUTCFullYear does not.
  const moment = new Date(0);
  moment.setUTCFullYear(Number(year), monthIndex, d);
  moment.setUTCHours(h, min, Math.min(s, 59), 0);
  const ms = moment.getTime();
  // Date.UTC rolls 31 Feb over into March; a date that rolled is invalid.
  if (new Date(ms).getUTCDate() !== d) return undefined;
  return ms;
}

/**
 * Formats milliseconds since the epoch (or a `Date`) as an IMF-fixdate,
 * dropping the sub-second part.
 *
 * @throws {RangeError} when the time is not a finite, representable date.
 *
 * @example
 * ```ts
 * import { formatHttpDate } from "./http_date.ts";
 * formatHttpDate(784111777000); // "Sun, 06 Nov 1994 08:49:37 GMT"
 * ```
 */
export function formatHttpDate(time: number | Date): string {
  const ms = typeof time === "number" ? time : time.getTime();
  const date = new Date(Math.floor(ms / 1000) * 1000);
  const year = date.getUTCFullYear();
  // An HTTP-date has a four-digit year (RFC 9110 §5.6.7).
  if (Number.isNaN(date.getTime()) || year < 0 || year > 9999) {
    throw new RangeError(`cannot format ${String(time)} as an HTTP date`);
  }
  return date.toUTCString();
}
