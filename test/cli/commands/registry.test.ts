import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { runCommand } from "../../helpers/cli-commands.ts";
import { run } from "../../helpers/exec.ts";
import { readIndex } from "../../helpers/layout.ts";
import { tempDir } from "../../helpers/temp.ts";
import { umociImage } from "../../helpers/umoci.ts";
import { htpasswdLine, makePki } from "../../registry/helpers/certs.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";

const SECRET = "s3cr3t-Pa55word-for-cli";

let dir: string;
let home: string;
let src: string;
let digest: string;

beforeAll(async () => {
  dir = await tempDir();
  home = join(dir, "home");
  src = join(dir, "src");
  await umociImage(src, "v1", [
    [{ path: "hello", content: "hello from the registry\n".repeat(500) }],
    [{ path: "more", content: "more" }],
  ]);
  digest = (await readIndex(src)).manifests[0]!.digest;
});

describe("registry commands against a plain-HTTP registry on 127.0.0.1", () => {
  let reg: RegistryHarness;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(() => reg?.stop());

  it("push, tags, pull, copy between repositories (mounted), delete", async () => {
    expect((await berth(["copy", `oci:${src}:v1`, "app:1"], { home })).code).toBe(0);
    const push = await berth(["push", "app:1", `${reg.host}/team/app:1`], { home });
    expect(push.code, push.stderr).toBe(0);
    expect(push.stdout.trim()).toBe(digest);
    expect(
      (await run("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/team/app:1`]))
        .length,
    ).toBeGreaterThan(0);
    const tags = await berth(["tags", "--json", `${reg.host}/team/app`], { home });
    expect(JSON.parse(tags.stdout)).toEqual({
      schemaVersion: 1,
      repository: `${reg.host}/team/app`,
      tags: ["1"],
    });

    await reg.markLog();
    const copy = await berth(
      ["copy", `docker://${reg.host}/team/app:1`, `docker://${reg.host}/other/app:2`],
      { home },
    );
    expect(copy.code, copy.stderr).toBe(0);
    expect(copy.stderr).toMatch(/mounted from another repository/);
    const requests = await reg.requests();
    expect(requests.filter((r) => r.method === "PATCH")).toEqual([]);
    expect(requests.filter((r) => r.method === "POST" && r.uri.includes("mount=")).length).toBe(3);

    const other = join(dir, "pull-home");
    const pull = await berth(["pull", `${reg.host}/other/app:2`], { home: other });
    expect(pull.code, pull.stderr).toBe(0);
    const images = JSON.parse((await berth(["images", "--json"], { home: other })).stdout).images;
    expect(images).toMatchObject([{ name: `${reg.host}/other/app:2`, digest }]);

    const del = await berth(["delete", `docker://${reg.host}/other/app:2`], { home });
    expect(del.code, del.stderr).toBe(0);
    const gone = await berth(["inspect", `docker://${reg.host}/other/app:2`], { home });
    expect(gone.code).toBe(3);
  });

  it("names an unknown image clearly", async () => {
    const r = await berth(["pull", `${reg.host}/nothing/here:1`], { home });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/nothing\/here/);
    expect(r.stderr.trim().split("\n").length).toBeLessThanOrEqual(2);
  });
});

describe("login over TLS with htpasswd", () => {
  let reg: RegistryHarness;
  let ca: string;
  beforeAll(async () => {
    const pki = await makePki(await mkdtemp(join(dir, "pki-")));
    ca = pki.caCert;
    reg = await startRegistry({
      tls: { cert: pki.serverCert, key: pki.serverKey },
      htpasswd: [await htpasswdLine("alice", SECRET)],
    });
  });
  afterAll(() => reg?.stop());

  it("logs in, pushes with the stored credentials, refuses a wrong password, never prints the secret", async () => {
    const env = { DOCKER_CONFIG: join(dir, "docker-config"), SSL_CERT_FILE: ca };
    const outputs: string[] = [];
    const keep = <T extends { stdout: string; stderr: string }>(r: T): T => {
      outputs.push(r.stdout, r.stderr);
      return r;
    };
    const bad = keep(
      await berth(["login", reg.host, "-u", "alice", "--password-stdin"], { home, env, input: "wrong\n" }),
    );
    expect(bad.code).toBe(5);
    expect(bad.stderr).toMatch(/alice/);
    const anon = keep(await berth(["push", "app:1", `${reg.host}/team/app:1`], { home, env }));
    expect(anon.code).toBe(5);
    const ok = keep(
      await berth(["login", reg.host, "-u", "alice", "--password-stdin"], {
        home,
        env,
        input: `${SECRET}\n`,
      }),
    );
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain("Login Succeeded");
    const push = keep(await berth(["push", "app:1", `${reg.host}/team/app:1`], { home, env }));
    expect(push.code, push.stderr).toBe(0);
    const out = keep(await berth(["logout", reg.host], { home, env }));
    expect(out.code).toBe(0);
    const after = keep(await berth(["pull", `${reg.host}/team/app:1`], { home: join(dir, "h3"), env }));
    expect(after.code).toBe(5);
    const b64 = Buffer.from(`alice:${SECRET}`).toString("base64");
    for (const o of outputs) {
      expect(o).not.toContain(SECRET);
      expect(o).not.toContain(b64);
    }
  });
});

describe("login's refusals, in process", () => {
  it("asks for a password when none is given", async () => {
    const r = await runCommand(["login", "127.0.0.1:1", "-u", "ci"], { home: await tempDir() });
    expect(r.error).toMatchObject({ code: "USAGE", message: "login needs --password-stdin (or --password)" });
  });

  it("says standard input was empty with --password-stdin", async () => {
    const r = await runCommand(["login", "127.0.0.1:1", "-u", "ci", "--password-stdin"], {
      home: await tempDir(),
      stdin: "\n",
    });
    expect(r.error).toMatchObject({
      code: "USAGE",
      message: "login --password-stdin read no password: standard input was empty",
    });
  });
});
