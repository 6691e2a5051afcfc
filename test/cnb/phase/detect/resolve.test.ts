/**
 * Build-plan resolution for one group (src/cnb/phase/detect/resolve.ts, lc phase/detector.go `Resolve`) from
 * detect results given directly: pass/fail/error, provides and requires in order, `or` alternatives tried
 * depth first, optional members dropped, extensions never passing a group alone.
 */
import { describe, expect, it } from "vitest";
import type { BuildPlan } from "../../../../src/cnb/buildpack/plan.ts";
import {
  type DetectRun,
  type Member,
  resolveGroup,
  runKey,
} from "../../../../src/cnb/phase/detect/resolve.ts";
import { memoryLogger } from "../../helpers.ts";

const member = (id: string, o: { optional?: boolean; extension?: boolean } = {}): Member => ({
  id,
  version: "1.0.0",
  api: "0.10",
  optional: o.optional ?? false,
  ...(o.extension ? { extension: true } : {}),
});
const plan = (p: {
  provides?: string[];
  requires?: string[];
  or?: { provides?: string[]; requires?: string[] }[];
}): BuildPlan => ({
  provides: (p.provides ?? []).map((name) => ({ name })),
  requires: (p.requires ?? []).map((name) => ({ name })),
  or: (p.or ?? []).map((s) => ({
    provides: (s.provides ?? []).map((name) => ({ name })),
    requires: (s.requires ?? []).map((name) => ({ name })),
  })),
});

function resolve(entries: [Member, DetectRun][]) {
  const log = memoryLogger();
  const r = resolveGroup(
    entries.map(([m]) => m),
    new Map(entries.map(([m, run]) => [runKey(m), run])),
    log,
  );
  return { r, log: log.text() };
}
const pass = (p: BuildPlan = plan({})): DetectRun => ({ code: 0, output: "", plan: p });

describe("resolveGroup", () => {
  it("a provider before its requirer: one plan entry naming both", () => {
    const { r } = resolve([
      [member("node"), pass(plan({ provides: ["node"] }))],
      [member("npm"), pass(plan({ requires: ["node"] }))],
    ]);
    expect(r).toEqual({
      ok: true,
      group: [member("node"), member("npm")],
      plan: [{ providers: [{ id: "node", version: "1.0.0" }], requires: [{ name: "node" }] }],
    });
  });

  it("a requirement no earlier member provides fails a required member; an optional one is skipped", () => {
    const late = resolve([
      [member("npm"), pass(plan({ requires: ["node"] }))],
      [member("node"), pass(plan({ provides: ["node"] }))],
    ]);
    expect(late.r).toEqual({ ok: false, reason: "fail" });
    expect(late.log).toContain("DEBUG fail: npm@1.0.0 requires node");
    const optional = resolve([
      [member("npm", { optional: true }), pass(plan({ requires: ["node"] }))],
      [member("go"), pass()],
    ]);
    expect(optional.r).toMatchObject({ ok: true, group: [member("go")] });
    expect(optional.log).toContain("DEBUG skip: npm@1.0.0 requires node");
  });

  it("a provide nobody requires fails the member, unless optional", () => {
    expect(resolve([[member("a"), pass(plan({ provides: ["x"] }))]]).r).toEqual({
      ok: false,
      reason: "fail",
    });
    const r = resolve([
      [member("a", { optional: true }), pass(plan({ provides: ["x"] }))],
      [member("b"), pass()],
    ]);
    expect(r.r).toMatchObject({ ok: true, group: [member("b")] });
    expect(r.log).toContain("DEBUG skip: a@1.0.0 provides unused x");
  });

  it("`or` alternatives are tried left to right, depth first; the first that holds wins", () => {
    const { r, log } = resolve([
      [member("a"), pass(plan({ provides: ["x"], or: [{ provides: ["y"] }] }))],
      [member("b"), pass(plan({ requires: ["z"], or: [{ requires: ["y"] }] }))],
    ]);
    expect(r).toEqual({
      ok: true,
      group: [member("a"), member("b")],
      plan: [{ providers: [{ id: "a", version: "1.0.0" }], requires: [{ name: "y" }] }],
    });
    // x/z, x/y, y/z fail; y/y is the fourth try.
    expect(log).toContain("Resolving plan... (try #4)");
    expect(log).not.toContain("try #5");
  });

  it("only a member's last alternative keeps it optional: an earlier one that fails the trial fails it, not the member", () => {
    const { r, log } = resolve([
      [member("a", { optional: true }), pass(plan({ provides: ["x"], or: [{}] }))],
      [member("b"), pass()],
    ]);
    expect(r).toEqual({ ok: true, group: [member("a", { optional: true }), member("b")], plan: [] });
    expect(log).toContain("DEBUG fail: a@1.0.0 provides unused x");
  });

  it("detect results: 100 fails a required member, anything else is an error; optional members are skipped", () => {
    expect(resolve([[member("a"), { code: 100, output: "" }]]).r).toEqual({ ok: false, reason: "fail" });
    const err = resolve([
      [member("a"), { code: 3, output: "" }],
      [member("b"), { code: 100, output: "" }],
    ]);
    expect(err.r).toEqual({ ok: false, reason: "error" });
    expect(err.log).toContain("err:  a@1.0.0 (3)");
    expect(
      resolve([
        [member("a", { optional: true }), { code: 7, output: "" }],
        [member("b"), pass()],
      ]).r,
    ).toMatchObject({ ok: true, group: [member("b")] });
  });

  it("extensions alone never make a group pass; with a buildpack they stay in the group and the plan", () => {
    expect(resolve([[member("ext", { extension: true, optional: true }), pass()]]).r).toEqual({
      ok: false,
      reason: "fail",
    });
    const { r } = resolve([
      [member("ext", { extension: true, optional: true }), pass(plan({ provides: ["x"] }))],
      [member("bp"), pass(plan({ requires: ["x"] }))],
    ]);
    expect(r).toMatchObject({
      ok: true,
      plan: [{ providers: [{ id: "ext", version: "1.0.0", extension: true }], requires: [{ name: "x" }] }],
    });
  });

  it("a member without a detect run is a programming error, named", () => {
    expect(() => resolveGroup([member("a")], new Map(), memoryLogger())).toThrow(
      "missing detection of buildpack a@1.0.0",
    );
  });
});
