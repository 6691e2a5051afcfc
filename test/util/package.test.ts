import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { packagePath, usePackageRoot } from "../../src/util/package.ts";

describe("packagePath", () => {
  it("finds berth's own folder from its sources", () => {
    const root = resolve(import.meta.dirname, "../..");
    expect(packagePath("package.json")).toBe(resolve(root, "package.json"));
    expect(JSON.parse(readFileSync(packagePath("package.json"), "utf8")).name).toBe("berth");
    expect(packagePath("a", "b")).toBe(resolve(root, "a/b"));
  });

  it("asks a given root's provider once, on first use", () => {
    let calls = 0;
    usePackageRoot(() => {
      calls++;
      return "/opt/berth-unpacked";
    });
    expect(calls).toBe(0);
    expect(packagePath("builders", "x.toml")).toBe("/opt/berth-unpacked/builders/x.toml");
    expect(packagePath()).toBe("/opt/berth-unpacked");
    expect(calls).toBe(1);
  });
});
