// --json outputs (issue 16, point 9): one object each, schemaVersion first, camelCase keys throughout (labels,
// annotations and env keep the image's own keys).
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { berth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { umociImage } from "../helpers/umoci.ts";

let dir: string;
let home: string;

beforeAll(async () => {
  dir = await tempDir("berth-json-");
  home = join(dir, "home");
  await umociImage(join(dir, "src"), "v1", [[{ path: "hello", content: "hi\n" }]]);
});

/** Keys that are not camelCase, outside the image's own maps. */
function badKeys(value: unknown, path = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => badKeys(v, `${path}[${i}]`));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) => [
    ...(/^[a-z][a-zA-Z0-9]*$/.test(k) ? [] : [`${path}.${k}`]),
    ...(["labels", "annotations"].includes(k) ? [] : badKeys(v, `${path}.${k}`)),
  ]);
}

describe("--json", () => {
  it("every command's JSON has schemaVersion 1 first and camelCase keys", async () => {
    const runs: string[][] = [
      ["copy", "--json", `oci:${join(dir, "src")}:v1`, "app:1"],
      ["images", "--json"],
      ["inspect", "--json", "app:1"],
      ["mutate", "app:1", "-t", "app:2", "--env", "A=1", "--json"],
      ["append", "app:1", join(dir, "src"), "-t", "app:3", "--json"],
      ["store", "gc", "--json"],
      ["store", "fsck", "--json"],
    ];
    for (const args of runs) {
      const r = await berth(args, { home });
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
      const doc = JSON.parse(r.stdout) as Record<string, unknown>;
      expect(Object.keys(doc)[0], args.join(" ")).toBe("schemaVersion");
      expect(doc.schemaVersion).toBe(1);
      expect(badKeys(doc), args.join(" ")).toEqual([]);
    }
  });
});
