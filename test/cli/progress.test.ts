/**
 * Progress through the real CLI (issue 16 point 5): a pull in a real terminal five rows high never redraws
 * over more rows than the terminal has nor writes a line wider than it, and ends with the size and the time;
 * in a log (not a terminal) a long blob gets a line at least every 10 s and no escape codes; builds say how
 * long each phase took and announce their first-use pauses.
 */
import { mkdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeBuildImage, writeBuildpack } from "../cnb/helpers.ts";
import { localBase } from "../dockerfile/helpers/local.ts";
import { berth, spawnBerth } from "../helpers/cli.ts";
import { run } from "../helpers/exec.ts";
import { tempDir } from "../helpers/temp.ts";
import { berthInTerminal } from "../helpers/terminal.ts";
import { type FaultProxy, startFaultProxy } from "../registry/helpers/faultproxy.ts";
import { randomLayout } from "../registry/helpers/images.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";
import { busyboxImage } from "../runtime/helpers.ts";

let dir: string;
let reg: RegistryHarness;

beforeAll(async () => {
  dir = await tempDir("berth-progress-");
  reg = await startRegistry();
});
afterAll(async () => {
  await reg?.stop();
});

/**
 * What a terminal `rows` high and `columns` wide does with `output`, as far as a redraw cares: a cursor-up
 * further than the lines below the screen's top (the display was taller than the terminal: lines left behind
 * in the scrollback) and a line wider than the terminal (it wraps, and the next cursor-up misses) are faults.
 */
function terminalFaults(
  output: string,
  rows: number,
  columns: number,
): { faults: string[]; redraws: number } {
  const faults: string[] = [];
  // a wide line is a fault when a redraw goes back over it (the last lines, left as they are, may wrap)
  let wide: string[] = [];
  let y = 0;
  let x = 0;
  let redraws = 0;
  for (const m of output.matchAll(/\x1b\[(\d*)([A-Za-z])|\r|\n|[^\x1b\r\n]/gu)) {
    const t = m[0];
    if (t === "\r") x = 0;
    else if (t === "\n") y = Math.min(y + 1, rows - 1);
    else if (m[2] === "A") {
      const n = Number(m[1] || 1);
      redraws++;
      faults.push(...wide);
      wide = [];
      if (n > y) faults.push(`cursor up ${n} rows from row ${y} of a ${rows}-row terminal`);
      y = Math.max(0, y - n);
    } else if (m[2] === undefined) {
      x++;
      if (x === columns + 1) wide.push(`a line wider than ${columns} columns at row ${y}`);
    }
  }
  return { faults: [...new Set(faults)], redraws };
}

/** Run berth with stderr a pipe, noting when each line arrives. */
async function timedLines(
  args: string[],
  home: string,
): Promise<{ code: number | null; stderr: string; lines: { at: number; text: string }[] }> {
  const lines: { at: number; text: string }[] = [];
  const run = spawnBerth(args, { home });
  let partial = "";
  run.child.stderr!.on("data", (c: Buffer) => {
    const parts = (partial + c.toString("utf8")).split("\n");
    partial = parts.pop()!;
    for (const text of parts) lines.push({ at: Date.now(), text });
  });
  const r = await run.done;
  return { code: r.code, stderr: r.stderr, lines };
}

/** The longest wait between two lines, with the lines around it. */
function longestGap(lines: { at: number; text: string }[]): { ms: number; between: string } {
  let worst = { ms: 0, between: "" };
  for (let i = 1; i < lines.length; i++) {
    const ms = lines[i]!.at - lines[i - 1]!.at;
    if (ms > worst.ms) worst = { ms, between: `"${lines[i - 1]!.text}" and "${lines[i]!.text}"` };
  }
  return worst;
}

describe("transfer progress", () => {
  /** `copy` of a 12-layer image to the registry: stderr not a terminal. */
  let push: { code: number | null; stderr: string };
  beforeAll(async () => {
    const src = join(dir, "many");
    await randomLayout(src, "v1", { layers: 12, layerSize: 256 * 1024 });
    push = await berth(["copy", `oci:${src}:v1`, `docker://${reg.host}/progress/many:1`], {
      home: join(dir, "pusher"),
    });
    if (push.code !== 0) throw new Error(push.stderr);
  }, 60_000);

  it("a pull of many layers in a 5-row terminal stays within 5 rows and ends with size and time", async () => {
    const size = { rows: 5, columns: 60 };
    const t = berthInTerminal(["pull", `${reg.host}/progress/many:1`], { home: join(dir, "tty"), size });
    const { code, output } = await t.done;
    expect(code, output).toBe(0);
    const { faults, redraws } = terminalFaults(output, size.rows, size.columns);
    expect(redraws, output).toBeGreaterThan(0);
    expect(faults, JSON.stringify(output)).toEqual([]);
    // the last line before the digest: what was pulled, its size, the time taken
    expect(output).toMatch(
      new RegExp(
        `Pulled ${reg.host}/progress/many:1: 13 blobs, [\\d.]+ MiB in [\\d.]+ s[^\\n]*\\r?\\nsha256:`,
      ),
    );
    // not a terminal: the same final line, no escape codes
    expect(push.stderr).not.toContain("\x1b");
    expect(push.stderr).toMatch(/^Copied \S+ to \S+: 13 blobs, [\d.]+ MiB in [\d.]+ s/m);
  }, 60_000);

  it("a terminal resized smaller mid-pull gets redraws that fit the new size", async () => {
    let proxy: FaultProxy | undefined;
    try {
      proxy = await startFaultProxy(reg.port);
      // ~128 KiB/s a blob: the 12 layers of 256 KiB take several seconds
      proxy.add({
        method: "GET",
        path: /\/blobs\/sha256:/,
        fault: { kind: "throttle", bytesPerSecond: 128 * 1024 },
        times: Number.POSITIVE_INFINITY,
      });
      const t = berthInTerminal(["pull", `${proxy.host}/progress/many:1`], {
        home: join(dir, "resize"),
        size: { rows: 12, columns: 100 },
      });
      await t.waitFor(/Blob [0-9a-f]{12} \d/);
      // berth's terminal: the one its stderr is (berth is `script`'s child)
      const pid = (await readFile(`/proc/${t.child.pid}/task/${t.child.pid}/children`, "utf8")).trim();
      const tty = await readlink(`/proc/${pid}/fd/2`);
      await run("stty", ["-F", tty, "rows", "4", "cols", "40"]);
      const mark = t.output().length;
      const { code, output } = await t.done;
      expect(code, output).toBe(0);
      // the redraws after the resize (the first two may have been on their way already) fit 4 rows of 40 columns
      const draws = output
        .slice(mark)
        .split(/\x1b\[\d+A/)
        .slice(2, -1);
      expect(draws.length, JSON.stringify(output.slice(mark))).toBeGreaterThan(0);
      for (const d of draws) {
        const lines = d
          .replace(/\x1b\[J/g, "")
          .split("\r\n")
          .filter((l) => l.replace(/\r/g, "") !== "");
        expect(lines.length, JSON.stringify(d)).toBeLessThanOrEqual(3);
        for (const l of lines) expect([...l.replace(/\r/g, "")].length, l).toBeLessThanOrEqual(40);
      }
    } finally {
      await proxy?.close();
    }
  }, 90_000);

  it("in a log (not a terminal), a blob longer than 10 s gets a heartbeat line at least every 10 s", async () => {
    const src = join(dir, "slow");
    await randomLayout(src, "v1", { layers: 1, layerSize: 1536 * 1024 });
    const home = join(dir, "slow-home");
    const push = await berth(["copy", `oci:${src}:v1`, `docker://${reg.host}/progress/slow:1`], { home });
    expect(push.code, push.stderr).toBe(0);
    let proxy: FaultProxy | undefined;
    try {
      proxy = await startFaultProxy(reg.port);
      // ~96 KiB/s: the 1.5 MiB layer takes about 16 s
      proxy.add({
        method: "GET",
        path: /\/blobs\/sha256:/,
        fault: { kind: "throttle", bytesPerSecond: 96 * 1024 },
        times: Number.POSITIVE_INFINITY,
      });
      const r = await timedLines(["pull", `${proxy.host}/progress/slow:1`], join(dir, "slow-pull"));
      const lines = r.lines;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toContain("\x1b");
      const text = lines.map((l) => l.text).join("\n");
      // the transfer was long enough to need heartbeats
      expect(lines.length, text).toBeGreaterThan(1);
      expect(lines[lines.length - 1]!.at - lines[0]!.at, text).toBeGreaterThan(10_000);
      // heartbeats say the bytes so far of the total, and of the blob in flight
      expect(text).toMatch(
        /^Total [\d.]+ (B|KiB|MiB) \/ 1\.5 MiB \(\d+%\).*; [0-9a-f]{12} [\d.]+ (B|KiB|MiB)\/1\.5 MiB$/m,
      );
      const gap = longestGap(lines);
      expect(gap.ms, gap.between).toBeLessThanOrEqual(10_000);
      expect(text).toMatch(/Pulled \S+: 2 blobs, 1\.5 MiB in [\d.]+ s/);
    } finally {
      await proxy?.close();
    }
  }, 90_000);

  it("--quiet prints the digest only; save and load say size and time", async () => {
    const home = join(dir, "quiet");
    const q = await berth(["pull", "-q", `${reg.host}/progress/many:1`], { home });
    expect(q.code, q.stderr).toBe(0);
    expect(q.stderr).toBe("");
    expect(q.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const tar = join(dir, "many.tar");
    const save = await berth(["save", `${reg.host}/progress/many:1`, "-o", tar], { home });
    expect(save.code, save.stderr).toBe(0);
    expect(save.stderr).toMatch(/Saved 1 image to \S+: 12 blobs, [\d.]+ MiB in [\d.]+ s/);
    const copied = await berth(["copy", `${reg.host}/progress/many:1`, `docker-archive:${tar}.2`], { home });
    expect(copied.code, copied.stderr).toBe(0);
    expect(copied.stderr).toMatch(/^Copied \S+ to \S+: 12 blobs, [\d.]+ MiB in [\d.]+ s/m);
    const load = await berth(["load", "-i", tar], { home: join(dir, "loader") });
    expect(load.code, load.stderr).toBe(0);
    expect(load.stderr).toMatch(/Loaded 1 image from \S+: 13 blobs, [\d.]+ MiB in [\d.]+ s/);
  }, 60_000);
});

describe("build progress", () => {
  it("a buildpacks build announces its first-use pauses, says how long each phase took, and has a heartbeat in a log", async () => {
    const home = join(dir, "cnb");
    const layout = join(dir, "builder-layout");
    await makeBuildImage(dir, `oci:${layout}:build`, join(dir, "cnb-maker"));
    await busyboxImage(join(dir, "runlayout"), "run", { env: ["PATH=/bin"], user: "app" });
    const bp = await writeBuildpack(join(dir, "bps"), {
      id: "examples/hello",
      version: "0.0.1",
      // silent for 12 s while the app has a file "slow"
      build: `set -e\nif [ -f ./slow ]; then sleep 12; fi\nmkdir -p "$CNB_LAYERS_DIR/hello"\nprintf '[types]\\nlaunch = true\\n' > "$CNB_LAYERS_DIR/hello.toml"\n`,
    });
    await writeFile(
      join(dir, "builder.toml"),
      `[[buildpacks]]\nuri = "${bp}"\n\n[[order]]\n[[order.group]]\nid = "examples/hello"\n\n[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "oci:${join(dir, "runlayout")}:run"\n`,
    );
    const made = await berth(
      ["builder", "create", "--no-lifecycle", `oci:${layout}:builder`, "--config", join(dir, "builder.toml")],
      { home: join(dir, "cnb-maker") },
    );
    expect(made.code, made.stderr).toBe(0);
    await mkdir(join(dir, "app"), { recursive: true });
    await writeFile(join(dir, "app", "hello.txt"), "the app");
    await writeFile(join(dir, "app", "slow"), "");
    const b = await timedLines(
      ["build", join(dir, "app"), "-t", "app:1", "--builder", `oci:${layout}:builder`],
      home,
    );
    expect(b.code, b.stderr).toBe(0);
    // not a terminal: the silent buildpack gets heartbeat lines
    expect(b.stderr).toMatch(/^Still running: ===> BUILDING \([\d.]+ s\)$/m);
    const gap = longestGap(b.lines);
    expect(gap.ms, gap.between).toBeLessThanOrEqual(10_000);
    await rm(join(dir, "app", "slow"));
    const e = b.stderr;
    const at = (re: RegExp) => e.search(re);
    // first-use pauses are said before they happen
    expect(at(/Unpacking the build image \S+ \(\d+ layers?\)/), e).toBeGreaterThanOrEqual(0);
    expect(at(/Unpacking the build image/)).toBeLessThan(at(/===> ANALYZING/));
    expect(at(/Compiling berth's launcher \(first use/), e).toBeGreaterThan(at(/===> EXPORTING/));
    // each phase ends with its duration, in order
    const phases = ["Analyze", "Detect", "Restore", "Build", "Export"].map((p) =>
      at(new RegExp(`^${p} done in [\\d.]+ s$`, "m")),
    );
    for (const p of phases) expect(p, e).toBeGreaterThanOrEqual(0);
    expect([...phases].sort((a, b) => a - b)).toEqual(phases);
    expect(e).toMatch(/^Buildpacks build done in [\d.]+ s$/m);
    // a second build has no first-use pause
    const again = await berth(
      ["build", join(dir, "app"), "-t", "app:1", "--builder", `oci:${layout}:builder`],
      {
        home,
      },
    );
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/Unpacking|Compiling/);
  }, 180_000);

  it("a Dockerfile build says how long each step and stage took", async () => {
    const ctx = join(dir, "df");
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, "a.txt"), "a");
    await writeFile(
      join(ctx, "Dockerfile"),
      "FROM scratch AS one\nCOPY a.txt /a\nFROM scratch\nCOPY --from=one /a /b\n",
    );
    const b = await berth(["build", ctx, "--dockerfile", "-t", "df:1"], { home: join(dir, "df-home") });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr.match(/^\[stage [12]\/2\] --> [0-9a-f]{12} \([\d.]+ s\)$/gm)?.length, b.stderr).toBe(4);
    expect(b.stderr).toMatch(/^\[stage 1\/2\] done in [\d.]+ s$/m);
    expect(b.stderr).toMatch(/^\[stage 2\/2\] done in [\d.]+ s$/m);
  }, 60_000);

  it("a base image's first use is unpacked when the key pass finds a RUN to run, not when that RUN begins", async () => {
    const base = await localBase(join(dir, "df-warm-base"));
    const ctx = join(dir, "df-warm");
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, "a.txt"), "a");
    await writeFile(join(ctx, "Dockerfile"), `FROM ${base}\nCOPY a.txt /a\nRUN cat /a\n`);
    const b = await berth(["build", ctx, "--dockerfile", "-t", "warm:1"], {
      home: join(dir, "df-warm-home"),
    });
    expect(b.code, b.stderr).toBe(0);
    // the base's one layer, not the RUN's image (the base and COPY's layer): the RUN found it under way
    expect(b.stderr.match(/^Unpacking the image's .*$/gm), b.stderr).toEqual([
      "Unpacking the image's 1 layer into snapshots (first use; later builds reuse them)",
    ]);
  }, 60_000);

  it("in a log (not a terminal), a silent RUN step longer than 10 s gets a heartbeat line at least every 10 s", async () => {
    const base = await localBase(join(dir, "df-base"));
    const ctx = join(dir, "df-slow");
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, "Dockerfile"), `FROM ${base}\nRUN sleep 14\n`);
    const r = await timedLines(["build", ctx, "--dockerfile", "-t", "slow:1"], join(dir, "df-slow-home"));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain("\x1b");
    // the base image's first use is announced before the step that waits for it
    expect(r.stderr).toMatch(
      /^Unpacking the image's 1 layer into snapshots \(first use[^\n]*\n(.*\n)*Still running: /m,
    );
    expect(r.stderr).toMatch(/^Still running: \[stage 1\/1\] STEP 2\/2: RUN sleep 14 \([\d.]+ s\)$/m);
    const gap = longestGap(r.lines);
    expect(gap.ms, gap.between).toBeLessThanOrEqual(10_000);
    // --quiet: nothing but the digest
    const q = await berth(["build", ctx, "--dockerfile", "-q", "-t", "slow:2"], {
      home: join(dir, "df-slow-home"),
    });
    expect(q.code, q.stderr).toBe(0);
    expect(q.stderr).toBe("");
    expect(q.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
  }, 120_000);
});
