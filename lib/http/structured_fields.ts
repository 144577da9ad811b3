/**
 * Dictionary Structured Fields (RFC 9651 §4.2.2), as targeted cache-control
 * fields (RFC 9213) are written: a strict parser that fails on anything the
 * grammar does not allow, since a field that fails to parse is to be ignored
 * as a whole, never read in part.
 *
 * @module
 */

/** A bare item (RFC 9651 §3.3): its type, and its value. */
export type BareItem =
  | { type: "integer" | "decimal" | "date"; value: number }
  /** `binary`: the base64 text between the colons, not decoded. */
  | { type: "string" | "token" | "binary" | "display"; value: string }
  | { type: "boolean"; value: boolean };

/** An item or inner list's parameters, by key. */
export type Parameters = Map<string, BareItem>;

/** A dictionary member: an item, or an inner list of items. */
export type Member =
  | { item: BareItem; params: Parameters }
  | { items: { item: BareItem; params: Parameters }[]; params: Parameters };

/** Thrown inside the parser; {@link parseDictionary} turns it into `undefined`. */
class ParseError extends Error {}

const KEY_START = /[a-z*]/;
const KEY_CHAR = /[a-z0-9_\-.*]/;
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z:/]/;
/** Base64 (RFC 4648 §4), its padding optional as RFC 9651 §4.2.7 allows. */
const BASE64 =
  /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

class Input {
  i = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.i >= this.text.length;
  }

  peek(): string {
    return this.text[this.i] ?? "";
  }

  take(): string {
    if (this.done) throw new ParseError("unexpected end");
    return this.text[this.i++];
  }

  expect(char: string): void {
    if (this.take() !== char) throw new ParseError(`expected ${char}`);
  }

  skip(chars: string): void {
    while (!this.done && chars.includes(this.text[this.i])) this.i++;
  }
}

/**
 * The members of a Dictionary field value, in order (a repeated key keeps
 * its last value, as RFC 9651 says); `undefined` when the value is not a
 * valid Dictionary.
 *
 * @example
 * ```ts
 * import { parseDictionary } from "./structured_fields.ts";
 * parseDictionary("max-age=60, no-store")?.get("max-age"); // { item: { type: "integer", value: 60 }, params: Map {} }
 * parseDictionary("max-age=60, &&&"); // undefined
 * ```
 */
export function parseDictionary(
  value: string,
): Map<string, Member> | undefined {
  const input = new Input(value);
  try {
    input.skip(" ");
    const members = new Map<string, Member>();
    while (!input.done) {
      const key = parseKey(input);
      if (input.peek() === "=") {
        input.take();
        members.set(key, parseItemOrInnerList(input));
      } else {
        members.set(key, {
          item: { type: "boolean", value: true },
          params: parseParameters(input),
        });
      }
      input.skip(" \t");
      if (input.done) break;
      input.expect(",");
      input.skip(" \t");
      if (input.done) throw new ParseError("trailing comma");
    }
    return members;
  } catch (error) {
    if (error instanceof ParseError) return undefined;
    throw error;
  }
}

function parseItemOrInnerList(input: Input): Member {
  if (input.peek() !== "(") {
    return { item: parseBareItem(input), params: parseParameters(input) };
  }
  input.take();
  const items: { item: BareItem; params: Parameters }[] = [];
  for (;;) {
    input.skip(" ");
    if (input.peek() === ")") {
      input.take();
      return { items, params: parseParameters(input) };
    }
    items.push({ item: parseBareItem(input), params: parseParameters(input) });
    const next = input.peek();
    if (next !== " " && next !== ")") throw new ParseError("bad inner list");
  }
}

function parseParameters(input: Input): Parameters {
  const params: Parameters = new Map();
  while (input.peek() === ";") {
    input.take();
    input.skip(" ");
    const key = parseKey(input);
    let value: BareItem = { type: "boolean", value: true };
    if (input.peek() === "=") {
      input.take();
      value = parseBareItem(input);
    }
    params.set(key, value);
  }
  return params;
}

function parseKey(input: Input): string {
  if (!KEY_START.test(input.peek())) throw new ParseError("bad key");
  let key = input.take();
  while (KEY_CHAR.test(input.peek())) key += input.take();
  return key;
}

function parseBareItem(input: Input): BareItem {
  const first = input.peek();
  if (first === "-" || (first >= "0" && first <= "9")) {
    return parseNumber(input);
  }
  if (first === '"') return { type: "string", value: parseString(input) };
  if (first === "*" || /[A-Za-z]/.test(first)) {
    let token = input.take();
    while (TOKEN_CHAR.test(input.peek())) token += input.take();
    return { type: "token", value: token };
  }
  if (first === ":") {
    input.take();
    let text = "";
    while (input.peek() !== ":") text += input.take();
    input.take();
    if (!BASE64.test(text)) throw new ParseError("bad byte sequence");
    return { type: "binary", value: text };
  }
  if (first === "?") {
    input.take();
    const bit = input.take();
    if (bit !== "0" && bit !== "1") throw new ParseError("bad boolean");
    return { type: "boolean", value: bit === "1" };
  }
  if (first === "@") {
    input.take();
    const date = parseNumber(input);
    if (date.type !== "integer") throw new ParseError("bad date");
    return { type: "date", value: date.value };
  }
  if (first === "%") {
    input.take();
    return { type: "display", value: parseDisplayString(input) };
  }
  throw new ParseError("bad item");
}

/** RFC 9651 §4.2.4: at most 15 integer digits, or 12 and 3 decimal ones. */
function parseNumber(
  input: Input,
): { type: "integer" | "decimal"; value: number } {
  let text = "";
  if (input.peek() === "-") text = input.take();
  if (!(input.peek() >= "0" && input.peek() <= "9")) {
    throw new ParseError("bad number");
  }
  let dot = -1;
  while (!input.done) {
    const char = input.peek();
    if (char >= "0" && char <= "9") text += input.take();
    else if (char === "." && dot < 0) {
      if (text.replace("-", "").length > 12) throw new ParseError("too long");
      dot = text.length;
      text += input.take();
    } else break;
    if (text.replace("-", "").length > (dot < 0 ? 15 : 16)) {
      throw new ParseError("number too long");
    }
  }
  if (dot < 0) return { type: "integer", value: Number(text) };
  const fraction = text.length - dot - 1;
  if (fraction < 1 || fraction > 3) throw new ParseError("bad decimal");
  return { type: "decimal", value: Number(text) };
}

function parseString(input: Input): string {
  input.take();
  let out = "";
  for (;;) {
    const char = input.take();
    if (char === '"') return out;
    if (char === "\\") {
      const escaped = input.take();
      if (escaped !== '"' && escaped !== "\\") throw new ParseError("escape");
      out += escaped;
    } else if (char < " " || char > "~") throw new ParseError("bad char");
    else out += char;
  }
}

function parseDisplayString(input: Input): string {
  input.expect('"');
  const bytes: number[] = [];
  for (;;) {
    const char = input.take();
    if (char === '"') break;
    if (char < " " || char > "~") throw new ParseError("bad char");
    if (char === "%") {
      const hex = input.take() + input.take();
      if (!/^[0-9a-f]{2}$/.test(hex)) throw new ParseError("bad escape");
      bytes.push(parseInt(hex, 16));
    } else bytes.push(char.charCodeAt(0));
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(
      new Uint8Array(bytes),
    );
  } catch {
    throw new ParseError("bad UTF-8");
  }
}
