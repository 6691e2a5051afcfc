/** `--ca-cert` files for a stack (src/cnb/stack/cas.ts): read relative to the current directory, checked to be PEM, named `.crt`. */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readExtraCas } from "../../../src/cnb/stack/cas.ts";
import { tempDir } from "../../helpers/temp.ts";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

describe("readExtraCas", () => {
  it("paths relative to cwd; .pem/.crt/.cer become .crt, other names get .crt added", async () => {
    const dir = await tempDir("berth-cnb-cas-");
    await mkdir(join(dir, "certs"));
    for (const f of ["corp.pem", "proxy.cer", "plain"]) await writeFile(join(dir, "certs", f), PEM);
    expect(
      await readExtraCas(["certs/corp.pem", join(dir, "certs", "proxy.cer"), "certs/plain"], false, dir),
    ).toEqual([
      { name: "corp.crt", pem: PEM },
      { name: "proxy.crt", pem: PEM },
      { name: "plain.crt", pem: PEM },
    ]);
  });

  it("a missing file, or one that is not PEM, is a usage error naming it", async () => {
    const dir = await tempDir("berth-cnb-cas-");
    await writeFile(join(dir, "key.pem"), "-----BEGIN PRIVATE KEY-----\n");
    await expect(readExtraCas(["gone.pem"], false, dir)).rejects.toMatchObject({
      code: "USAGE",
      message: `cannot read the CA certificate ${join(dir, "gone.pem")}`,
    });
    await expect(readExtraCas(["key.pem"], false, dir)).rejects.toMatchObject({
      code: "USAGE",
      message: `${join(dir, "key.pem")} is not a PEM certificate`,
    });
  });
});
