/**
 * src/cli/commands/history.ts: `berth history` against `docker history` on the same image (a Dockerfile build
 * by berth, saved and `docker load`ed into a private engine), row by row; the flags; the errors.
 */
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  formatHistory,
  historyOf,
  humanAndImage,
  truncateCreatedBy,
} from "../../../src/cli/commands/history.ts";
import { humanDuration, humanSize } from "../../../src/cli/output.ts";
import { BerthError } from "../../../src/errors.ts";
import type { Image } from "../../../src/oci/image.ts";
import { localBase } from "../../dockerfile/helpers/local.ts";
import { berth } from "../../helpers/cli.ts";
import { runCommand } from "../../helpers/cli-commands.ts";
import { type Dockerd, dockerdAvailable, startDockerd } from "../../helpers/dockerd.ts";
import { run } from "../../helpers/exec.ts";
import { tempDir } from "../../helpers/temp.ts";
import { startRegistry } from "../../registry/helpers/registry.ts";

describe("docker's units and truncation", () => {
  it("sizes as go-units HumanSizeWithPrecision(n, 3), durations as HumanDuration", () => {
    expect([0, 7, 999, 1000, 1234, 999_500, 12_345_678, 1e12].map((n) => humanSize(n))).toEqual([
      "0B",
      "7B",
      "999B",
      "1kB",
      "1.23kB",
      "1e+03kB",
      "12.3MB",
      "1TB",
    ]);
    expect(
      [0, 1, 59, 60, 119, 3599, 5400, 3 * 86400, 20 * 86400, 90 * 86400, 56.9 * 365 * 86400].map(
        humanDuration,
      ),
    ).toEqual([
      "Less than a second",
      "1 second",
      "59 seconds",
      "About a minute",
      "About a minute",
      "59 minutes",
      "2 hours",
      "3 days",
      "2 weeks",
      "3 months",
      "56 years",
    ]);
    expect(truncateCreatedBy("a\tb")).toBe("a b");
    expect(truncateCreatedBy("x".repeat(45))).toBe("x".repeat(45));
    expect(truncateCreatedBy("x".repeat(46))).toBe(`${"x".repeat(44)}…`);
    // wide characters take two columns: 22 of them fill 44
    expect(truncateCreatedBy("日".repeat(23))).toBe(`${"日".repeat(22)}…`);
    expect(truncateCreatedBy(`a${"日".repeat(22)}`)).toBe(`a${"日".repeat(22)}`);
    expect(truncateCreatedBy(`a${"日".repeat(23)}`)).toBe(`a${"日".repeat(21)}…`);
  });
});

describe("-H/--human and the image", () => {
  it("takes docker's boolean forms; in -H IMAGE the word after -H is the image", () => {
    expect(humanAndImage(true, "app")).toEqual({ human: true, image: "app" });
    expect(humanAndImage("=false", "app")).toEqual({ human: false, image: "app" });
    expect(humanAndImage("F", "app")).toEqual({ human: false, image: "app" });
    expect(humanAndImage("1", "app")).toEqual({ human: true, image: "app" });
    expect(humanAndImage("app:1", undefined)).toEqual({ human: true, image: "app:1" });
    expect(() => humanAndImage("maybe", "app")).toThrow("--human maybe: give true or false");
    expect(() => humanAndImage("constructor", "app")).toThrow("--human constructor: give true or false");
    expect(() => humanAndImage(true, undefined)).toThrow("berth history needs an image");
  });
});

describe("a config whose history and layers do not pair up", () => {
  const image = (history: object[], layers: number) =>
    ({
      digest: "sha256:1",
      manifest: {
        config: { digest: `sha256:${"c".repeat(64)}`, mediaType: "x", size: 1 },
        layers: Array.from({ length: layers }, () => ({ digest: "sha256:l", size: 0, mediaType: "x" })),
      },
      config: { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, history },
    }) as unknown as Image;
  const noBlobs = { openBlob: () => Promise.reject(new Error("no layer should be read")) };

  it("more non-empty entries than layers: refused, naming the entry (docker: too many non-empty layers)", async () => {
    const err = await historyOf(image([{ created_by: "RUN x" }], 0), noBlobs, "app:1").catch((e) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect(err.message).toBe(
      "app:1's config history[0] is a non-empty layer's entry, but the image has only 0 layers",
    );
  });

  it("empty entries only: listed, each 0B", async () => {
    const rows = await historyOf(image([{ created_by: "ENV A=1", empty_layer: true }], 0), noBlobs, "app:1");
    const text = formatHistory(rows, `sha256:${"c".repeat(64)}`, {
      human: true,
      trunc: true,
      now: 0,
      quiet: false,
    });
    expect(text.split("\n")).toEqual([
      "IMAGE          CREATED         CREATED BY   SIZE      COMMENT",
      // no created: Go's zero time, which docker shows as the longest duration Go has
      `${"c".repeat(12)}   292 years ago   ENV A=1      0B`,
      "",
    ]);
  });
});

describe("berth history -q", () => {
  it("reads no layer (it prints ids only); the table needs them, and says which blob is missing", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "f"), "f");
    const home = join(dir, "home");
    const image = `oci:${join(dir, "layout")}:a`;
    expect(
      (await runCommand(["append", "scratch", `${dir}/f:/f`, "-t", image], { home })).error,
    ).toBeUndefined();
    const inspected = JSON.parse((await runCommand(["inspect", "--json", image], { home })).stdout);
    const layer = inspected.layers[0].digest as string;
    await rm(join(dir, "layout", "blobs", "sha256", layer.slice("sha256:".length)));
    const q = await runCommand(["history", "-q", image], { home });
    expect(q.error).toBeUndefined();
    expect(q.stdout).toBe(`${inspected.configDigest.slice(7, 19)}\n`);
    // docker image history's name too
    expect((await runCommand(["image", "history", "-q", image], { home })).stdout).toBe(q.stdout);
    const t = await runCommand(["history", image], { home });
    expect(t.error).toBeInstanceOf(BerthError);
    expect((t.error as Error).message).toContain(layer.slice(7, 19));
  });
});

describe.skipIf(!dockerdAvailable())("berth history compared with docker history", () => {
  let dockerd: Dockerd;
  let home: string;
  let archive: string;

  beforeAll(async () => {
    const dir = await tempDir();
    home = join(dir, "home");
    const base = await localBase(join(dir, "base"));
    const ctx = join(dir, "ctx");
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, "a.txt"), "hello history\n".repeat(100));
    await writeFile(
      join(ctx, "Dockerfile"),
      [
        `FROM ${base}`,
        "ENV A=1",
        "WORKDIR /w",
        "COPY a.txt .",
        "RUN echo made >made.txt && ln -s made.txt link && ln made.txt hard && mkdir -p d/e",
        'LABEL team="web"\tb=2',
        `RUN printf '%s' "a long command line that docker truncates to forty-five columns" >long`,
        'RUN echo "日本語のテキスト、é and wide characters" >wide',
        "",
      ].join("\n"),
    );
    const env = { SOURCE_DATE_EPOCH: "0" };
    const b = await berth(["build", ctx, "--dockerfile", "-t", "hist:1", "--network", "none"], { home, env });
    expect(b.code, b.stderr).toBe(0);
    archive = join(dir, "hist.tar");
    const s = await berth(["save", "hist:1", "-o", archive], { home });
    expect(s.code, s.stderr).toBe(0);
    dockerd = await startDockerd();
    await dockerd.docker(["load", "-i", archive]);
  }, 240_000);

  afterAll(async () => {
    await dockerd?.stop();
  });

  it("the table, --no-trunc, -H=false and -q print what docker prints, row by row", async () => {
    for (const flags of [
      [],
      ["--no-trunc"],
      ["-H=false"],
      ["--human=false", "--no-trunc"],
      ["-q"],
      ["-q", "--no-trunc"],
    ]) {
      const theirs = await dockerd.docker(["history", ...flags, "hist:1"]);
      const ours = await runCommand(["history", ...flags, "hist:1"], { home });
      expect(ours.error, flags.join(" ")).toBeUndefined();
      const lines = (s: string) => s.split("\n").map((l) => l.trimEnd());
      expect(lines(ours.stdout), flags.join(" ")).toEqual(lines(theirs));
    }
  });

  it("--human=false writes times in the local zone as docker does (TZ=America/St_Johns, -03:30)", async () => {
    const env = { TZ: "America/St_Johns" };
    const theirs = await dockerd.docker(["history", "--human=false", "hist:1"], { env });
    const ours = await berth(["history", "--human=false", "hist:1"], { home, env });
    expect(ours.code, ours.stderr).toBe(0);
    expect(ours.stdout).toContain("1969-12-31T20:30:00-03:30");
    const lines = (s: string) => s.split("\n").map((l) => l.trimEnd());
    expect(lines(ours.stdout)).toEqual(lines(theirs));
  });

  it("sizes and CREATED BY as docker's --format gives them; the archive reads the same as the store", async () => {
    const format = "{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}";
    const theirs = await dockerd.docker(["history", "--no-trunc", "--format", format, "hist:1"]);
    const ours = await runCommand(["history", "--no-trunc", "hist:1"], { home });
    const fromArchive = await runCommand(["history", "--no-trunc", `docker-archive:${archive}`], { home });
    expect(fromArchive.stdout).toBe(ours.stdout);
    const json = JSON.parse((await runCommand(["history", "--json", "hist:1"], { home })).stdout);
    const id = (await dockerd.docker(["image", "inspect", "--format", "{{.Id}}", "hist:1"])).trim();
    expect(json.id).toBe(id);
    const sizes = (await dockerd.docker(["history", "-H=false", "--format", "{{.Size}}", "hist:1"]))
      .trim()
      .split("\n")
      .map(Number);
    const entries = [...json.history].reverse();
    expect(entries.map((e: { size: number }) => e.size)).toEqual(sizes);
    expect(theirs.trim().split("\n")).toEqual(
      entries.map(
        (e: { createdBy: string; size: number; comment: string }, i: number) =>
          `${i === 0 ? id : "<missing>"}|${e.createdBy.replaceAll("\t", " ")}|${humanSize(e.size)}|${e.comment}`,
      ),
    );
    // ENV and LABEL made no layer; WORKDIR (making /w, as BuildKit's does), COPY and the RUNs did, each with
    // its digest and diff id
    expect(json.history.filter((e: { emptyLayer: boolean }) => e.emptyLayer).length).toBeGreaterThanOrEqual(
      2,
    );
    for (const e of json.history.filter((x: { emptyLayer: boolean }) => !x.emptyLayer)) {
      expect(e.digest).toMatch(/^sha256:/);
      expect(e.diffId).toMatch(/^sha256:/);
    }
    expect(json.schemaVersion).toBe(1);
  });

  /** hist:1's archive with its config changed by `edit`, tagged `name`: for docker load and berth to read. */
  async function edited(
    name: string,
    edit: (c: { history: Record<string, unknown>[] }) => void,
  ): Promise<string> {
    const dir = await tempDir();
    await run("tar", ["-xf", archive, "-C", dir]);
    const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8"));
    const config = JSON.parse(await readFile(join(dir, manifest[0].Config), "utf8"));
    await rm(join(dir, manifest[0].Config));
    edit(config);
    const bytes = JSON.stringify(config);
    manifest[0].Config = `${createHash("sha256").update(bytes).digest("hex")}.json`;
    manifest[0].RepoTags = [`${name}:1`];
    await writeFile(join(dir, manifest[0].Config), bytes);
    await writeFile(join(dir, "manifest.json"), JSON.stringify(manifest));
    await rm(join(dir, "repositories"), { force: true });
    const file = `${dir}.tar`;
    await run("tar", ["-cf", file, "-C", dir, ...(await readdir(dir))]);
    return file;
  }

  it("a config whose history and layers do not pair up: refused or listed as docker does", async () => {
    // one non-empty entry more than there are layers: docker refuses it ("too many non-empty layers", at load)
    const extra = await edited("extra", (c) => c.history.push({ created_by: "RUN ghost" }));
    const refused = await dockerd.docker(["load", "-i", extra]).catch((e: Error) => e);
    expect(String(refused)).toContain("too many non-empty layers in History section");
    const json = JSON.parse((await runCommand(["history", "--json", "hist:1"], { home })).stdout);
    const entries = json.history as { emptyLayer: boolean }[];
    const ours = await runCommand(["history", `docker-archive:${extra}`], { home });
    expect(ours.stdout).toBe("");
    expect((ours.error as Error).message).toBe(
      `docker-archive:${extra}'s config history[${entries.length}] is a non-empty layer's entry, but the image has only ${entries.filter((e) => !e.emptyLayer).length} layers`,
    );
    // fewer (the last RUN marked empty), one without created (Go's zero time: "292 years ago", year 1): docker
    // lists them, and so does berth
    const fewer = await edited("fewer", (c) => {
      c.history.at(-1)!.empty_layer = true;
      delete c.history.at(-2)!.created;
    });
    await dockerd.docker(["load", "-i", fewer]);
    for (const flags of [[], ["--human=false"]]) {
      const theirs = await dockerd.docker(["history", ...flags, "fewer:1"]);
      const mine = await runCommand(["history", ...flags, `docker-archive:${fewer}`], { home });
      expect(mine.error).toBeUndefined();
      const lines = (s: string) => s.split("\n").map((l) => l.trimEnd());
      expect(lines(mine.stdout), flags.join(" ")).toEqual(lines(theirs));
    }
  });

  it("reads a registry's image (docker://) as the store's", async () => {
    const reg = await startRegistry();
    try {
      const ref = `docker://${reg.host}/team/hist:1`;
      expect((await runCommand(["copy", "hist:1", ref], { home })).error).toBeUndefined();
      const remote = await runCommand(["history", "--no-trunc", ref], { home });
      expect(remote.error).toBeUndefined();
      expect(remote.stdout).toBe((await runCommand(["history", "--no-trunc", "hist:1"], { home })).stdout);
    } finally {
      await reg.stop();
    }
  });

  it("a missing image is named as berth inspect names it", async () => {
    const h = await runCommand(["history", "nothere:1"], { home });
    const i = await runCommand(["inspect", "nothere:1"], { home });
    expect(h.error).toBeInstanceOf(BerthError);
    expect((h.error as Error).message).toBe((i.error as Error).message);
    expect((h.error as Error).message).toMatch(/nothere:1/);
    // -H before the image (commander's optional value would take it), as docker's bool -H
    const plain = (await runCommand(["history", "hist:1"], { home })).stdout;
    expect((await runCommand(["history", "-H", "hist:1"], { home })).stdout).toBe(plain);
    expect((await runCommand(["history", "hist:1", "-H"], { home })).stdout).toBe(plain);
    const none = await runCommand(["history"], { home });
    expect((none.error as Error).message).toBe("berth history needs an image");
    const bad = await runCommand(["history", "--human=maybe", "hist:1"], { home });
    expect((bad.error as Error).message).toBe("--human maybe: give true or false");
  });
});
