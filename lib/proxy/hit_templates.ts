/**
 * Ready answers to plain GET hits. Cloning a ready bytes response costs under
 * a microsecond and shares its bytes; building one copies the body and fills
 * every field, which costs more than the rest of a hit (8 µs for 64 KiB).
 * A template carries the fields a hit adds too (`Age`, the trace), remade
 * when they change (`Age`: once a second), so most hits set no field at all.
 * Servers send a clone at least as fast as a new bytes response, and some
 * much faster (one sends 64 KiB clones at twice the rate of either a bytes
 * response or a stream), so templates serve every body size they cover.
 *
 * A `Response` keeps its own copy of its bytes, so a template is a second
 * copy of its body while the body is stored. Bodies up to 16 KiB always get
 * one; larger ones, up to 1 MiB, only while all such copies together stay
 * within a budget (64 MiB by default).
 *
 * @module
 */
import { markBodyKind } from "../http/body_kind.ts";
import type { StoredResponse } from "./metastore.ts";

/** Bodies up to this size always get a template. */
const SMALL_MAX = 16 * 1024;
/** Bodies past this size never get one: sending them costs far more than building. */
export const TEMPLATE_MAX_BYTES = 1 << 20;

/** The fields a hit adds to the stored ones. */
export interface HitFields {
  age: string;
  /** The trace field's name and value, unless tracing is off. */
  trace?: [name: string, value: string];
}

// A property, not a WeakMap entry: set on every hit.
const PRESET_TRACE = Symbol("preset trace");
type Marked = Response & { [PRESET_TRACE]?: string };

/**
 * The trace value a hit's answer already carries; the engine sets the
 * field only if its trace came out different.
 */
export function presetTraceOf(response: Response): string | undefined {
  return (response as Marked)[PRESET_TRACE];
}

/** A ready answer to plain GETs of one stored response and its body. */
interface Template {
  /** The stored response it was made from, and what tells a new one apart. */
  stored: StoredResponse;
  response: Response;
  /** The fields added to `response`. */
  fields: HitFields;
  /** Bytes it counts against the budget (0 for small bodies). */
  counted: number;
}

/**
 * Whether a template made from `a` answers for `b`: the same stored response,
 * as a meta store that re-reads it (file:) gives it back. Its fields count
 * too: a 304 that comes in the millisecond the response was stored (an
 * origin in the same process) freshens it with the same times.
 */
function sameStored(a: StoredResponse, b: StoredResponse): boolean {
  return a === b ||
    (a.entity === b.entity && a.responseTime === b.responseTime &&
      a.requestTime === b.requestTime && a.ttl === b.ttl &&
      sameFieldPairs(a.headers, b.headers));
}

function sameFieldPairs(
  a: [string, string][],
  b: [string, string][],
): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i][0] !== b[i][0] || a[i][1] !== b[i][1]) return false;
  }
  return true;
}

/**
 * Templates keyed by the stored body's view. The storage drops that view
 * when the entry goes, and the template with it: templates never outlive
 * their body.
 */
export class HitTemplates {
  readonly #byBody = new WeakMap<Uint8Array, Template>();
  readonly #budget: number;
  /** Bytes held by templates of bodies over SMALL_MAX. */
  #largeBytes = 0;
  readonly #collected = new FinalizationRegistry<number>((size) => {
    this.#largeBytes -= size;
  });

  /** `budget`: bytes that templates of bodies over 16 KiB may hold in all. */
  constructor(budget: number) {
    if (!(budget >= 0)) {
      throw new TypeError(`templateBytes must be a number >= 0, got ${budget}`);
    }
    this.#budget = budget;
  }

  /**
   * A fresh answer for `stored` with body `bytes` and `fields` added: a
   * clone of its template, made with `build` (a bytes response) when missing
   * or out of date; `undefined` when the body may not have one.
   */
  answer(
    bytes: Uint8Array,
    stored: StoredResponse,
    fields: HitFields,
    build: () => Response,
  ): Response | undefined {
    let template = this.#byBody.get(bytes);
    if (template && !sameStored(template.stored, stored)) {
      // Out of date (the stored response was revalidated): its copy goes now,
      // whether or not a new one fits.
      this.#drop(bytes, template);
      template = undefined;
    }
    if (!template) {
      const size = bytes.byteLength;
      const counted = size > SMALL_MAX ? size : 0;
      if (
        counted > 0 &&
        (size > TEMPLATE_MAX_BYTES || this.#largeBytes + size > this.#budget)
      ) return undefined;
      template = {
        stored,
        response: withFields(build(), fields),
        fields,
        counted,
      };
      if (counted > 0) {
        // Counted until dropped, or collected with its body.
        this.#largeBytes += counted;
        this.#collected.register(template, counted, template);
      }
      this.#byBody.set(bytes, template);
    } else if (!sameFields(template.fields, fields)) {
      // A clone shares the body; only its fields change.
      template.response = withFields(
        template.response.clone(),
        fields,
        template.fields,
      );
      template.fields = fields;
    }
    const answer = template.response.clone() as Marked;
    answer[PRESET_TRACE] = template.fields.trace?.[1];
    return markBodyKind(answer, "in-memory");
  }

  #drop(bytes: Uint8Array, template: Template): void {
    this.#byBody.delete(bytes);
    if (template.counted > 0 && this.#collected.unregister(template)) {
      this.#largeBytes -= template.counted;
    }
  }
}

function sameFields(a: HitFields, b: HitFields): boolean {
  return a.age === b.age && a.trace?.[0] === b.trace?.[0] &&
    a.trace?.[1] === b.trace?.[1];
}

/** Sets `fields` on `response`, removing a trace field `before` had that they lack. */
function withFields(
  response: Response,
  fields: HitFields,
  before?: HitFields,
): Response {
  if (before?.trace && before.trace[0] !== fields.trace?.[0]) {
    response.headers.delete(before.trace[0]);
  }
  response.headers.set("age", fields.age);
  if (fields.trace) response.headers.set(fields.trace[0], fields.trace[1]);
  return response;
}
