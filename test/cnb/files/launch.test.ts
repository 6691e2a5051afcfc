/** files/launch.ts: launch.toml by Buildpack API, with errors naming the buildpack, file and key. */
import { describe, expect, it } from "vitest";
import { parseLaunch, validateProcessType } from "../../../src/cnb/files/launch.ts";

const FILE = "/layers/a/launch.toml";
const parse = (text: string, api = "0.12") => parseLaunch(text, FILE, 'buildpack "a"', api, "a");

describe("parseLaunch", () => {
  it("reads labels, processes and slices (Buildpack API 0.9+: array commands, always direct)", () => {
    const l = parse(`
[[labels]]
key = "k"
value = "v"
[[labels]]
key = "empty"

[[processes]]
type = "web"
command = ["node", "server.js"]
args = ["--port", "8080"]
default = true
working-dir = "/workspace/web"
exec-env = ["production"]

[[processes]]
type = "worker.1"
command = ["run"]

[[slices]]
paths = ["public/*"]
`);
    expect(l.labels).toEqual([
      { key: "k", value: "v" },
      { key: "empty", value: "" },
    ]);
    expect(l.processes).toEqual([
      {
        type: "web",
        command: ["node", "server.js"],
        args: ["--port", "8080"],
        direct: true,
        default: true,
        workingDir: "/workspace/web",
        execEnv: ["production"],
        buildpackId: "a",
      },
      { type: "worker.1", command: ["run"], args: [], direct: true, default: false, buildpackId: "a" },
    ]);
    expect(l.slices).toEqual([{ paths: ["public/*"] }]);
  });

  it("below Buildpack API 0.9 a command is a string and direct defaults to false", () => {
    const l = parse('[[processes]]\ntype = "web"\ncommand = "npm start"\n', "0.8");
    expect(l.processes[0]).toMatchObject({ command: ["npm start"], direct: false });
    expect(
      parse('[[processes]]\ntype = "w"\ncommand = "x"\ndirect = true\n', "0.8").processes[0]?.direct,
    ).toBe(true);
    expect(() => parse('[[processes]]\ntype = "web"\n', "0.8")).toThrow(
      /: processes\[0\]\.command is required$/,
    );
  });

  it("refuses what API 0.9+ dropped: direct, a string command, an empty command", () => {
    expect(() => parse('[[processes]]\ntype = "w"\ncommand = ["x"]\ndirect = false\n')).toThrow(
      'buildpack "a": /layers/a/launch.toml: processes[0].direct is not supported by Buildpack API 0.12',
    );
    expect(() => parse('[[processes]]\ntype = "w"\ncommand = "x"\n')).toThrow(
      /processes\[0\]\.command must be an array of strings in Buildpack API 0\.12, not a string$/,
    );
    expect(() => parse('[[processes]]\ntype = "w"\ncommand = []\n')).toThrow(
      /processes\[0\]\.command must name the executable$/,
    );
  });

  it("refuses a bad or twice-declared process type, two defaults and a twice-declared label", () => {
    const err = (() => {
      try {
        parse('[[processes]]\ntype = "a b"\ncommand = ["x"]\n');
      } catch (e) {
        return e as { code: string; message: string };
      }
    })();
    expect(err?.code).toBe("CNB_BUILD_INVALID");
    expect(err?.message).toBe(
      'buildpack "a": /layers/a/launch.toml: processes[0].type "a b" may only contain letters, numbers and the characters . _ -',
    );
    expect(() =>
      parse('[[processes]]\ntype = "w"\ncommand = ["x"]\n[[processes]]\ntype = "w"\ncommand = ["y"]\n'),
    ).toThrow(/processes\[1\]\.type "w" is declared twice by this buildpack$/);
    expect(() =>
      parse(
        '[[processes]]\ntype = "a"\ncommand = ["x"]\ndefault = true\n[[processes]]\ntype = "b"\ncommand = ["y"]\ndefault = true\n',
      ),
    ).toThrow(/processes\[1\]\.default makes "b" a second default process \("a" is one already\)$/);
    expect(() => parse('[[labels]]\nkey = "k"\n[[labels]]\nkey = "k"\n')).toThrow(
      /labels\[1\]\.key "k" is declared twice$/,
    );
  });

  it("refuses a slice path that climbs out of the app directory", () => {
    expect(() => parse('[[slices]]\npaths = ["ok", "a/../../etc"]\n')).toThrow(
      'buildpack "a": /layers/a/launch.toml: slices[0].paths "a/../../etc" may not leave the app directory',
    );
    expect(parse('[[slices]]\npaths = ["a..b/c"]\n').slices).toEqual([{ paths: ["a..b/c"] }]);
  });
});

describe("validateProcessType", () => {
  it("passes letters, digits and . _ -, and hands anything else to fail", () => {
    const fail = (m: string) => new Error(m);
    expect(() => validateProcessType("Web_1.x-y", fail)).not.toThrow();
    for (const bad of ["", "a/b", "a b", "ü"])
      expect(() => validateProcessType(bad, fail)).toThrow(/may only contain/);
  });
});
