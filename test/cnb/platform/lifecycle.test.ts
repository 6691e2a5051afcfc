/**
 * lifecycle.toml and the builder label's `lifecycle` as pack reads and writes them (src/cnb/platform/lifecycle.ts):
 * the parse, its error sentences, and the label both ways (the deprecated `api` is the earliest of each list).
 */
import { describe, expect, it } from "vitest";
import {
  lifecycleLabel,
  lifecycleOfLabel,
  NO_LIFECYCLE_LABEL,
  parseLifecycleToml,
} from "../../../src/cnb/platform/lifecycle.ts";
import { thrown } from "./helpers.ts";

const failure = (text: string) => thrown(() => parseLifecycleToml(text, "/x/lifecycle.toml"));

describe("parseLifecycleToml", () => {
  it("the release's [apis] lists", () => {
    const text = `[apis.buildpack]
deprecated = []
supported = ["0.7", "0.8", "0.11"]
[apis.platform]
deprecated = ["0.11"]
supported = ["0.12", "0.13"]

[lifecycle]
version = "0.21.0"
`;
    expect(parseLifecycleToml(text, "lifecycle.toml")).toEqual({
      version: "0.21.0",
      apis: {
        buildpack: { deprecated: [], supported: ["0.7", "0.8", "0.11"] },
        platform: { deprecated: ["0.11"], supported: ["0.12", "0.13"] },
      },
    });
  });

  it("the older [api] table stands in for an empty supported list", () => {
    const text = `[api]\nbuildpack = "0.2"\nplatform = "0.3"\n[lifecycle]\nversion = "0.7.0"\n`;
    expect(parseLifecycleToml(text, "lifecycle.toml").apis).toEqual({
      buildpack: { deprecated: [], supported: ["0.2"] },
      platform: { deprecated: [], supported: ["0.3"] },
    });
  });

  it("bad input: the sentence names the file and the field", () => {
    expect(failure(`[apis.platform]\nsupported = ["0.12"]\n`)).toEqual({
      code: "CNB_CONFIG_INVALID",
      message: "lifecycle: /x/lifecycle.toml: lifecycle.version is required",
    });
    expect(failure(`[lifecycle]\nversion = "1"\n[apis.platform]\nsupported = ["0.12", "next"]\n`)).toEqual({
      code: "CNB_CONFIG_INVALID",
      message:
        'lifecycle: /x/lifecycle.toml: apis.platform.supported holds "next", which is not an API version',
    });
    expect(failure(`[lifecycle]\nversion = "1"\n[apis.buildpack]\nsupported = ["0.9"]\n`)).toEqual({
      code: "CNB_CONFIG_INVALID",
      message: "lifecycle: /x/lifecycle.toml: apis.platform.supported is empty",
    });
    expect(failure(`[lifecycle\n`)).toMatchObject({
      message: expect.stringMatching(/is not valid TOML \(line 1/),
    });
  });
});

describe("the builder label's lifecycle", () => {
  const d = {
    version: "0.21.0",
    apis: {
      buildpack: { deprecated: ["0.2"], supported: ["0.10", "0.3"] },
      platform: { deprecated: [], supported: ["0.13", "0.12"] },
    },
  };

  it("api holds the earliest version of each list (numeric order, not text order)", () => {
    expect(lifecycleLabel(d)).toEqual({
      version: "0.21.0",
      api: { buildpack: "0.2", platform: "0.12" },
      apis: d.apis,
    });
  });

  it("read back, it gives the descriptor; an old label's api fills an absent list; no version is no lifecycle", () => {
    expect(lifecycleOfLabel(lifecycleLabel(d))).toEqual(d);
    expect(lifecycleOfLabel({ version: "0.9.0", api: { buildpack: "0.2", platform: "0.3" } })).toEqual({
      version: "0.9.0",
      apis: {
        buildpack: { deprecated: [], supported: ["0.2"] },
        platform: { deprecated: [], supported: ["0.3"] },
      },
    });
    expect(lifecycleOfLabel(NO_LIFECYCLE_LABEL)).toBeUndefined();
    expect(lifecycleOfLabel(undefined)).toBeUndefined();
  });
});
