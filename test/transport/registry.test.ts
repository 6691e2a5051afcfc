import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isBerthError } from "../../src/errors.ts";
import { parseReference } from "../../src/oci/reference.ts";
import { closeContext, type TransportContext } from "../../src/transport/context.ts";
import { referenceTarget, registryOptions, sharedClient } from "../../src/transport/registry.ts";
import { tempDir } from "../helpers/temp.ts";

describe("registryOptions", () => {
  it("passes the context's environment, registries, CA, jobs and logger on", () => {
    const logger = { warn: () => {} };
    const ctx: TransportContext = {
      home: "/h",
      env: { DOCKER_CONFIG: "/c" },
      insecureRegistries: ["reg.invalid"],
      caCert: "/ca.pem",
      jobs: 3,
      logger,
    };
    expect(registryOptions(ctx)).toEqual({
      env: { DOCKER_CONFIG: "/c" },
      insecure: ["reg.invalid"],
      caCert: "/ca.pem",
      jobs: 3,
      logger,
    });
  });

  it("treats an empty CA path and zero jobs as not given", () => {
    const o = registryOptions({ home: "/h", env: {}, caCert: "", jobs: 0 });
    expect([o.caCert, o.jobs]).toEqual([undefined, undefined]);
  });
});

describe("sharedClient", () => {
  it("is one client for a context and its copies sharing state, a new one after closeContext", async () => {
    const shared = {};
    const ctx: TransportContext = { home: "/h", env: {}, shared };
    const a = await sharedClient(ctx);
    expect(await sharedClient({ ...ctx, jobs: 8 })).toBe(a);
    expect(await sharedClient({ home: "/h", env: {} })).not.toBe(a);
    await closeContext(ctx);
    expect(await sharedClient(ctx)).not.toBe(a);
    await closeContext(ctx);
  });

  it("forgets a client that failed to open, so the next use tries again", async () => {
    const dir = await tempDir();
    const ctx: TransportContext = { home: dir, env: {}, caCert: join(dir, "ca.pem"), shared: {} };
    const first = sharedClient(ctx);
    const err = await first.catch((e: unknown) => e);
    expect(isBerthError(err, "IO")).toBe(true);
    expect((err as Error).message).toMatch(/^reading CA certificates .*ca\.pem: ENOENT/);
    expect(sharedClient(ctx)).not.toBe(first);
    await sharedClient(ctx).catch(() => undefined);
  });
});

describe("referenceTarget", () => {
  it("asks for the digest, else the tag, else latest", () => {
    const d = `sha256:${"a".repeat(64)}`;
    expect(referenceTarget(parseReference(`127.0.0.1:5000/a:v1@${d}`))).toBe(d);
    expect(referenceTarget(parseReference("127.0.0.1:5000/a:v1"))).toBe("v1");
    expect(referenceTarget({ registry: "127.0.0.1:5000", repository: "a" })).toBe("latest");
  });
});
