// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are Dockerfile text, not templates
/** Variable substitution and quote removal with the Dockerfile's shell-like rules (src/dockerfile/expand.ts). */
import { describe, expect, it } from "vitest";
import { expandPairs, expandWord, expandWords, splitRaw } from "../../src/dockerfile/expand.ts";
import { failure } from "./helpers/failure.ts";

const vars = new Map([
  ["A", "alpha"],
  ["EMPTY", ""],
  ["SP", "x y"],
]);

describe("expandWord", () => {
  it("$VAR, ${VAR}, defaults and alternatives", () => {
    expect(expandWord("$A-${A}_${MISSING:-def}${EMPTY:-e}${EMPTY-set}", vars).value).toBe("alpha-alpha_defe");
    expect(expandWord("${A:+alt}|${EMPTY:+alt}|${EMPTY+alt}|${MISSING+alt}", vars).value).toBe("alt||alt|");
    expect(expandWord("${MISSING:-${A}}", vars).value).toBe("alpha");
  });

  it("an unknown variable is empty; a lone or trailing $ stays", () => {
    expect(expandWord("[$MISSING][${MISSING}]", vars).value).toBe("[][]");
    expect(expandWord("cost: 5$ and $-", vars).value).toBe("cost: 5$ and $-");
  });

  it("a $ followed by a digit takes one digit, ${} takes them all", () => {
    const v = new Map([
      ["1", "one"],
      ["12", "twelve"],
    ]);
    expect(expandWord("$12|${12}", v).value).toBe("one2|twelve");
  });

  it("quotes and escapes", () => {
    expect(expandWord("'$A' \"$A\" \\$A", vars).value).toBe("$A alpha $A");
    expect(expandWord('"a\\"b\\$A\\n"', vars).value).toBe('a"b$A\\n');
    expect(expandWord("trailing\\", vars).value).toBe("trailing\\");
  });

  it("another escape character (# escape=`) makes the backslash literal", () => {
    expect(expandWord("C:\\dir\\$A `$A", vars, "`").value).toBe("C:\\dir\\alpha $A");
  });

  it("${VAR:?message} passes a set value and refuses an unset or empty one", () => {
    expect(expandWord("${A:?needed}", vars).value).toBe("alpha");
    expect(expandWord("${EMPTY?needed}", vars).value).toBe("");
    expect(failure(() => expandWord("${EMPTY:?must be given}", vars))).toEqual({
      code: "DOCKERFILE_SYNTAX",
      message: "EMPTY: must be given",
    });
    expect(failure(() => expandWord("${MISSING?}", vars)).message).toBe("MISSING: is not set");
  });

  it("refuses bad substitutions, naming the text", () => {
    expect(failure(() => expandWord("${-x}", vars))).toEqual({
      code: "DOCKERFILE_SYNTAX",
      message: "bad substitution in ${-x}",
    });
    expect(failure(() => expandWord("${A/x/y}", vars)).message).toBe(
      "unsupported modifier in ${A…} in ${A/x/y}",
    );
    expect(failure(() => expandWord("${A:-x", vars)).message).toBe("missing } in ${A:-x");
    expect(failure(() => expandWord("'open", vars)).message).toBe(
      "unexpected end of text: unmatched ' in 'open",
    );
    expect(failure(() => expandWord('"open', vars)).message).toBe(
      'unexpected end of text: unmatched " in "open',
    );
  });

  it("reports the names it used, also those that were unset", () => {
    expect([...expandWord("${A}${B:-x}'$C'", vars).used].sort()).toEqual(["A", "B"]);
  });
});

describe("expandWords", () => {
  it("splits on unquoted whitespace, also inside an unquoted expansion", () => {
    expect(expandWords('a "b c" $SP', vars).value).toEqual(["a", "b c", "x", "y"]);
    expect(expandWords('  "$SP"  \t x', vars).value).toEqual(["x y", "x"]);
  });

  it("keeps an empty quoted word and drops an empty expansion", () => {
    expect(expandWords("'' $EMPTY b", vars).value).toEqual(["", "b"]);
    expect(expandWords("", vars).value).toEqual([]);
  });
});

describe("splitRaw", () => {
  it("splits without expanding or unquoting", () => {
    expect(splitRaw(`A="x y" B='$z w' C=a\\ b`)).toEqual([`A="x y"`, `B='$z w'`, "C=a\\ b"]);
  });

  it("refuses an unmatched quote", () => {
    expect(failure(() => splitRaw("A='x"))).toEqual({
      code: "DOCKERFILE_SYNTAX",
      message: "unmatched ' in A='x",
    });
  });
});

describe("expandPairs", () => {
  it("KEY=VALUE pairs and the legacy form", () => {
    expect(expandPairs('X="hello world" Y=$A Z=\\"q\\"', vars).value).toEqual([
      ["X", "hello world"],
      ["Y", "alpha"],
      ["Z", '"q"'],
    ]);
    expect(expandPairs("KEY some value $A", vars).value).toEqual([["KEY", "some value alpha"]]);
  });

  it("expands keys too and collects every name used", () => {
    const r = expandPairs("${A}_KEY=$SP OTHER=${B:-b}", vars);
    expect(r.value).toEqual([
      ["alpha_KEY", "x y"],
      ["OTHER", "b"],
    ]);
    expect([...r.used].sort()).toEqual(["A", "B", "SP"]);
  });

  it("refuses a word that is not KEY=VALUE, and a legacy key without a value", () => {
    expect(failure(() => expandPairs("A=1 B", vars))).toEqual({
      code: "DOCKERFILE_SYNTAX",
      message: "B must be KEY=VALUE",
    });
    expect(failure(() => expandPairs("A=1 =2", vars)).message).toBe("=2 must be KEY=VALUE");
    expect(failure(() => expandPairs("  LONELY ", vars)).message).toBe("LONELY needs a value");
  });
});
