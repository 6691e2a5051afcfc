import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { executableImage, sharedLibraries } from "../../src/image/executable.ts";
import type { TransportContext } from "../../src/transport/context.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { layoutImage, tarEntries } from "../helpers/image.ts";
import { tempDir } from "../helpers/temp.ts";

const platform = { os: "linux", architecture: "amd64" };

describe("sharedLibraries", () => {
  it("lists the libraries the loader finds, at the paths it lists, from their host files", async () => {
    const libs = await sharedLibraries("/bin/true");
    const dests = libs.map((l) => l.dest ?? "");
    expect(dests.some((d) => /\/libc\.so\.6$/.test(d))).toBe(true);
    expect(dests.some((d) => /\/ld-linux[^/]*\.so\.\d$/.test(d))).toBe(true);
    expect(dests.some((d) => d.includes("vdso"))).toBe(false);
    for (const l of libs) expect(l.source.startsWith("/")).toBe(true);
  });

  it("is none for a file that is not a dynamic executable", async () => {
    const text = join(await tempDir(), "script.txt");
    await writeFile(text, "not a program\n");
    expect(await sharedLibraries(text)).toEqual([]);
  });
});

describe("executableImage", () => {
  it("on scratch: a runtime layer (users, /tmp, libraries, CA) and the executable's, run as the user, reproducibly", async () => {
    const dir = await tempDir();
    const ctx: TransportContext = { home: join(dir, "home"), env: {} };
    await writeFile(join(dir, "ca.crt"), "CA\n");
    const o = {
      executable: "/bin/true",
      dest: "/usr/local/bin/true",
      platform,
      caBundle: join(dir, "ca.crt"),
      user: { id: 1234, name: "app" },
      labels: { a: "b" },
      sourceDateEpoch: 100,
    };
    const scratch = parseImageArgument("scratch", { allowScratch: true });
    const out = (tag: string) => parseImageArgument(`oci:${join(dir, "out")}:${tag}`);
    const one = await executableImage(scratch, out("one"), ctx, o);
    expect((await executableImage(scratch, out("two"), ctx, o)).root.digest).toBe(one.root.digest);

    const image = await layoutImage(join(dir, "out"), "one");
    expect(image.config?.created).toBe("1970-01-01T00:01:40Z");
    expect(image.config?.config).toMatchObject({
      Entrypoint: ["/usr/local/bin/true"],
      Cmd: ["--help"],
      User: "1234:1234",
      WorkingDir: "/tmp",
      Env: [
        "PATH=/usr/local/bin:/usr/bin:/bin",
        "HOME=/tmp",
        "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
      ],
      Labels: { a: "b" },
    });
    const [runtime, exe] = image.layers();
    const files = await tarEntries(await runtime!.uncompressed());
    expect(files["etc/passwd"]).toBe(
      "root:x:0:0:root:/root:/sbin/nologin\napp:x:1234:1234:app:/tmp:/sbin/nologin\n",
    );
    expect(files["etc/group"]).toBe("root:x:0:\napp:x:1234:\n");
    expect(files["etc/ssl/certs/ca-certificates.crt"]).toBe("CA\n");
    expect(files["tmp/"]).toBe("[directory]");
    expect(Object.keys(files).some((n) => /libc\.so\.6$/.test(n))).toBe(true);
    expect(Object.keys(await tarEntries(await exe!.uncompressed()))).toContain("usr/local/bin/true");
  });

  it("on another base: the executable's layer alone, the base's user kept", async () => {
    const dir = await tempDir();
    const ctx: TransportContext = { home: join(dir, "home"), env: {} };
    const scratch = parseImageArgument("scratch", { allowScratch: true });
    const base = parseImageArgument(`oci:${join(dir, "out")}:base`);
    await executableImage(scratch, base, ctx, {
      executable: "/bin/true",
      dest: "/bin/t",
      platform,
      user: { id: 4321, name: "b" },
    });
    await executableImage(base, parseImageArgument(`oci:${join(dir, "out")}:on`), ctx, {
      executable: "/bin/false",
      dest: "/bin/f",
      platform,
    });
    const image = await layoutImage(join(dir, "out"), "on");
    expect(image.manifest.layers).toHaveLength(3);
    expect(image.config?.config).toMatchObject({ Entrypoint: ["/bin/f"], User: "4321:4321" });
    expect(image.config?.config?.Env).not.toContain("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt");
  });
});
