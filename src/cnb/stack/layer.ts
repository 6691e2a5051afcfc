/**
 * The layers of a stack: a root filesystem (ownership kept, as a distribution's files need: /etc/shadow is
 * group shadow, /var/mail group mail), and the CNB user (passwd, group, shadow and a home) on top of it.
 */
import { lstat, readFile } from "node:fs/promises";
import { join } from "node:path";
import { wrapError } from "../../errors.ts";
import { writeEntries } from "../../layer/build.ts";
import type { EntryHeader } from "../../layer/entry.ts";
import { type LayerDescriptor, planLayer, writeLayer } from "../../layer/index.ts";

export interface StackLayer extends LayerDescriptor {
  /** The blob, as a file. */
  path: string;
}

/** A layer of the whole tree at `dir`, each entry owned as on disk, mtimes set to `mtime`. */
export async function rootfsLayer(dir: string, dest: string, mtime: number, level = 6): Promise<StackLayer> {
  try {
    const entries = await planLayer([{ source: dir, dest: "/" }], { mtime });
    for (const e of entries) {
      const st = await lstat(join(dir, e.header.path));
      e.header.uid = st.uid;
      e.header.gid = st.gid;
    }
    const desc = await writeLayer(dest, { compression: "gzip", level }, (w) => writeEntries(w, entries));
    return { ...desc, path: dest };
  } catch (err) {
    throw wrapError(`making a layer of ${dir}`, err);
  }
}

export interface CnbUser {
  name: string;
  uid: number;
  gid: number;
  group: string;
  home: string;
}

function withLine(text: string, name: string, line: string): string {
  const kept = text.split("\n").filter((l) => l !== "" && !l.startsWith(`${name}:`));
  return `${[...kept, line].join("\n")}\n`;
}

/** passwd, group, shadow with the CNB user, and its home, as a layer over the tree at `rootfs`. */
export async function userLayer(
  rootfs: string,
  user: CnbUser,
  dest: string,
  mtime: number,
  sourceDateEpoch: number,
): Promise<StackLayer> {
  const read = (p: string) => readFile(join(rootfs, p), "utf8").catch(() => "");
  const groupText = await read("etc/group");
  const shadowGid = Number(/^shadow:[^:]*:(\d+):/m.exec(groupText)?.[1] ?? 0);
  const passwd = withLine(
    await read("etc/passwd"),
    user.name,
    `${user.name}:x:${user.uid}:${user.gid}:CNB user:${user.home}:/bin/sh`,
  );
  const group = withLine(groupText, user.group, `${user.group}:x:${user.gid}:`);
  const shadow = withLine(
    await read("etc/shadow"),
    user.name,
    `${user.name}:!:${Math.floor(sourceDateEpoch / 86400)}:0:99999:7:::`,
  );
  const dir = (path: string, mode: number, uid = 0, gid = 0): EntryHeader => ({
    path,
    type: "dir",
    mode,
    uid,
    gid,
    size: 0,
    mtime,
  });
  const file = (path: string, body: string, mode: number, gid = 0) => ({
    header: { path, type: "file", mode, uid: 0, gid, size: Buffer.byteLength(body), mtime } as EntryHeader,
    body: Buffer.from(body),
  });
  const homeParts = user.home.replace(/^\/+|\/+$/g, "").split("/");
  const desc = await writeLayer(dest, { compression: "gzip" }, async (w) => {
    await w.add(dir("etc", 0o755));
    for (const f of [
      file("etc/group", group, 0o644),
      file("etc/passwd", passwd, 0o644),
      // Empty: runtimes bind the host's (or their own) over it, and only over a file that exists.
      file("etc/resolv.conf", "", 0o644),
      file("etc/shadow", shadow, 0o640, shadowGid),
    ]) {
      await w.add(f.header, f.body);
    }
    for (let i = 1; i < homeParts.length; i++) await w.add(dir(homeParts.slice(0, i).join("/"), 0o755));
    await w.add(dir(homeParts.join("/"), 0o750, user.uid, user.gid));
  });
  return { ...desc, path: dest };
}

export interface ExtraCa {
  /** File name under /usr/local/share/ca-certificates (ends in .crt). */
  name: string;
  pem: string;
}

/**
 * Extra trusted CAs (a company's, a TLS-intercepting proxy's): the distribution's bundle with them appended,
 * and each under /usr/local/share/ca-certificates, as update-ca-certificates would leave them.
 */
export async function caLayer(
  rootfs: string,
  cas: readonly ExtraCa[],
  dest: string,
  mtime: number,
): Promise<StackLayer> {
  const bundlePath = "etc/ssl/certs/ca-certificates.crt";
  const base = await readFile(join(rootfs, bundlePath), "utf8").catch(() => "");
  const bundle = `${[base.trimEnd(), ...cas.map((c) => c.pem.trim())].filter(Boolean).join("\n")}\n`;
  const dir = (path: string): EntryHeader => ({
    path,
    type: "dir",
    mode: 0o755,
    uid: 0,
    gid: 0,
    size: 0,
    mtime,
  });
  const file = (path: string, body: string): [EntryHeader, Buffer] => {
    const b = Buffer.from(body);
    return [{ path, type: "file", mode: 0o644, uid: 0, gid: 0, size: b.length, mtime }, b];
  };
  const desc = await writeLayer(dest, { compression: "gzip" }, async (w) => {
    for (const d of ["etc", "etc/ssl", "etc/ssl/certs"]) await w.add(dir(d));
    await w.add(...file(bundlePath, bundle));
    for (const d of ["usr", "usr/local", "usr/local/share", "usr/local/share/ca-certificates"])
      await w.add(dir(d));
    for (const c of [...cas].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      await w.add(...file(`usr/local/share/ca-certificates/${c.name}`, `${c.pem.trim()}\n`));
    }
  });
  return { ...desc, path: dest };
}
