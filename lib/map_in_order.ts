/**
 * Work over a sequence done several items at a time, its results still
 * taken in the sequence's order: reading many small files one after another
 * leaves the disk and the runtime's I/O threads idle between each.
 *
 * @module
 */

/** What a piece of work came to, so that a failure waits for its turn. */
type Outcome<R> = { value: R } | { failed: true; error: unknown };

/**
 * `work(item)` for each of `items`, with up to `width` of them under way at
 * once, yielded in the order of `items`. A failure is thrown when its turn
 * comes; work already started then goes on unobserved, its failures caught.
 * Stopping early (a `break`) leaves the items not yet started alone.
 *
 * @example
 * ```ts
 * import { mapInOrder } from "./map_in_order.ts";
 * const slow = (n: number) => new Promise<number>((done) => setTimeout(() => done(n * 2), 10 - n));
 * for await (const doubled of mapInOrder([1, 2, 3], 2, slow)) {
 *   console.log(doubled); // 2, then 4, then 6
 * }
 * ```
 */
export function mapInOrder<T, R>(
  items: Iterable<T> | AsyncIterable<T>,
  width: number,
  work: (item: T) => R | Promise<R>,
): AsyncGenerator<R> {
  // Here, not in the generator, which would only run at the first `next()`.
  if (!(width >= 1)) {
    throw new TypeError(`width must be a number >= 1, got ${width}`);
  }
  return inOrder(items, width, work);
}

/** The generator behind {@link mapInOrder}. */
async function* inOrder<T, R>(
  items: Iterable<T> | AsyncIterable<T>,
  width: number,
  work: (item: T) => R | Promise<R>,
): AsyncGenerator<R> {
  const start = async (item: T): Promise<Outcome<R>> => {
    try {
      return { value: await work(item) };
    } catch (error) {
      return { failed: true, error };
    }
  };
  const underWay: Promise<Outcome<R>>[] = [];
  const next = async (): Promise<R> => {
    const outcome = await underWay.shift()!;
    if ("failed" in outcome) throw outcome.error;
    return outcome.value;
  };
  for await (const item of items) {
    underWay.push(start(item));
    if (underWay.length >= width) yield await next();
  }
  while (underWay.length > 0) yield await next();
}
