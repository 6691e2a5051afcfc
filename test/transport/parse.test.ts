import { describe, expect, it } from "vitest";
import { BerthError } from "../../src/errors.ts";
import { parseImageArgument, registryArgument } from "../../src/transport/parse.ts";

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return err instanceof BerthError ? err.code : `not a BerthError: ${String(err)}`;
  }
  return undefined;
}

describe("parseImageArgument", () => {
  it("a bare reference is the local store", () => {
    expect(parseImageArgument("app:1")).toEqual({ transport: "store", ref: "app:1", text: "app:1" });
    expect(parseImageArgument(`127.0.0.1:5000/team/app@sha256:${"a".repeat(64)}`)).toMatchObject({
      transport: "store",
      ref: `127.0.0.1:5000/team/app@sha256:${"a".repeat(64)}`,
    });
  });

  it("a bare reference is the registry with default: docker, spelled as docker:// in text", () => {
    expect(parseImageArgument("127.0.0.1:5000/app:1", { default: "docker" })).toEqual({
      transport: "docker",
      ref: "127.0.0.1:5000/app:1",
      text: "docker://127.0.0.1:5000/app:1",
    });
    // A transport that is spelled wins over the default.
    expect(parseImageArgument("oci:/tmp/l:x", { default: "docker" })).toEqual({
      transport: "oci",
      path: "/tmp/l",
      ref: "x",
      text: "oci:/tmp/l:x",
    });
  });

  it("docker:// takes a registry reference and validates it", () => {
    expect(parseImageArgument("docker://[::1]:5000/a/b:c")).toEqual({
      transport: "docker",
      ref: "[::1]:5000/a/b:c",
      text: "docker://[::1]:5000/a/b:c",
    });
    expect(code(() => parseImageArgument("docker://host/Upper"))).toBe("REFERENCE_INVALID");
  });

  it("path transports end the path at the first colon, as skopeo does", () => {
    expect(parseImageArgument("oci:./layout")).toEqual({
      transport: "oci",
      path: "./layout",
      ref: undefined,
      text: "oci:./layout",
    });
    expect(parseImageArgument("oci-archive:/x/a.tar:name:tag")).toMatchObject({
      transport: "oci-archive",
      path: "/x/a.tar",
      ref: "name:tag",
    });
    expect(parseImageArgument("docker-archive:a.tar:")).toMatchObject({ path: "a.tar", ref: undefined });
    expect(code(() => parseImageArgument("oci:"))).toBe("TRANSPORT_INVALID");
    expect(code(() => parseImageArgument("oci-archive::ref"))).toBe("TRANSPORT_INVALID");
  });

  it("scratch only where allowed", () => {
    expect(parseImageArgument("scratch", { allowScratch: true })).toEqual({
      transport: "scratch",
      text: "scratch",
    });
    expect(parseImageArgument("scratch")).toMatchObject({ transport: "store", ref: "scratch" });
  });

  it("skopeo's other transports are refused by name, with a hint", () => {
    for (const t of ["dir:/x", "containers-storage:app", "docker-daemon:app:1", "tarball:x.tar"]) {
      let err: unknown;
      try {
        parseImageArgument(t);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BerthError);
      expect((err as BerthError).code).toBe("TRANSPORT_UNSUPPORTED");
      expect((err as BerthError).message).toContain(t.split(":")[0]);
    }
    // A registry host with a port is not a transport.
    expect(parseImageArgument("localhost:5000/app")).toMatchObject({ transport: "store" });
  });

  it("an invalid bare reference names itself", () => {
    let err: unknown;
    try {
      parseImageArgument("Bad Name");
    } catch (e) {
      err = e;
    }
    expect((err as BerthError).code).toBe("REFERENCE_INVALID");
    expect((err as BerthError).message).toContain('"Bad Name"');
  });
});

describe("registryArgument", () => {
  it("names the registry with or without docker://, and never reads a transport prefix", () => {
    const want = { transport: "docker", ref: "127.0.0.1:5000/app:1", text: "docker://127.0.0.1:5000/app:1" };
    expect(registryArgument("127.0.0.1:5000/app:1")).toEqual(want);
    expect(registryArgument("docker://127.0.0.1:5000/app:1")).toEqual(want);
    // not the oci: transport: as a registry reference, "oci:/tmp/layout" is invalid
    expect(code(() => registryArgument("oci:/tmp/layout"))).toBe("REFERENCE_INVALID");
  });

  it("an invalid reference names itself", () => {
    expect(code(() => registryArgument("Bad/Name"))).toBe("REFERENCE_INVALID");
  });
});
