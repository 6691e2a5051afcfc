/**
 * `berth run -dit` (docker's detached container with a terminal, for a later `docker attach`): berth has no
 * attach, so it is refused in one sentence with the way to a terminal in a detached container (issue 16).
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { berth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { busyboxImage } from "./helpers.ts";

let dir: string;
let image: string;

beforeAll(async () => {
  dir = await tempDir("berth-detach-tty-");
  await busyboxImage(join(dir, "layout"), "b", { cmd: ["sh"] });
  image = `oci:${join(dir, "layout")}:b`;
});

it.each([["-dit"], ["-d", "-t"], ["-d", "-i"], ["--detach", "--tty", "--interactive"]])(
  "berth run %s is refused: one sentence, the hint (berth exec -it), exit 125, no container made",
  async (...flags) => {
    const home = join(dir, `home${flags.join("")}`);
    const r = await berth(["run", ...flags, "--name", "t1", image, "sh"], { home });
    expect(r.code).toBe(125);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      "berth: -d runs the container in the background: -t and -i need it in the foreground\nhint: start it with -d, then berth exec -it NAME sh for a terminal in it\n",
    );
    expect(
      existsSync(join(home, "run", "containers")) ? readdirSync(join(home, "run", "containers")) : [],
    ).toEqual([]);
  },
);
