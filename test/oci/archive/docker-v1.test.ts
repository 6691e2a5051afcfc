import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sortedJson, v1Layers } from "../../../src/oci/archive/docker-v1.ts";
import { chainIds, digestBytes } from "../../../src/oci/digest.ts";
import { errorOf } from "../../helpers/oci.ts";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const diffIds = [digestBytes("one"), digestBytes("two")];
const config = Buffer.from(
  JSON.stringify({
    os: "linux",
    architecture: "amd64",
    config: { Env: ["A=1"] },
    rootfs: { type: "layers", diff_ids: diffIds },
    history: [{}, {}],
  }),
);

describe("sortedJson", () => {
  it("sorts keys at every level, drops undefined and keeps array order", () => {
    expect(sortedJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined }, e: null })).toBe(
      '{"a":{"d":[3,{"y":2,"z":1}]},"b":1,"e":null}',
    );
    expect(sortedJson("x")).toBe('"x"');
  });
});

describe("v1Layers", () => {
  it("gives each layer an id from its chain id and parent, the top one carrying the config", () => {
    const chain = chainIds(diffIds);
    const [bottom, top] = v1Layers(config, chain);
    const empty = JSON.parse(bottom!.json.toString());
    expect(empty.created).toBe("1970-01-01T00:00:00Z");
    expect(empty.id).toBe(bottom!.id);
    expect(empty.parent).toBeUndefined();
    expect(bottom!.id).toBe(
      sha(
        sortedJson({ container_config: empty.container_config, created: empty.created, layer_id: chain[0] }),
      ),
    );
    const json = JSON.parse(top!.json.toString());
    expect(json).toEqual({
      architecture: "amd64",
      config: { Env: ["A=1"] },
      id: top!.id,
      os: "linux",
      parent: bottom!.id,
    });
    expect(top!.id).toBe(
      sha(
        sortedJson({
          architecture: "amd64",
          config: { Env: ["A=1"] },
          layer_id: chain[1],
          os: "linux",
          parent: `sha256:${bottom!.id}`,
        }),
      ),
    );
  });

  it("is deterministic and shares the ids of a shared layer chain", () => {
    const a = v1Layers(config, chainIds(diffIds));
    expect(v1Layers(config, chainIds(diffIds))).toEqual(a);
    const other = Buffer.from(
      JSON.stringify({ os: "linux", architecture: "arm64", rootfs: { type: "layers", diff_ids: diffIds } }),
    );
    const b = v1Layers(other, chainIds(diffIds));
    expect(b[0]!.id).toBe(a[0]!.id);
    expect(b[1]!.id).not.toBe(a[1]!.id);
    expect(v1Layers(config, [])).toEqual([]);
  });

  it("refuses a config that is not JSON", async () => {
    expect((await errorOf(() => v1Layers(Buffer.from("{"), chainIds(diffIds)))).code).toBe("CONFIG_INVALID");
  });
});
