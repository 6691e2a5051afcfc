import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/oci/config.ts";
import { digestBytes } from "../../src/oci/digest.ts";
import { errorOf } from "../helpers/oci.ts";

const diffId = digestBytes("layer");
const base = { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [diffId] } };
const bytes = (doc: unknown) => Buffer.from(JSON.stringify(doc));

describe("parseConfig", () => {
  it("reads a full config, unknown fields kept", () => {
    const doc = {
      ...base,
      created: "2024-01-02T03:04:05Z",
      author: "me",
      variant: "v8",
      config: {
        User: "1000",
        Env: ["PATH=/bin", "EMPTY="],
        Entrypoint: null,
        Cmd: ["sh"],
        Labels: { a: "b" },
        ExposedPorts: { "80/tcp": {} },
        WorkingDir: "/app",
        Custom: 1,
      },
      history: [{ created_by: "x", empty_layer: true }],
      "moby.buildkit": "kept",
    };
    expect(parseConfig(bytes(doc))).toEqual(doc);
  });

  it("accepts a null config and an empty layer list", () => {
    expect(
      parseConfig(bytes({ ...base, config: null, rootfs: { type: "layers", diff_ids: [] } })).rootfs.diff_ids,
    ).toEqual([]);
  });

  it.each([
    ["c must be a JSON object", []],
    ["c.os must be a string", { ...base, os: 1 }],
    ["c.architecture must be a string", { ...base, architecture: undefined }],
    ["c.created must be an RFC 3339 date-time", { ...base, created: "yesterday" }],
    ["c.author must be a string", { ...base, author: 1 }],
    ["c.variant must be a string", { ...base, variant: 8 }],
    ["c.rootfs must be an object", { ...base, rootfs: [] }],
    ['c.rootfs.type must be "layers", not "layered"', { ...base, rootfs: { type: "layered", diff_ids: [] } }],
    ["c.rootfs.diff_ids must be an array", { ...base, rootfs: { type: "layers" } }],
    ["c.history must be an array", { ...base, history: {} }],
    ["c.history[1] must be an object", { ...base, history: [{}, 1] }],
    ["c.history[0].empty_layer must be a boolean", { ...base, history: [{ empty_layer: "yes" }] }],
    ["c.config must be an object", { ...base, config: [] }],
    ["c.config.User must be a string", { ...base, config: { User: 0 } }],
    ["c.config.Env must be an array of strings", { ...base, config: { Env: "A=1" } }],
    ['c.config.Env[1] "B" is not of the form KEY=VALUE', { ...base, config: { Env: ["A=1", "B"] } }],
    ['c.config.Env[0] "=1" is not of the form KEY=VALUE', { ...base, config: { Env: ["=1"] } }],
    ["c.config.Cmd must be an array of strings", { ...base, config: { Cmd: "sh" } }],
    ["c.config.Entrypoint must be an array of strings", { ...base, config: { Entrypoint: [1] } }],
    ["c.config.Shell must be an array of strings", { ...base, config: { Shell: [1] } }],
    ["c.config.ExposedPorts must be an object", { ...base, config: { ExposedPorts: ["80"] } }],
    ["c.config.Volumes must be an object", { ...base, config: { Volumes: "/v" } }],
    ['c.config.Labels["a"] must be a string', { ...base, config: { Labels: { a: 1 } } }],
    ["c.config.Labels must be an object", { ...base, config: { Labels: [] } }],
    ["c.config.WorkingDir must be a string", { ...base, config: { WorkingDir: 1 } }],
    ["c.config.StopSignal must be a string", { ...base, config: { StopSignal: 9 } }],
  ])("%s", async (message, doc) => {
    const err = await errorOf(() => parseConfig(bytes(doc), "c"));
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.message).toBe(message);
  });

  it("refuses a bad diff_id as CONFIG_INVALID, naming its index", async () => {
    const err = await errorOf(() =>
      parseConfig(bytes({ ...base, rootfs: { type: "layers", diff_ids: [diffId, "x"] } })),
    );
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.message).toBe('config.rootfs.diff_ids[1] "x" is not a valid digest');
  });

  it("refuses bytes that are not JSON", async () => {
    const err = await errorOf(() => parseConfig(Buffer.from("{"), "config sha256:x"));
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.message).toMatch(/^config sha256:x /);
  });
});
