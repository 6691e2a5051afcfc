"""Helpers for the Go buildpack's bin/build: the requested Go version, Go toolchains from the module proxy
(golang.org/toolchain@v0.0.1-goX.Y.Z.<os>-<arch>, checked against the checksum database through the proxy),
and the SBOM from the binary's build information.

Standard library only (the build image's python3). Usage: go.py COMMAND ARGS...
"""
import os
import re
import sys
import tomllib

# urllib.request (with http, ssl and email), zipfile, json and the hashes are imported where they are used: every
# rebuild starts this helper once (facts), and those imports were most of its start.


def vt(v):
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3]) + (0,) * (3 - len(re.findall(r"\d+", v)[:3]))


def requested():
    """(version, origin, exact): BP_GO_VERSION, go.mod's toolchain line, go.mod's go line."""
    env = os.environ.get("BP_GO_VERSION", "").strip().removeprefix("go")
    if env:
        return env, "BP_GO_VERSION", bool(re.match(r"^\d+\.\d+\.\d+$", env))
    text = open("go.mod", encoding="utf-8").read()
    m = re.search(r"^toolchain\s+go(\d+\.\d+(?:\.\d+)?)\s*$", text, re.M)
    if m:
        return m.group(1), "go.mod's toolchain line", True
    m = re.search(r"^go\s+(\d+\.\d+(?:\.\d+)?)\s*$", text, re.M)
    if m:
        return m.group(1), "go.mod's go line", False
    return "", "the default (go.mod has no go line)", False


def proxies():
    """The http(s) entries of GOPROXY, in order (default: proxy.golang.org)."""
    value = os.environ.get("GOPROXY", "") or "https://proxy.golang.org,direct"
    return [p.rstrip("/") for p in re.split(r"[,|]", value) if p.startswith(("http://", "https://"))]


def get(url, timeout=60):
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def resolve(goos, goarch):
    """Print VERSION and ORIGIN: the newest toolchain on the proxy for the request (X.Y: its newest patch;
    X.Y.Z from a go line: the newest patch of X.Y at or above it; from a toolchain line or BP_GO_VERSION: exact;
    latest: the newest release)."""
    want, origin, exact = requested()
    suffix = f".{goos}-{goarch}"
    listing, errors = None, []
    for p in proxies():
        try:
            listing = get(f"{p}/golang.org/toolchain/@v/list").decode()
            break
        except Exception as e:  # noqa: BLE001
            errors.append(f"{p}: {e}")
    if listing is None:
        sys.exit(
            "berth/go: cannot list Go toolchains on the module proxy ("
            + ("; ".join(errors) or f"GOPROXY={os.environ.get('GOPROXY', '')} names no http(s) proxy")
            + ")\nhint: set GOPROXY to a module proxy that serves golang.org/toolchain, or BP_GO_VERSION to the stack's Go"
        )
    versions = []
    for line in listing.split():
        m = re.match(rf"^v0\.0\.1-go(\d+\.\d+\.\d+){re.escape(suffix)}$", line)
        if m:
            versions.append(m.group(1))
    if want in ("", "latest"):
        picks = versions
    elif exact:
        picks = [v for v in versions if v == want]
    else:
        base = vt(want)
        picks = [v for v in versions if vt(v)[:2] == base[:2] and vt(v) >= base]
    if not picks:
        newest = max(versions, key=vt) if versions else "none"
        sys.exit(
            f"berth/go: {origin} asks for Go {want}, and the module proxy has no such toolchain for {goos}/{goarch}"
            f" (newest: {newest})\nhint: name a released version (go.mod: toolchain go{newest}), or set BP_GO_VERSION"
        )
    print(max(picks, key=vt))


def dirhash(path):
    """The go.sum h1: hash of a module zip (golang.org/x/mod/sumdb/dirhash.Hash1)."""
    import base64
    import hashlib
    import zipfile

    lines = []
    with zipfile.ZipFile(path) as z:
        for name in sorted(z.namelist()):
            if name.endswith("/"):
                continue
            lines.append(f"{hashlib.sha256(z.read(name)).hexdigest()}  {name}\n")
    return "h1:" + base64.b64encode(hashlib.sha256("".join(lines).encode()).digest()).decode()


def install(version, goos, goarch, dest):
    """Download golang.org/toolchain@v0.0.1-go<version>.<os>-<arch>, check it against the checksum database
    (sum.golang.org, through the proxy), unpack it into dest."""
    import urllib.request
    import zipfile

    mod = f"v0.0.1-go{version}.{goos}-{goarch}"
    zpath = dest + ".zip"
    errors = []
    for p in proxies():
        try:
            with urllib.request.urlopen(f"{p}/golang.org/toolchain/@v/{mod}.zip", timeout=600) as r, open(zpath, "wb") as f:
                while chunk := r.read(1 << 20):
                    f.write(chunk)
            note = get(f"{p}/sumdb/sum.golang.org/lookup/golang.org/toolchain@{mod}").decode()
            break
        except Exception as e:  # noqa: BLE001
            errors.append(f"{p}: {e}")
    else:
        sys.exit(f"berth/go: downloading Go {version}: " + "; ".join(errors))
    want = re.search(rf"^golang\.org/toolchain {re.escape(mod)} (h1:\S+)$", note, re.M)
    got = dirhash(zpath)
    if not want or want.group(1) != got:
        os.unlink(zpath)
        sys.exit(f"berth/go: the Go {version} toolchain from the proxy does not match the checksum database ({got})")
    prefix = f"golang.org/toolchain@{mod}/"
    with zipfile.ZipFile(zpath) as z:
        for info in z.infolist():
            if not info.filename.startswith(prefix) or ".." in info.filename.split("/"):
                continue
            rel = info.filename[len(prefix):]
            if not rel or info.filename.endswith("/"):
                continue
            out = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with z.open(info) as src, open(out, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            mode = (info.external_attr >> 16) & 0o777
            os.chmod(out, 0o755 if mode & 0o111 else 0o644)
    os.unlink(zpath)


def sbom(build_info):
    """CycloneDX from `go version -m BINARY`: the Go toolchain and every module linked in."""
    import json

    comps = []
    for line in build_info.splitlines():
        f = line.split()
        if len(f) >= 2 and f[0].endswith(":") and f[1].startswith("go"):
            v = f[1][2:]
            comps.append({"type": "application", "name": "go", "version": v, "purl": f"pkg:golang/std@v{v}"})
        elif len(f) >= 3 and f[0] in ("dep", "=>"):
            comps.append({"type": "library", "name": f[1], "version": f[2], "purl": f"pkg:golang/{f[1]}@{f[2]}"})
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
    """What bin/build reads before it decides what to reuse (the requested Go and the restored layers' [metadata]),
    as shell assignments for one `eval`: one Python start on a no-op rebuild instead of one per check."""
    import shlex

    v, origin, exact = requested()
    out = {"want": v, "origin": origin, "exactness": "exact" if exact else "min", **layer_metadata(layers)}
    print("\n".join(f"{k}={shlex.quote(str(val))}" for k, val in out.items()))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "facts":
        facts(*args)
    elif cmd == "resolve":
        resolve(*args)
    elif cmd == "install":
        install(*args)
    elif cmd == "sbom":
        sbom(sys.stdin.read())
    else:
        sys.exit(f"go.py: unknown command {cmd}")


if __name__ == "__main__":
    main()
