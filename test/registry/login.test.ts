import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isBerthError } from "../../src/errors.ts";
import { resolveCredential } from "../../src/registry/credentials.ts";
import { login, logout } from "../../src/registry/login.ts";
import { tempDir } from "../helpers/temp.ts";
import { htpasswdLine } from "./helpers/certs.ts";
import { type RegistryHarness, startRegistry } from "./helpers/registry.ts";

const SECRET = "l0gin-Secret-never-stored-when-refused";
let reg: RegistryHarness;

beforeAll(async () => {
  reg = await startRegistry({ htpasswd: [await htpasswdLine("bob", SECRET)] });
});
afterAll(() => reg?.stop());

describe("login and logout", () => {
  it("store nothing when the registry refuses, and say so without the password", async () => {
    const env = { DOCKER_CONFIG: await tempDir() };
    const err = await login(reg.host, "bob", "wrong-password", { env }).catch((e: unknown) => e);
    expect(isBerthError(err, "REGISTRY_UNAUTHORIZED")).toBe(true);
    expect((err as Error).message).toMatch(new RegExp(`^pinging ${reg.host}`));
    expect(
      JSON.stringify({ m: (err as Error).message, d: (err as { details?: unknown }).details }),
    ).not.toContain("wrong-password");
    await expect(stat(join(env.DOCKER_CONFIG, "config.json"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("store accepted credentials in config.json (0600), and logout erases them once", async () => {
    const env = { DOCKER_CONFIG: await tempDir() };
    const where = await login(reg.host, "bob", SECRET, { env });
    expect(where).toBe(join(env.DOCKER_CONFIG, "config.json"));
    expect((await stat(where)).mode & 0o777).toBe(0o600);
    expect(await resolveCredential(reg.host, { env })).toEqual({
      kind: "basic",
      username: "bob",
      password: SECRET,
    });
    expect(await logout(reg.host, { env })).toBe(true);
    expect(await logout(reg.host, { env })).toBe(false);
    expect(await readFile(where, "utf8")).not.toContain(Buffer.from(`bob:${SECRET}`).toString("base64"));
  });
});
