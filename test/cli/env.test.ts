/**
 * src/cli/env.ts: the library's host options a command gets from the process's values and the global flags.
 */
import { describe, expect, it } from "vitest";
import { type Cli, hostOptions } from "../../src/cli/env.ts";
import type { TransportContext } from "../../src/transport/context.ts";
import { testCli } from "../helpers/cli-commands.ts";

// no shared registry client unless the test gives one (main.ts always makes one)
function cli(
  env: Record<string, string | undefined>,
  ctx: Partial<TransportContext> = { shared: undefined },
): Cli {
  return testCli({ home: "/h/berth", env, cwd: "/work/app", uid: 1000, gid: 100, ctx }).cli;
}

describe("hostOptions", () => {
  it("takes the home from the context, the user and folder from the process, the runtime and PATH from the env", () => {
    const env = { BERTH_HOME: "/elsewhere", BERTH_RUNTIME: "crun", PATH: "/usr/bin" };
    const o = hostOptions(cli(env));
    expect(o).toMatchObject({ home: "/h/berth", cwd: "/work/app", uid: 1000, gid: 100 });
    expect(o).toMatchObject({ runtime: "crun", searchPath: "/usr/bin", hostEnv: env });
  });

  it("lets --runtime win over BERTH_RUNTIME", () => {
    expect(hostOptions(cli({ BERTH_RUNTIME: "crun" }), { runtime: "runc" }).runtime).toBe("runc");
    expect(hostOptions(cli({ BERTH_RUNTIME: "crun" }), { runtime: undefined }).runtime).toBe("crun");
  });

  it("reads SOURCE_DATE_EPOCH only for the commands that use it, so a bad one fails only those", () => {
    expect(hostOptions(cli({ SOURCE_DATE_EPOCH: "0" }), { epoch: true }).sourceDateEpoch).toBe(0);
    expect(hostOptions(cli({ SOURCE_DATE_EPOCH: "0" })).sourceDateEpoch).toBeUndefined();
    expect(() => hostOptions(cli({ SOURCE_DATE_EPOCH: "yesterday" }))).not.toThrow();
    expect(() => hostOptions(cli({ SOURCE_DATE_EPOCH: "yesterday" }), { epoch: true })).toThrow(
      /SOURCE_DATE_EPOCH/,
    );
  });

  it("passes on what the global flags put in the context, and leaves out what they did not", () => {
    const logger = { warn: () => undefined };
    const shared = {};
    const o = hostOptions(
      cli({}, { insecureRegistries: ["reg:5000"], caCert: "/ca.pem", jobs: 2, logger, shared }),
    );
    expect(o).toMatchObject({ insecureRegistries: ["reg:5000"], caCert: "/ca.pem", jobs: 2 });
    expect(o.diagnostics).toBe(logger);
    expect(o.shared).toBe(shared);
    const bare = hostOptions(cli({}));
    for (const k of ["insecureRegistries", "caCert", "jobs", "diagnostics", "progress", "shared"]) {
      expect(Object.keys(bare)).not.toContain(k);
    }
  });
});
