/** The distributions `berth stack create` can bootstrap, and how to name them. */
import { BerthError } from "../../errors.ts";

export interface Distro {
  /** `ID` of os-release: `debian`, `ubuntu`. */
  name: string;
  /** The suite debootstrap installs: `bookworm`. */
  codename: string;
  /** `VERSION_ID` of os-release: `12`. */
  version: string;
  /** The default package mirror. */
  mirror: string;
  /** Components to enable. */
  components: string[];
}

const KNOWN: Record<string, Omit<Distro, "codename">> = {
  bullseye: { name: "debian", version: "11", mirror: "http://deb.debian.org/debian", components: ["main"] },
  bookworm: { name: "debian", version: "12", mirror: "http://deb.debian.org/debian", components: ["main"] },
  trixie: { name: "debian", version: "13", mirror: "http://deb.debian.org/debian", components: ["main"] },
  jammy: {
    name: "ubuntu",
    version: "22.04",
    mirror: "http://archive.ubuntu.com/ubuntu",
    components: ["main", "universe"],
  },
  noble: {
    name: "ubuntu",
    version: "24.04",
    mirror: "http://archive.ubuntu.com/ubuntu",
    components: ["main", "universe"],
  },
};

const BY_VERSION: Record<string, string> = {
  "debian:11": "bullseye",
  "debian:12": "bookworm",
  "debian:13": "trixie",
  "ubuntu:22.04": "jammy",
  "ubuntu:24.04": "noble",
};

/** Parse `debian:bookworm`, `debian:12`, `ubuntu:noble` (or a bare codename). */
export function parseDistro(text: string): Distro {
  const [a, b] = text.includes(":") ? text.split(":", 2) : [undefined, text];
  const codename = BY_VERSION[`${a}:${b}`] ?? b ?? "";
  const known = KNOWN[codename];
  if (!known || (a !== undefined && known.name !== a)) {
    throw new BerthError(
      "USAGE",
      `unknown distribution ${JSON.stringify(text)}: berth knows ${Object.entries(KNOWN)
        .map(([c, d]) => `${d.name}:${c}`)
        .join(", ")}`,
    );
  }
  return { codename, ...known, components: [...known.components] };
}

/** The stack ID berth gives a distribution's stack (the deprecated `io.buildpacks.stack.id`). */
export function stackId(d: Distro): string {
  return `io.berth.stacks.${d.name}-${d.codename}`;
}
