/** Malicious layers (the layer engine's attacks) in images given to `berth run` and `berth bundle`. */
import { lstatSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { berth } from "../helpers/cli.ts";
import { run } from "../helpers/exec.ts";
import { tempDir } from "../helpers/temp.ts";
import { tarStreamOf } from "../layer/helpers.ts";
import { busyboxImage } from "./helpers.ts";

let dir: string;
let outside: string;
let sentinel: string;

beforeAll(async () => {
  dir = await tempDir("berth-rtsec-");
  outside = join(dir, "outside");
  sentinel = join(outside, "sentinel");
  await run("mkdir", [outside]);
  writeFileSync(sentinel, "precious\n");
});

/** busybox image + one raw layer (added verbatim with umoci raw add-layer). */
async function evilImage(tag: string, entries: Parameters<typeof tarStreamOf>[0]): Promise<string> {
  const layout = join(dir, `layout-${tag}`);
  await busyboxImage(layout, tag, { cmd: ["true"] });
  const tar = join(dir, `${tag}.tar`);
  await writeFile(tar, await tarStreamOf(entries));
  await run("umoci", ["raw", "add-layer", "--image", `${layout}:${tag}`, tar]);
  return `oci:${layout}:${tag}`;
}

function assertUntouched(): void {
  expect(readdirSync(outside)).toEqual(["sentinel"]);
  const st = lstatSync(sentinel);
  expect(st.isFile()).toBe(true);
  expect(st.nlink).toBe(1);
  expect(readFileSync(sentinel, "utf8")).toBe("precious\n");
}

const attacks = () => [
  {
    name: "parent traversal",
    entries: () => [{ name: `../../../../../../../..${sentinel}`, content: "pwned" }],
  },
  {
    name: "symlink then write through it",
    entries: () => [
      { name: "link", type: "symlink" as const, linkname: outside },
      { name: "link/sentinel", content: "pwned" },
    ],
  },
  {
    name: "hardlink to a host file",
    entries: () => [{ name: "hl", type: "link" as const, linkname: `../../../../../../..${sentinel}` }],
  },
  {
    name: "escaping whiteout",
    entries: () => [{ name: `../../../../../../..${outside}/.wh.sentinel`, content: "" }],
  },
];

describe.each(["run", "bundle"])("berth %s", (cmd) => {
  it.each(attacks().map((a) => [a.name, a]))("refuses %s and touches nothing outside", async (_n, a) => {
    const tag = `${cmd}-${a.name.replace(/\W+/g, "-")}`;
    const img = await evilImage(tag, a.entries());
    const home = join(dir, `home-${tag}`);
    const bundle = join(dir, `bundle-${tag}`);
    const r = await berth(cmd === "run" ? ["run", img] : ["bundle", img, bundle], { home });
    expect(r.code).toBe(cmd === "run" ? 125 : 4); // run: docker's 125 for its own failures
    expect(r.stderr).toMatch(/berth: applying layer 1 .*layer entry ".*" /);
    expect(r.stderr).toMatch(/climbs out of the root|goes through symlink|points out of the root|outside/);
    assertUntouched();
    if (cmd === "run") {
      // No snapshot was made of the bad layer; its temp dir is gone; no container is left.
      expect(readdirSync(join(home, "snapshots", "overlay"))).toHaveLength(1);
      expect(readdirSync(join(home, "snapshots", "tmp"))).toEqual([]);
    } else {
      expect(readdirSync(bundle)).toEqual([]);
    }
  });
});
