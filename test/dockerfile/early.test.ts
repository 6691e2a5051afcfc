/**
 * Steps made early (src/dockerfile/early.ts): a COPY of context files behind a step that waits for another stage
 * is made while that stage's RUN runs, and taken when its turn comes only if the stage's files answer every
 * question it asked the same: its layer is then the one made in turn, byte for byte. Any other answer (an
 * existing folder's owner, a `--chown` name in the stage's /etc/passwd) and it is made again in turn.
 */
import { readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { BuildInputs, StepReport } from "../../src/dockerfile/inputs.ts";
import { chainIds, encodedOf } from "../../src/oci/digest.ts";
import { tempDir } from "../helpers/temp.ts";
import { localBase, writeContext } from "./helpers/local.ts";
import { fileIn, layerEntries, scratchBuild } from "./helpers/scratch.ts";

let tmp: string;
let base: string;
let n = 0;

beforeAll(async () => {
  tmp = await tempDir("berth-df-early-");
  base = await localBase(join(tmp, "base"));
});

const files = {
  "static/index.html": "<p>hi</p>\n",
  "static/css/site.css": "p{}\n",
  "static/bin/tool": { content: "#!/bin/sh\n", mode: 0o755 },
};

/**
 * Build in-process (the result's steps say which were made early); the image's layers and the last's entries,
 * the build's BERTH_HOME and image.
 */
async function build(dockerfile: string, o: Partial<BuildInputs> = {}) {
  const dir = join(tmp, `b-${n++}`);
  const ctx = await writeContext(join(dir, "ctx"), files);
  const { result, image } = await scratchBuild(dir, ctx, dockerfile.replaceAll("{{BASE}}", base), o);
  const layers = image.manifest.layers.map((l) => l.digest);
  const home = join(dir, "home");
  return { steps: result.steps, layers, last: await layerEntries(image, layers.length - 1), home, image };
}

const step = (steps: StepReport[], text: string) => steps.find((s) => s.instruction.startsWith(text))!;

// The other stage's first RUN lets the final stage reach its wait; its second RUN's process starts the early work.
const slow = (cmd: string) => `FROM {{BASE}} AS slow
RUN echo first
RUN /bin/busybox sleep 1 && ${cmd}
`;

describe("COPY made early", () => {
  it("is made while its stage waits for another, and its layer is the one made in turn", async () => {
    const early = await build(
      `${slow("echo done > /done")}FROM {{BASE}}
COPY --from=slow /done /done
COPY static/ /srv/static/
`,
      { compression: "gzip" },
    );
    expect(step(early.steps, "COPY static/").early).toBe(true);
    // in turn: the same COPY first, nothing before it to wait for (the files it lands on are the same)
    const inTurn = await build(
      `${slow("echo done > /done")}FROM {{BASE}}
COPY static/ /srv/static/
COPY --from=slow /done /done
`,
      { compression: "gzip" },
    );
    expect(step(inTurn.steps, "COPY static/").early).toBeUndefined();
    expect(early.layers.at(-1)).toBe(inTurn.layers.at(-2));
    expect(early.layers.at(-2)).toBe(inTurn.layers.at(-1));
  });

  it("is made at once when its stage starts to wait while another stage's RUN runs", async () => {
    // the final stage waits for slow only after quick is built: slow's process is running by then, and no
    // process starts after it
    const r = await build(`FROM {{BASE}} AS slow
RUN /bin/busybox sleep 2 && echo done > /done
FROM {{BASE}} AS quick
RUN echo quick > /quick
FROM {{BASE}}
COPY --from=quick /quick /quick
COPY --from=slow /done /done
COPY static/ /srv/static/
`);
    expect(step(r.steps, "COPY static/").early).toBe(true);
  });

  it("with a RUN after it: the RUN sees its files (its snapshot, made as it was written, placed at its turn)", async () => {
    const r = await build(
      `${slow("echo done > /done")}FROM {{BASE}}
COPY --from=slow /done /done
COPY static/ /srv/static/
RUN cat /done /srv/static/index.html /srv/static/css/site.css > /seen
`,
      { compression: "gzip" },
    );
    expect(step(r.steps, "COPY static/").early).toBe(true);
    expect(await fileIn(r.image, r.layers.length - 1, "seen")).toBe("done\n<p>hi</p>\np{}\n");
    // placed over the stage's layers at its turn (the other stage's copy among them), its parent that copy's
    const ids = chainIds(r.image.imageConfig().rootfs.diff_ids);
    const snapshot = (i: number) => join(r.home, "snapshots", "overlay", encodedOf(ids[i]!));
    const meta = JSON.parse(await readFile(join(snapshot(ids.length - 2), "meta.json"), "utf8"));
    expect(meta.parent).toBe(join(snapshot(ids.length - 3), "fs"));
    expect(readdirSync(join(r.home, "snapshots", "tmp"))).toEqual([]);
  });

  it("is made again when a folder it lands in is the other stage's, with another owner and mode", async () => {
    const r =
      await build(`${slow("mkdir -p /t/srv/static && /bin/busybox chown 7:7 /t/srv/static && /bin/busybox chmod 750 /t/srv/static")}FROM {{BASE}}
COPY --from=slow /t/ /
COPY static/ /srv/static/
`);
    // the folder keeps the owner and mode the stage gave it, as when the step is made in turn
    expect(r.last).toContain("srv/static dir 750 7:7");
    expect(r.last).toContain("srv/static/index.html file 644 0:0");
    expect(step(r.steps, "COPY static/").early).toBeUndefined();
  });

  it("is made again when its --chown name means another user in the stage's /etc/passwd", async () => {
    // the base's `app` is 1000; the other stage's /etc/passwd makes it 1234
    const r =
      await build(`${slow("mkdir -p /t/etc && /bin/busybox printf 'root:x:0:0::/root:/bin/sh\\napp:x:1234:1234::/:/bin/sh\\n' > /t/etc/passwd")}FROM {{BASE}}
COPY --from=slow /t/ /
COPY --chown=app static/ /srv/static/
`);
    expect(r.last).toContain("srv/static/index.html file 644 1234:1234");
    expect(r.last).toContain("srv/static/bin/tool file 755 1234:1234");
    expect(step(r.steps, "COPY --chown=app").early).toBeUndefined();
  });

  it("made again with a RUN after it: the RUN sees the layer made in turn, and the early one's snapshot is gone", async () => {
    const r =
      await build(`${slow("mkdir -p /t/etc && /bin/busybox printf 'root:x:0:0::/root:/bin/sh\\napp:x:1234:1234::/:/bin/sh\\n' > /t/etc/passwd")}FROM {{BASE}}
COPY --from=slow /t/ /
COPY --chown=app static/ /srv/static/
RUN /bin/busybox stat -c %u:%g /srv/static/index.html > /owner
`);
    expect(step(r.steps, "COPY --chown=app").early).toBeUndefined();
    expect(await fileIn(r.image, r.layers.length - 1, "owner")).toBe("1234:1234\n");
    expect(readdirSync(join(r.home, "snapshots", "tmp"))).toEqual([]);
  });
});
