/**
 * src/cli/output.ts: where `-o` writes, the `--json` envelope, quiet messages, sizes, short digests and
 * aligned tables.
 */
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import {
  dockerTable,
  formatBytes,
  humanSize,
  info,
  type Output,
  outputOf,
  printJson,
  shortDigest,
  table,
} from "../../src/cli/output.ts";
import { BerthError } from "../../src/errors.ts";

function captured(o: { quiet?: boolean; tty?: boolean } = {}): {
  out: Output;
  stdout: () => string;
  stderr: () => string;
} {
  const stdout = Object.assign(new PassThrough(), { isTTY: o.tty ?? false });
  const stderr = new PassThrough();
  const read = (s: PassThrough) => () => String(s.read() ?? "");
  return { out: { stdout, stderr, quiet: o.quiet ?? false }, stdout: read(stdout), stderr: read(stderr) };
}

describe("outputOf", () => {
  it("gives a path back as it is, and standard output for -", () => {
    const c = captured();
    expect(outputOf("out/app.tar", c.out)).toBe("out/app.tar");
    expect(outputOf("-", c.out)).toBe(c.out.stdout);
  });

  it("refuses to write a tar to a terminal, with a hint", () => {
    const c = captured({ tty: true });
    let err: unknown;
    try {
      outputOf("-", c.out);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BerthError);
    expect(err).toMatchObject({
      code: "USAGE",
      message: "refusing to write a tar to a terminal (-o -)",
      hint: "redirect standard output to a file or a pipe, or give -o FILE",
    });
    // a path is still fine with a terminal on stdout
    expect(outputOf("app.tar", c.out)).toBe("app.tar");
  });
});

describe("printJson", () => {
  it("writes one indented object with schemaVersion first, even over a value's own", () => {
    const c = captured();
    printJson(c.out, { images: [{ name: "a" }], schemaVersion: 99 });
    const text = c.stdout();
    expect(text.endsWith("}\n")).toBe(true);
    expect(Object.keys(JSON.parse(text) as object)).toEqual(["schemaVersion", "images"]);
    expect(JSON.parse(text)).toEqual({ schemaVersion: 99, images: [{ name: "a" }] });
    expect(text).toContain('\n  "images": [');
  });
});

describe("info", () => {
  it("writes a line to stderr, and nothing when quiet", () => {
    const loud = captured();
    info(loud.out, "Pulled a");
    expect(loud.stderr()).toBe("Pulled a\n");
    expect(loud.stdout()).toBe("");
    const quiet = captured({ quiet: true });
    info(quiet.out, "Pulled a");
    expect(quiet.stderr()).toBe("");
  });
});

describe("formatBytes", () => {
  it.each([
    [0, "0 B"],
    [1023, "1023 B"],
    [1024, "1.0 KiB"],
    [1536, "1.5 KiB"],
    [100 * 1024, "100 KiB"],
    [1000 * 1024, "1000 KiB"],
    [5 * 1024 ** 3, "5.0 GiB"],
    [3 * 1024 ** 5, "3072 TiB"],
  ])("%i bytes is %s", (n, text) => {
    expect(formatBytes(n)).toBe(text);
  });
});

describe("shortDigest", () => {
  it("keeps the first 12 hex digits after the algorithm", () => {
    expect(shortDigest(`sha256:${"0123456789abcdef".repeat(4)}`)).toBe("0123456789ab");
    expect(shortDigest(`sha512:${"f".repeat(128)}`)).toBe("ffffffffffff");
  });
});

describe("table", () => {
  it("pads every column but the last to its widest cell, three spaces apart, no blanks at a line's end", () => {
    const rows = [
      ["NAME", "DIGEST", "SIZE"],
      ["a", "sha256:1", "1 B"],
      ["longer-name", "x", ""],
      ["b", "", ""],
    ];
    expect(table(rows)).toBe(
      ["NAME          DIGEST     SIZE", "a             sha256:1   1 B", "longer-name   x", "b"].join("\n"),
    );
    expect(table([])).toBe("");
  });
});

describe("humanSize and dockerTable", () => {
  it("sizes with docker's precision (3 for SIZE, 4 for VirtualSize: HumanSize), columns as Go's tabwriter", () => {
    expect([1_982_533, 5002, 999_950].map((n) => humanSize(n, 4))).toEqual(["1.983MB", "5.002kB", "1000kB"]);
    expect(humanSize(1_982_533)).toBe("1.98MB");
    expect(
      dockerTable([
        ["TAG", "IMAGE ID"],
        ["1", "x"],
      ]),
    ).toBe("TAG       IMAGE ID\n1         x");
  });
});
