import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseDictionary } from "../../lib/http/structured_fields.ts";

const items = (value: string) => {
  const members = parseDictionary(value);
  return members &&
    Object.fromEntries(
      [...members].map((
        [key, member],
      ) => [
        key,
        "item" in member ? member.item : member.items.map((i) => i.item),
      ]),
    );
};

describe("parseDictionary (RFC 9651)", () => {
  it("reads every kind of bare item, parameters and inner lists", () => {
    assert.deepEqual(
      items(
        'a=1, b=-2.5, c="q\\"s", d=tok/x:y, e=:aGk=:, f=?0, g, h=@1659578233, i=%"f%c3%bc"',
      ),
      {
        a: { type: "integer", value: 1 },
        b: { type: "decimal", value: -2.5 },
        c: { type: "string", value: 'q"s' },
        d: { type: "token", value: "tok/x:y" },
        e: { type: "binary", value: "aGk=" },
        f: { type: "boolean", value: false },
        g: { type: "boolean", value: true },
        h: { type: "date", value: 1659578233 },
        i: { type: "display", value: "fü" },
      },
    );
    const members = parseDictionary('x=(1 "two");p=3, y;q=?0')!;
    const x = members.get("x")!;
    assert.ok("items" in x);
    assert.deepEqual(x.items.map((i) => i.item.value), [1, "two"]);
    assert.deepEqual(x.params.get("p"), { type: "integer", value: 3 });
    assert.deepEqual(members.get("y")!.params.get("q"), {
      type: "boolean",
      value: false,
    });
    assert.deepEqual(items("a=1, a=2"), { a: { type: "integer", value: 2 } });
    assert.deepEqual(items("  a=1 ,\tb=2"), {
      a: { type: "integer", value: 1 },
      b: { type: "integer", value: 2 },
    });
    assert.deepEqual(items(""), {});
    assert.deepEqual(items("a=:aGk:"), { a: { type: "binary", value: "aGk" } });
    assert.deepEqual(items('a=%"%ef%bb%bfx"'), {
      a: { type: "display", value: "\ufeffx" },
    });
  });

  it("fails on anything the grammar does not allow", () => {
    for (
      const bad of [
        "max-age=10000, &&&&&",
        "max-age =60",
        "max-age= 60",
        "Max-Age=60",
        "a=1,",
        "a=1,,b=2",
        "a=1 b=2",
        'a="unterminated',
        'a="bad \\n escape"',
        "a=1.",
        "a=1.2345",
        "a=1234567890123456",
        "a=1234567890123.5",
        "a=?2",
        "a=:not base64!:",
        "a=:a:",
        "a=:aGk=aGk=:",
        "a=(1 2",
        "a=@1.5",
        'a=%"F%C3"',
        'a=%"%ff"',
        "a=é",
        "\ta=1",
      ]
    ) assert.equal(parseDictionary(bad), undefined, bad);
  });
});
