import { describe, expect, it } from "vitest";
import { copySides } from "../../src/cli/copy-sides.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";

const ctx = { home: "/h", env: {}, insecureRegistries: ["global.example"] };
const sides = (
  flags: Record<string, string | boolean>,
  src = "docker://a.example/x",
  dst = "docker://b.example/y",
) => copySides(ctx, flags, parseImageArgument(src), parseImageArgument(dst), "/cwd");

describe("copySides", () => {
  it("gives each side its own registry client state and its own flags", () => {
    const s = sides({ srcCreds: "u:p:q", destRegistryToken: "tok", authfile: "auth.json" });
    expect(s.source.shared).not.toBe(s.destination.shared);
    expect(s.source.registryAccess).toEqual({
      credential: { kind: "basic", username: "u", password: "p:q" },
      authFile: "/cwd/auth.json",
      certDir: undefined,
    });
    expect(s.destination.registryAccess?.credential).toEqual({ kind: "registryToken", token: "tok" });
    expect(s.destination.registryAccess?.authFile).toBe("/cwd/auth.json");
  });

  it("a side's --authfile wins over the shared one; --no-creds is anonymous", () => {
    const s = sides({ authfile: "/a.json", destAuthfile: "d.json", srcNoCreds: true });
    expect(s.source.registryAccess).toMatchObject({ credential: "anonymous", authFile: "/a.json" });
    expect(s.destination.registryAccess?.authFile).toBe("/cwd/d.json");
  });

  it("--tls-verify=false lists that side's registry as insecure, and only that side's", () => {
    const s = sides(
      { destTlsVerify: "false", srcTlsVerify: "true" },
      "docker://a.example/x",
      "docker://busybox",
    );
    expect(s.source.insecureRegistries).toEqual(["global.example"]);
    expect(s.destination.insecureRegistries).toEqual(["global.example", "registry-1.docker.io"]);
    // a bare flag is true, as Go's bool flags
    expect(sides({ srcTlsVerify: true }).source.insecureRegistries).toEqual(["global.example"]);
  });

  it("--tls-verify=false on a side that is no registry changes nothing", () => {
    const s = sides({ srcTlsVerify: "0" }, "oci:/l:t");
    expect(s.source.insecureRegistries).toEqual(["global.example"]);
  });
});

describe("copySides shares what it can", () => {
  it("keeps the command's context when no flag changes anything, and one context for both sides that agree", () => {
    const none = sides({});
    expect(none.source).toBe(ctx);
    expect(none.destination).toBe(ctx);
    const both = sides({ authfile: "/a.json" });
    expect(both.source).not.toBe(ctx);
    expect(both.destination).toBe(both.source);
    const one = sides({ destCreds: "u:p" });
    expect(one.source).toBe(ctx);
    expect(one.destination).not.toBe(ctx);
  });
});

describe("--tls-verify=true", () => {
  it("lists that side's registry as HTTPS-only", () => {
    const s = sides({ srcTlsVerify: "true" }, "docker://127.0.0.1:5000/x");
    expect(s.source.registryAccess?.secure).toEqual(["127.0.0.1:5000"]);
    expect(s.destination).toBe(ctx);
  });
});
