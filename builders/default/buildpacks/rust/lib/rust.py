"""Helpers for the Rust buildpack's bin/build: the requested toolchain, its components (rustc, cargo, rust-std)
from the Rust project's release channel manifests (checked against their sha256), the binary's name and the SBOM.

Standard library only (the build image's python3). Usage: rust.py COMMAND ARGS...
"""
import os
import re
import sys
import tomllib

# urllib.request (with http, ssl and email), tarfile, json and hashlib are imported where they are used: every
# rebuild starts this helper once (facts), and those imports were most of its start.

DIST = os.environ.get("BP_RUST_DIST_SERVER", "https://static.rust-lang.org").rstrip("/")


def requested():
    """(channel, origin): BP_RUST_VERSION, rust-toolchain.toml [toolchain] channel, rust-toolchain, else stable."""
    env = os.environ.get("BP_RUST_VERSION", "").strip()
    if env:
        return env, "BP_RUST_VERSION"
    if os.path.isfile("rust-toolchain.toml"):
        with open("rust-toolchain.toml", "rb") as f:
            ch = tomllib.load(f).get("toolchain", {}).get("channel", "")
        if ch:
            return ch, "rust-toolchain.toml"
    if os.path.isfile("rust-toolchain"):
        text = open("rust-toolchain", encoding="utf-8").read().strip()
        if text and not text.startswith("["):
            return text.splitlines()[0].strip(), "rust-toolchain"
        if text:
            ch = tomllib.loads(text).get("toolchain", {}).get("channel", "")
            if ch:
                return ch, "rust-toolchain"
    return "stable", "the default (no rust-toolchain.toml)"


def resolve(target):
    """Print VERSION and the three components' URL and sha256 (tab-separated lines) for the requested channel."""
    import urllib.request

    channel, origin = requested()
    if not re.match(r"^(stable|beta|nightly(-\d{4}-\d{2}-\d{2})?|\d+\.\d+(\.\d+)?)$", channel):
        sys.exit(f"berth/rust: {origin} names the toolchain {channel!r}, which is no channel or version")
    url = f"{DIST}/dist/channel-rust-{channel}.toml"
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            manifest = tomllib.loads(r.read().decode())
    except Exception as e:  # noqa: BLE001
        sys.exit(
            f"berth/rust: {origin} asks for Rust {channel}, and {url} cannot be read ({e})\n"
            "hint: name a released version (e.g. 1.82.0) or a channel (stable)"
        )
    out = []
    for comp in ("rustc", "cargo", "rust-std"):
        t = manifest.get("pkg", {}).get(comp, {}).get("target", {}).get(target, {})
        if not t.get("available") or not t.get("xz_url"):
            sys.exit(f"berth/rust: Rust {channel} has no {comp} for {target}")
        out.append(f"{comp}\t{t['xz_url']}\t{t['xz_hash']}")
    version = manifest["pkg"]["rustc"]["version"].split()[0]
    print(version)
    print("\n".join(out))


def install(url, sha256, dest):
    """Download one component tarball, check it, and merge its component folders into dest."""
    import hashlib
    import tarfile
    import urllib.request

    part = dest + ".part"
    h = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=600) as r, open(part, "wb") as f:
        while chunk := r.read(1 << 20):
            h.update(chunk)
            f.write(chunk)
    if h.hexdigest() != sha256:
        os.unlink(part)
        sys.exit(f"berth/rust: {url} does not match the channel manifest's sha256")
    with tarfile.open(part, "r:xz") as t:
        top = t.getmembers()[0].name.split("/")[0]
        comps = [c for c in t.extractfile(f"{top}/components").read().decode().split() if c]
        for m in t.getmembers():
            parts = m.name.split("/")
            if len(parts) < 3 or parts[1] not in comps or ".." in parts or not (m.isfile() or m.isdir() or m.issym()):
                continue
            m.name = "/".join(parts[2:])
            if parts[2] == "manifest.in" or (m.issym() and (m.linkname.startswith("/") or ".." in m.linkname.split("/"))):
                continue
            m.mode &= 0o755
            t.extract(m, dest, set_attrs=m.isfile())
    os.unlink(part)


def binary():
    with open("Cargo.toml", "rb") as f:
        doc = tomllib.load(f)
    bins = doc.get("bin", [])
    if bins and bins[0].get("name"):
        return bins[0]["name"]
    return doc.get("package", {}).get("name", "")


def sbom(version):
    import json

    comps = [{"type": "application", "name": "rustc", "version": version, "purl": f"pkg:generic/rustc@{version}"}]
    if os.path.isfile("Cargo.lock"):
        with open("Cargo.lock", "rb") as f:
            for p in tomllib.load(f).get("package", []):
                if str(p.get("source", "")).startswith("registry+"):
                    comps.append({"type": "library", "name": p["name"], "version": p["version"], "purl": f"pkg:cargo/{p['name']}@{p['version']}"})
    print(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.4", "version": 1, "components": comps}, indent=1))


def layer_metadata(layers):
    """The [metadata] of every <layer>.toml the lifecycle restored, as meta_<layer>_<key> (as node.py's)."""
    out = {}
    for name in sorted(os.listdir(layers)) if os.path.isdir(layers) else []:
        if not name.endswith(".toml") or name in ("launch.toml", "build.toml", "store.toml"):
            continue
        try:
            with open(os.path.join(layers, name), "rb") as f:
                metadata = tomllib.load(f).get("metadata", {})
        except (OSError, tomllib.TOMLDecodeError):
            continue
        for key, value in metadata.items():
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                out[re.sub(r"\W", "_", f"meta_{name[:-5]}_{key}")] = str(value)
    return out


def facts(layers):
    """What bin/build reads before it decides what to reuse (the requested channel, the binary's name unless
    BP_RUST_BINARY names it, the restored layers' [metadata]), as shell assignments for one `eval`: one Python
    start on a no-op rebuild instead of one per check."""
    import shlex

    channel, origin = requested()
    out = {"channel": channel, "origin": origin, "binary": "" if os.environ.get("BP_RUST_BINARY") else binary()}
    print("\n".join(f"{k}={shlex.quote(str(v))}" for k, v in {**out, **layer_metadata(layers)}.items()))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "facts":
        facts(*args)
    elif cmd == "resolve":
        resolve(*args)
    elif cmd == "install":
        install(*args)
    elif cmd == "sbom":
        sbom(*args)
    else:
        sys.exit(f"rust.py: unknown command {cmd}")


if __name__ == "__main__":
    main()
