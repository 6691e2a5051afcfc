/** Container records, statuses, names and lookups, in a real $BERTH_HOME/run folder. */
import { mkdir, readFile, readlink, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  checkName,
  claimName,
  findContainer,
  listContainers,
  readContainer,
  releaseName,
  removeContainerFiles,
  shortId,
} from "../../src/runtime/state.ts";
import { selfIdentity } from "../../src/util/owner.ts";
import { containerFolder } from "../helpers/runtime.ts";
import { tempDir } from "../helpers/temp.ts";

describe("names", () => {
  it("docker's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+, two characters at least, 128 at most", () => {
    for (const ok of ["ab", "web-1", "A.b_c", "x".repeat(128)]) expect(() => checkName(ok)).not.toThrow();
    for (const bad of ["a", "-ab", ".ab", "a b", "a/b", "x".repeat(129), ""]) {
      expect(() => checkName(bad)).toThrow(
        expect.objectContaining({ code: "USAGE", message: expect.stringContaining(JSON.stringify(bad)) }),
      );
    }
  });

  it("a name is claimed once; its holder's container gone, it is taken over; release lets go of one's own only", async () => {
    const home = await tempDir();
    const held = "berth-aaaabbbbccccdddd";
    await containerFolder(home, held, { name: "web" });
    await claimName(home, "web", held);
    await expect(claimName(home, "web", "berth-1111")).rejects.toMatchObject({
      code: "CONTAINER_CONFLICT",
      message:
        'the container name "web" is already in use by container aaaabbbbcccc: you have to remove (or rename) that container to be able to reuse that name',
      hint: "berth rm -f web, or choose another --name",
    });
    // A link left by a container that is gone.
    await symlink("berth-gone", join(home, "run", "names", "stale"));
    await claimName(home, "stale", "berth-new");
    expect(await readlink(join(home, "run", "names", "stale"))).toBe("berth-new");
    await releaseName(home, "stale", "berth-other");
    expect(await readlink(join(home, "run", "names", "stale"))).toBe("berth-new");
    await releaseName(home, "stale", "berth-new");
    await expect(readlink(join(home, "run", "names", "stale"))).rejects.toMatchObject({ code: "ENOENT" });
    await expect(claimName(home, "x", "berth-new")).rejects.toMatchObject({ code: "USAGE" });
  });

  it("shortId: 12 hex digits, without berth-", () => {
    expect(shortId("berth-0123456789abcdef")).toBe("0123456789ab");
    expect(shortId("0123456789abcdef")).toBe("0123456789ab");
  });
});

describe("readContainer", () => {
  it("status: exited with an exit record, dead without a live owner, running with runtime state, else created", async () => {
    const home = await tempDir();
    const me = selfIdentity();
    const exited = await containerFolder(home, "berth-e", { created: "1", owner: me, exit: 3 });
    const dead = await containerFolder(home, "berth-d", { created: "2", owner: "999999999 1" });
    const kept = await containerFolder(home, "berth-k", { created: "3" });
    const running = await containerFolder(home, "berth-r", { created: "4", owner: me, running: true });
    const created = await containerFolder(home, "berth-c", { created: "5", owner: me });
    expect(await readContainer(exited)).toMatchObject({
      dir: exited,
      status: "exited",
      exit: { exitCode: 3, finishedAt: "2026-01-01T00:00:00Z" },
      record: { id: "berth-e" },
    });
    expect((await readContainer(dead))?.status).toBe("dead");
    expect((await readContainer(kept))?.status).toBe("dead");
    expect((await readContainer(running))?.status).toBe("running");
    expect((await readContainer(created))?.status).toBe("created");
  });

  it("a folder without a record, with a broken one or another schema is no container", async () => {
    const home = await tempDir();
    expect(await readContainer(home)).toBeUndefined();
    const dir = await containerFolder(home, "berth-x");
    const text = await readFile(join(dir, "container.json"), "utf8");
    await writeFile(join(dir, "container.json"), text.replace('"schemaVersion": 1', '"schemaVersion": 2'));
    expect(await readContainer(dir)).toBeUndefined();
    await writeFile(join(dir, "container.json"), "{not json");
    expect(await readContainer(dir)).toBeUndefined();
  });
});

describe("listContainers and findContainer", () => {
  it("lists newest first; finds by name, id, or a unique prefix (with or without berth-)", async () => {
    const home = await tempDir();
    expect(await listContainers(home)).toEqual([]);
    await containerFolder(home, "berth-abc111", { name: "first", created: "2026-01-01T00:00:01Z", exit: 0 });
    await containerFolder(home, "berth-abc222", { created: "2026-01-01T00:00:03Z", exit: 0 });
    await containerFolder(home, "berth-def333", { name: "abc2", created: "2026-01-01T00:00:02Z", exit: 0 });
    await mkdir(join(home, "run", "containers", "build-step"));
    expect((await listContainers(home)).map((c) => c.record.id)).toEqual([
      "berth-abc222",
      "berth-def333",
      "berth-abc111",
    ]);
    expect((await findContainer(home, "first")).record.id).toBe("berth-abc111");
    // A name wins over an id prefix.
    expect((await findContainer(home, "abc2")).record.id).toBe("berth-def333");
    expect((await findContainer(home, "def")).record.id).toBe("berth-def333");
    expect((await findContainer(home, "berth-abc1")).record.id).toBe("berth-abc111");
    await expect(findContainer(home, "abc")).rejects.toMatchObject({
      code: "CONTAINER_NOT_FOUND",
      message: '"abc" names 2 containers',
      hint: "give more of the id, or the name",
    });
    await expect(findContainer(home, "zzz")).rejects.toMatchObject({
      code: "CONTAINER_NOT_FOUND",
      message: "no such container: zzz",
    });
    await expect(findContainer(home, "berth-")).rejects.toMatchObject({
      message: "no such container: berth-",
    });
  });

  it("removeContainerFiles removes the folder and lets go of the name", async () => {
    const home = await tempDir();
    await containerFolder(home, "berth-abc", { name: "web", created: "1", exit: 0 });
    await claimName(home, "web", "berth-abc");
    await removeContainerFiles(home, await findContainer(home, "web"));
    expect(await listContainers(home)).toEqual([]);
    await claimName(home, "web", "berth-other");
  });
});
