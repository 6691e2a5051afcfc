/** docker's `--ulimit` and `--shm-size` values and BuildKit's cgroupsPath, read as they do (src/runtime/limits.ts). */
import { expect, it } from "vitest";
import {
  cgroupsPath,
  parseShmSize,
  parseUlimit,
  parseUlimits,
  ramInBytes,
} from "../../src/runtime/limits.ts";

it("--ulimit TYPE=SOFT[:HARD] as go-units' ParseUlimit: HARD defaults to SOFT, -1 is unlimited", () => {
  expect(parseUlimit("nofile=1024:2048")).toEqual({ type: "RLIMIT_NOFILE", soft: 1024, hard: 2048 });
  expect(parseUlimit("nproc=50")).toEqual({ type: "RLIMIT_NPROC", soft: 50, hard: 50 });
  expect(parseUlimit("core=-1")).toEqual({ type: "RLIMIT_CORE", soft: -1, hard: -1 });
  expect(parseUlimit("core=0:-1")).toEqual({ type: "RLIMIT_CORE", soft: 0, hard: -1 });
});

it("a bad --ulimit is go-units' sentence naming the flag", () => {
  const msg = (v: string) => {
    try {
      parseUlimit(v);
    } catch (err) {
      return (err as Error).message;
    }
    return "accepted";
  };
  expect(msg("nofiles=1")).toBe('--ulimit "nofiles=1": invalid ulimit type: nofiles');
  expect(msg("as=1")).toBe('--ulimit "as=1": invalid ulimit type: as');
  expect(msg("nofile")).toBe('--ulimit "nofile": invalid ulimit argument: nofile');
  expect(msg("nofile=1:2:3")).toBe(
    '--ulimit "nofile=1:2:3": too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`',
  );
  expect(msg("nofile=2:1")).toBe(
    '--ulimit "nofile=2:1": ulimit soft limit must be less than or equal to hard limit: 2 > 1',
  );
  expect(msg("nofile=-1:10")).toBe(
    '--ulimit "nofile=-1:10": ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: 10',
  );
  expect(msg("nofile=lots")).toBe('--ulimit "nofile=lots": "lots" is not a whole number');
});

it("several --ulimit: a later one of a type wins (docker's map by name), in the order of their names", () => {
  expect(parseUlimits(["nproc=5", "nofile=1:2", "nproc=7"])).toEqual([
    { type: "RLIMIT_NOFILE", soft: 1, hard: 2 },
    { type: "RLIMIT_NPROC", soft: 7, hard: 7 },
  ]);
});

it("--shm-size as docker's RAMInBytes (binary units); 0 is none; anything else one sentence naming the flag", () => {
  expect(parseShmSize("128m")).toBe(128 * 1024 * 1024);
  expect(parseShmSize("1GiB")).toBe(1024 ** 3);
  expect(parseShmSize("1.5k")).toBe(1536);
  expect(parseShmSize("65536")).toBe(65536);
  expect(parseShmSize("0")).toBeUndefined();
  expect(ramInBytes("12x")).toBeUndefined();
  expect(() => parseShmSize("lots")).toThrow('--shm-size "lots" is not a size');
  expect(() => parseShmSize("-1m")).toThrow('--shm-size "-1m" is not a size');
});

it("cgroupsPath as BuildKit's executor: /PARENT/buildkit/ID, cleaned; a systemd slice ending in ':' takes the id", () => {
  expect(cgroupsPath("ci", "abc")).toBe("/ci/buildkit/abc");
  expect(cgroupsPath("/a//b/./c/../", "abc")).toBe("/a/b/buildkit/abc");
  expect(cgroupsPath("system.slice:berth:", "abc")).toBe("system.slice:berth:abc");
  expect(cgroupsPath("system.slice", "abc")).toBe("/system.slice/buildkit/abc");
});
