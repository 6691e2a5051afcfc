import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { applyChanges, mutateImage } from "../../src/image/mutate.ts";
import type { TransportContext } from "../../src/transport/context.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { layoutImage } from "../helpers/image.ts";
import { tempDir } from "../helpers/temp.ts";
import { umociImage } from "../helpers/umoci.ts";

describe("applyChanges", () => {
  const base = {
    Env: ["PATH=/bin", "A=1"],
    Entrypoint: ["/init"],
    Cmd: ["serve"],
    Labels: { a: "1" },
    ExposedPorts: { "80/tcp": {} },
  };

  it("sets env by name, merges labels and ports (tcp unless said), and keeps the rest", () => {
    expect(
      applyChanges(base, { env: ["A=2", "B=3"], labels: { b: "2" }, expose: ["443", "53/udp"] }),
    ).toEqual({
      ...base,
      Env: ["PATH=/bin", "A=2", "B=3"],
      Labels: { a: "1", b: "2" },
      ExposedPorts: { "80/tcp": {}, "443/tcp": {}, "53/udp": {} },
    });
    expect(base.Env).toEqual(["PATH=/bin", "A=1"]);
  });

  it("resets an inherited Cmd with a new entrypoint, as docker does, unless a Cmd is given", () => {
    expect(applyChanges(base, { entrypoint: ["/new"] })).toMatchObject({ Entrypoint: ["/new"], Cmd: null });
    expect(applyChanges(base, { entrypoint: ["/new"], cmd: ["x"] })).toMatchObject({ Cmd: ["x"] });
    expect(applyChanges(base, { entrypoint: null })).toMatchObject({ Entrypoint: null, Cmd: null });
    expect(applyChanges(base, { cmd: null })).toMatchObject({ Entrypoint: ["/init"], Cmd: null });
  });

  it("sets workdir and user, and leaves a config alone for empty changes", () => {
    expect(applyChanges({}, { workdir: "/app", user: "1000:1000" })).toEqual({
      WorkingDir: "/app",
      User: "1000:1000",
    });
    expect(applyChanges(base, { env: [], labels: {}, expose: [] })).toEqual(base);
  });
});

describe("mutateImage", () => {
  it("writes the base's layers with a changed config, keeping its created time unless given one", async () => {
    const dir = await tempDir();
    await umociImage(join(dir, "base"), "v1", [[{ path: "f", content: "x" }]], { cmd: ["sh"], env: ["A=1"] });
    const ctx: TransportContext = { home: join(dir, "home"), env: {} };
    const base = parseImageArgument(`oci:${join(dir, "base")}:v1`);
    const was = await layoutImage(join(dir, "base"), "v1");
    await mutateImage(
      base,
      parseImageArgument(`oci:${join(dir, "out")}:m`),
      { env: ["A=2"], user: "app" },
      ctx,
    );
    const got = await layoutImage(join(dir, "out"), "m");
    expect(got.manifest.layers).toEqual(was.manifest.layers);
    expect(got.config?.config).toMatchObject({
      Env: expect.arrayContaining(["A=2"]),
      User: "app",
      Cmd: ["sh"],
    });
    expect(got.config?.created).toBe(was.config?.created);
    await mutateImage(base, parseImageArgument(`oci:${join(dir, "out")}:e`), { sourceDateEpoch: 86400 }, ctx);
    expect((await layoutImage(join(dir, "out"), "e")).config?.created).toBe("1970-01-02T00:00:00Z");
  });
});
