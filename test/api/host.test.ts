/** The host options of the library's entry points and their defaults from an environment (src/api/host.ts). */
import { userInfo } from "node:os";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import {
  berthHome,
  fromEnvironment,
  type HostOptions,
  hostOf,
  sourceDateEpochOf,
  withShared,
} from "../../src/api/host.ts";
import { failure } from "../dockerfile/helpers/failure.ts";

describe("berthHome and sourceDateEpochOf", () => {
  it("BERTH_HOME, else XDG_DATA_HOME/berth, else HOME/.local/share/berth", () => {
    expect(berthHome({ BERTH_HOME: "/b", XDG_DATA_HOME: "/x", HOME: "/h" })).toBe("/b");
    expect(berthHome({ BERTH_HOME: "", XDG_DATA_HOME: "/x", HOME: "/h" })).toBe("/x/berth");
    expect(berthHome({ HOME: "/h" })).toBe("/h/.local/share/berth");
  });

  it("SOURCE_DATE_EPOCH as seconds; unset or empty is none; anything else is refused", () => {
    expect(sourceDateEpochOf({ SOURCE_DATE_EPOCH: "1700000000" })).toBe(1700000000);
    expect(sourceDateEpochOf({ SOURCE_DATE_EPOCH: "" })).toBeUndefined();
    expect(sourceDateEpochOf({})).toBeUndefined();
    expect(failure(() => sourceDateEpochOf({ SOURCE_DATE_EPOCH: "-1" }))).toEqual({
      code: "USAGE",
      message: 'SOURCE_DATE_EPOCH "-1" is not a number of seconds',
    });
  });
});

describe("fromEnvironment and hostOf", () => {
  it("takes the CLI's defaults from the environment", () => {
    const env = {
      BERTH_HOME: "/b",
      BERTH_RUNTIME: "crun",
      PATH: "/bin",
      SOURCE_DATE_EPOCH: "5",
      SECRET: "s",
    };
    expect(fromEnvironment(env, { cwd: "/w", uid: 1, gid: 2 })).toEqual({
      home: "/b",
      hostEnv: env,
      cwd: "/w",
      runtime: "crun",
      searchPath: "/bin",
      uid: 1,
      gid: 2,
      sourceDateEpoch: 5,
    });
    const bare = fromEnvironment({ HOME: "/h", BERTH_RUNTIME: "", PATH: "" });
    expect([bare.runtime, bare.searchPath, bare.uid]).toEqual([undefined, undefined, undefined]);
  });

  it("fills in the user, the folder and silent loggers; passes the transport options down", () => {
    const lines: string[] = [];
    const h = hostOf({
      home: "/b",
      cwd: "rel",
      jobs: 3,
      caCert: "",
      insecureRegistries: ["r:5000"],
      logger: { info: (l) => lines.push(l) },
    });
    expect([h.uid, h.gid]).toEqual([userInfo().uid, userInfo().gid]);
    expect(h.cwd).toBe(resolve("rel"));
    expect(h.ctx).toMatchObject({
      home: "/b",
      env: {},
      jobs: 3,
      caCert: undefined,
      insecureRegistries: ["r:5000"],
    });
    h.info("shown");
    h.warn("dropped");
    expect(lines).toEqual(["shown"]);
    expect(hostOf({ home: "/b", uid: 5, gid: 6 })).toMatchObject({ uid: 5, gid: 6 });
  });

  it("refuses a missing home with a hint", () => {
    expect(failure(() => hostOf({ home: "" }))).toEqual({
      code: "USAGE",
      message: "no home: give BERTH_HOME as the home option",
      hint: "fromEnvironment(env) with the environment gives the CLI's default (~/.local/share/berth)",
    });
  });
});

describe("withShared", () => {
  it("uses the caller's shared state, or makes one for the call", async () => {
    const mine = {};
    expect(await withShared({ home: "/b", shared: mine }, async (o) => o.shared)).toBe(mine);
    const none: HostOptions = { home: "/b" };
    const made = await withShared(none, async (o) => o.shared);
    expect(made).toEqual({});
    expect(made).not.toBe(mine);
  });
});
