/**
 * BuildKit is the oracle (issue 20 point 6): every case of the corpus is built by berth and by BuildKit (a
 * private Docker Engine, `docker save`), and the two images are compared flattened (path, type, mode, owner,
 * size, content, link target, hard-link groups), by config and by history. A case agrees, or differs by exactly
 * the lines its KNOWN entry lists: a deviation that is fixed makes the test fail until its entry goes.
 */
import { appendFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../../helpers/temp.ts";
import { ORACLE_CORPUS } from "./helpers/corpus.ts";
import { KNOWN } from "./helpers/known.ts";
import { type Oracle, startOracle } from "./helpers/oracle.ts";

let tmp: string;
let oracle: Oracle;

beforeAll(async () => {
  tmp = await tempDir("berth-df-buildkit-", { keep: Boolean(process.env.BERTH_ORACLE_KEEP) });
  oracle = await startOracle(tmp);
}, 600_000);

afterAll(async () => {
  await oracle?.stop();
});

describe("berth build vs BuildKit", () => {
  for (const c of ORACLE_CORPUS) {
    it(c.name, async () => {
      const diff = await oracle.compare(c);
      if (process.env.BERTH_ORACLE_RECORD)
        await appendFile(process.env.BERTH_ORACLE_RECORD, `${JSON.stringify({ name: c.name, diff })}\n`);
      expect(diff.sort()).toEqual((KNOWN[c.name] ?? []).flatMap((k) => k.lines).sort());
    });
  }
  it("every KNOWN entry names a case of the corpus", () => {
    const names = new Set(ORACLE_CORPUS.map((c) => c.name));
    expect(Object.keys(KNOWN).filter((k) => !names.has(k))).toEqual([]);
  });
});
