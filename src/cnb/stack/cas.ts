import { readdir, readFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { BerthError } from "../../errors.ts";
import type { ExtraCa } from "./layer.ts";

/** Where Debian keeps locally added CAs (update-ca-certificates reads them). */
export const HOST_CA_DIR = "/usr/local/share/ca-certificates";

/** CA files to trust: named ones, and with `host` every .crt of this machine's HOST_CA_DIR. */
export async function readExtraCas(files: readonly string[], host: boolean, cwd: string): Promise<ExtraCa[]> {
  const out: ExtraCa[] = [];
  const paths = files.map((f) => resolve(cwd, f));
  if (host) {
    const names = await readdir(HOST_CA_DIR).catch(() => [] as string[]);
    paths.push(...names.filter((n) => n.endsWith(".crt")).map((n) => join(HOST_CA_DIR, n)));
  }
  for (const p of paths) {
    const pem = await readFile(p, "utf8").catch((err) => {
      throw new BerthError("USAGE", `cannot read the CA certificate ${p}`, { cause: err });
    });
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
      throw new BerthError("USAGE", `${p} is not a PEM certificate`);
    }
    const name = basename(p).replace(/\.(pem|crt|cer)$/, "");
    out.push({ name: `${name}.crt`, pem });
  }
  return out;
}
