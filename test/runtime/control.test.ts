/**
 * berth stop/kill/rm/exec on containers another berth runs: signal names, and what each does to a container
 * that is not running. (Signalling and exec into a running container are driven through the CLI in
 * test/runtime/containers.test.ts.)
 */
import { describe, expect, it } from "vitest";
import {
  execInContainer,
  killContainer,
  removeContainer,
  signalName,
  stopContainer,
  waitEnded,
} from "../../src/runtime/control.ts";
import {
  type ContainerInfo,
  type ContainerStatus,
  listContainers,
  readContainer,
} from "../../src/runtime/state.ts";
import { containerFolder } from "../helpers/runtime.ts";
import { tempDir } from "../helpers/temp.ts";

async function made(home: string, status: ContainerStatus, name?: string): Promise<ContainerInfo> {
  const dir = await containerFolder(home, `berth-${status}00000000`, {
    name,
    ...(status === "exited" ? { exit: 0 } : {}),
  });
  return { ...(await readContainer(dir))!, status };
}

describe("signalName", () => {
  it("names as the runtimes take them, from SIGTERM, TERM, term or a number", () => {
    expect(["SIGTERM", "TERM", " term ", "15", "sigkill", "9", "HUP"].map(signalName)).toEqual([
      "TERM",
      "TERM",
      "TERM",
      "TERM",
      "KILL",
      "KILL",
      "HUP",
    ]);
  });

  it("an unknown name or number is a usage error naming it", () => {
    for (const bad of ["SIGNOPE", "999", "", "-9"]) {
      expect(() => signalName(bad)).toThrow(
        expect.objectContaining({ code: "USAGE", message: `unknown signal ${JSON.stringify(bad)}` }),
      );
    }
  });
});

describe("a container that is not running", () => {
  it("kill and exec are refused with its name and, once exited, what to do instead", async () => {
    const home = await tempDir();
    const exited = await made(home, "exited", "web");
    await expect(killContainer(exited, "TERM")).rejects.toMatchObject({
      code: "CONTAINER_CONFLICT",
      message: "container web is not running",
      hint: "berth logs web shows its output; berth rm web removes it",
    });
    const dead = await made(home, "dead");
    await expect(execInContainer(dead, { args: ["sh"] })).rejects.toMatchObject({
      message: "container dead00000000 is not running",
      hint: undefined,
    });
  });

  it("stop does nothing; waitEnded answers at once; rm removes it", async () => {
    const home = await tempDir();
    const exited = await made(home, "exited", "web");
    await stopContainer(exited, 0);
    expect(await waitEnded(exited, 0)).toBe(true);
    await removeContainer(home, exited);
    expect(await listContainers(home)).toEqual([]);
  });

  it("rm of a container that is not ended is refused without force", async () => {
    const home = await tempDir();
    const created = await made(home, "created", "web");
    await expect(removeContainer(home, created)).rejects.toMatchObject({
      code: "CONTAINER_CONFLICT",
      message: "cannot remove container web: it is running (stop it before removing, or force remove)",
      hint: "berth stop web, or berth rm -f web",
    });
    expect((await listContainers(home)).length).toBe(1);
  });
});
