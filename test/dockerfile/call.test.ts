// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are Dockerfile text, not templates
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { callSubrequest } from "../../src/dockerfile/call.ts";
import { tempDir } from "../helpers/temp.ts";

describe("callSubrequest: --call outline / targets from the Dockerfile read, nothing built", () => {
  const DOCKERFILE =
    "ARG TAG=1\nFROM scratch AS base\nARG TAG\nARG TARGETARCH\nARG P=${TARGETARCH}\nFROM base\n";
  async function inputs(extra: object = {}) {
    const contextDir = await tempDir();
    await writeFile(join(contextDir, "Dockerfile"), DOCKERFILE);
    return { contextDir, dockerfile: { path: join(contextDir, "Dockerfile") }, ...extra };
  }

  it("outline: the build args, the target platform's variables expanded for the one given", async () => {
    const i = await inputs({ platform: { os: "linux", architecture: "riscv64" }, buildArgs: { TAG: "2" } });
    const r = await callSubrequest("outline", i, { home: join(i.contextDir, "home"), env: {} });
    expect(r.text).toBe(
      "BUILD ARG   VALUE     DESCRIPTION\nTAG         2         \nP           riscv64   \n\n",
    );
    expect(JSON.parse(r.json).sources).toEqual([Buffer.from(DOCKERFILE).toString("base64")]);
  });

  it("targets: every stage", async () => {
    const i = await inputs();
    const r = await callSubrequest("targets", i, { home: join(i.contextDir, "home"), env: {} });
    expect(r.text).toBe("TARGET    DESCRIPTION\nbase      \n(default) \n");
  });
});
