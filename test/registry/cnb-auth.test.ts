/** CNB_REGISTRY_AUTH as the lifecycle reads it (auth/env_keychain.go): registry → Authorization header value. */
import { describe, expect, it } from "vitest";
import { registryAuthEnv, resolveCredential } from "../../src/registry/credentials.ts";

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;

describe("CNB_REGISTRY_AUTH", () => {
  it("gives Basic, Bearer and X-Identity values for the registry named, before docker's config", async () => {
    const env = {
      CNB_REGISTRY_AUTH: JSON.stringify({
        "registry.example.com:5000": basic("alice", "s3cret:x"),
        "ghcr.io": "Bearer tok-1",
        "index.docker.io": "X-Identity refresh-2",
      }),
      DOCKER_CONFIG: "/nonexistent",
    };
    expect(await resolveCredential("registry.example.com:5000", { env })).toEqual({
      kind: "basic",
      username: "alice",
      password: "s3cret:x",
    });
    expect(registryAuthEnv("ghcr.io", env)).toEqual({ kind: "registryToken", token: "tok-1" });
    expect(registryAuthEnv("docker.io", env)).toEqual({ kind: "identityToken", token: "refresh-2" });
    expect(registryAuthEnv("other.example.com", env)).toBeUndefined();
  });

  it("refuses a malformed value without quoting it", () => {
    const secret = "hunter2-do-not-print";
    for (const text of [`{"r.example.com": "Token ${secret}"}`, `not json ${secret}`, `["${secret}"]`]) {
      let message = "";
      try {
        registryAuthEnv("r.example.com", { CNB_REGISTRY_AUTH: text });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/^CNB_REGISTRY_AUTH/);
      expect(message).not.toContain(secret);
    }
  });
});
