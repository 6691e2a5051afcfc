"""Helpers for the Node.js buildpack's bin/build: package.json, the npm registry's JSON, semver ranges.

Standard library only (the build image's python3). Usage: node.py COMMAND ARGS...
"""
import base64
import datetime
import hashlib
import json
import os
import re
import sys
import tomllib
import urllib.request


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as e:
        sys.exit(f"berth/nodejs: {path} is not valid JSON: {e}")


# ---- semver ----------------------------------------------------------------------------------------

VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def parse_version(text):
    m = VERSION.match(text.strip())
    if not m:
        return None
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4))


def partial(text):
    """'20' -> (20, None, None); '20.1.x' -> (20, 1, None)."""
    text = text.strip().lstrip("v=")
    if text in ("", "*", "x", "X"):
        return (None, None, None)
    parts = re.split(r"[.]", text.split("-")[0].split("+")[0])
    out = []
    for p in parts[:3]:
        out.append(None if p in ("x", "X", "*") else int(p))
    while len(out) < 3:
        out.append(None)
    return tuple(out)


def comparators(part):
    """One space-separated comparator set as [(op, (maj, min, pat))] with x-ranges expanded."""
    part = part.strip()
    hyphen = re.match(r"^(\S+)\s+-\s+(\S+)$", part)
    if hyphen:
        lo, hi = partial(hyphen.group(1)), partial(hyphen.group(2))
        out = [(">=", tuple(x or 0 for x in lo))]
        if hi[1] is None and hi[0] is not None:
            out.append(("<", (hi[0] + 1, 0, 0)))
        elif hi[2] is None and hi[0] is not None:
            out.append(("<", (hi[0], hi[1] + 1, 0)))
        elif hi[0] is not None:
            out.append(("<=", hi))
        return out
    out = []
    tokens = re.findall(r"(>=|<=|>|<|=|\^|~>?)?\s*([^\s<>=^~]+)", part)
    for op, ver in tokens:
        maj, mnr, pat = partial(ver)
        op = op or "="
        if op == "~>":
            op = "~"
        if maj is None:
            continue  # '*' matches everything
        if op == "^":
            lo = (maj, mnr or 0, pat or 0)
            if maj > 0 or mnr is None:
                hi = (maj + 1, 0, 0)
            elif mnr > 0 or pat is None:
                hi = (0, mnr + 1, 0)
            else:
                hi = (0, 0, pat + 1)
            out += [(">=", lo), ("<", hi)]
        elif op == "~":
            lo = (maj, mnr or 0, pat or 0)
            hi = (maj + 1, 0, 0) if mnr is None else (maj, mnr + 1, 0)
            out += [(">=", lo), ("<", hi)]
        elif op == "=":
            if mnr is None:
                out += [(">=", (maj, 0, 0)), ("<", (maj + 1, 0, 0))]
            elif pat is None:
                out += [(">=", (maj, mnr, 0)), ("<", (maj, mnr + 1, 0))]
            else:
                out.append(("=", (maj, mnr, pat)))
        elif op in (">", "<="):
            if mnr is None:
                out.append((">=" if op == ">" else "<", (maj + 1, 0, 0)))
            elif pat is None:
                out.append((">=" if op == ">" else "<", (maj, mnr + 1, 0)))
            else:
                out.append((op, (maj, mnr, pat)))
        else:  # >=, <
            out.append((op, (maj, mnr or 0, pat or 0)))
    return out


def satisfies(version, rng):
    v = parse_version(version)
    if v is None or v[3] is not None:
        return False
    t = v[:3]
    for alt in rng.split("||"):
        ok = True
        for op, c in comparators(alt):
            if not {"=": t == c, ">=": t >= c, ">": t > c, "<": t < c, "<=": t <= c}[op]:
                ok = False
                break
        if ok:
            return True
    return False


def lts_major(versions, today=None):
    """Node.js's even majors become LTS in late October of 2013 + major/2 (20: 2023, 22: 2024, 24: 2025)."""
    today = today or datetime.date.today()
    majors = sorted({parse_version(v)[0] for v in versions if parse_version(v) and parse_version(v)[3] is None})
    candidates = [m for m in majors if m % 2 == 0 and datetime.date(2013 + m // 2, 10, 20) <= today]
    return candidates[-1] if candidates else (majors[-1] if majors else None)


def resolve(registry, name, rng, default, node_version=None):
    req = urllib.request.Request(
        f"{registry}/{name}", headers={"Accept": "application/vnd.npm.install-v1+json; q=1.0, application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            doc = json.load(r)
    except Exception as e:  # noqa: BLE001
        sys.exit(f"berth/nodejs: reading {registry}/{name}: {e}")
    versions = doc.get("versions", {})
    if rng in ("", "latest") and default == "latest":
        rng = "latest"
    if rng == "lts" or (rng == "" and default == "lts"):
        major = lts_major(versions)
        rng = f"{major}.x"
    if rng == "latest":
        latest = doc.get("dist-tags", {}).get("latest")
        picks = [latest] if latest in versions else []
    else:
        picks = [v for v in versions if satisfies(v, rng)]
    if node_version:
        ok = [v for v in picks if satisfies(node_version, versions[v].get("engines", {}).get("node", "*") or "*")]
        if not ok and rng == "latest":
            ok = [
                v
                for v in versions
                if parse_version(v)
                and parse_version(v)[3] is None
                and satisfies(node_version, versions[v].get("engines", {}).get("node", "*") or "*")
            ]
        picks = ok or picks
    picks = [v for v in picks if parse_version(v)]
    if not picks:
        sys.exit(f"berth/nodejs: no version of {name} on {registry} satisfies {rng!r}")
    best = max(picks, key=lambda v: parse_version(v)[:3])
    dist = versions[best].get("dist", {})
    print(f"{best}\t{dist.get('tarball', '')}\t{dist.get('integrity') or 'sha1-' + dist.get('shasum', '')}")


def fetch(url, integrity, dest):
    algo, _, want = integrity.partition("-")
    h = hashlib.new(algo if algo in ("sha512", "sha256", "sha1") else "sha512")
    try:
        with urllib.request.urlopen(url, timeout=300) as r, open(dest, "wb") as f:
            while True:
                chunk = r.read(1 << 20)
                if not chunk:
                    break
                h.update(chunk)
                f.write(chunk)
    except Exception as e:  # noqa: BLE001
        sys.exit(f"berth/nodejs: downloading {url}: {e}")
    got = base64.b64encode(h.digest()).decode() if algo != "sha1" or len(want) != 40 else h.hexdigest()
    if want and got != want:
        sys.exit(f"berth/nodejs: {url}: integrity mismatch (expected {integrity}, got {algo}-{got})")


def meta(path, key):
    try:
        with open(path, "rb") as f:
            print(tomllib.load(f).get("metadata", {}).get(key, ""))
    except (FileNotFoundError, tomllib.TOMLDecodeError):
        print("")


def start_command(pkg):
    start = pkg.get("scripts", {}).get("start")
    if start:
        return start
    main = pkg.get("main")
    if main and os.path.exists(main):
        return f"node {main}"
    for f in ("server.js", "app.js", "index.js", "main.js"):
        if os.path.exists(f):
            return f"node {f}"
    return ""


def toml_string(s):
    return json.dumps(s)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "engine":
        print(read_json(args[0]).get("engines", {}).get(args[1], ""))
    elif cmd == "package-manager":
        pm = read_json(args[0]).get("packageManager", "")
        print(pm.split("@", 1)[1].split("+")[0] if pm.startswith(args[1] + "@") else "")
    elif cmd == "resolve":
        registry, name, rng, default = args[:4]
        node = os.environ.get("BP_RESOLVED_NODE") if name in ("npm", "pnpm", "yarn") else None
        if node is None and name in ("npm", "pnpm", "yarn"):
            node = os.popen("node --version 2>/dev/null").read().strip().lstrip("v") or None
        resolve(registry, name, rng.strip(), default, node)
    elif cmd == "fetch":
        fetch(*args)
    elif cmd == "meta":
        meta(*args)
    elif cmd == "has-deps":
        pkg = read_json(args[0])
        print("yes" if pkg.get("dependencies") or pkg.get("devDependencies") or pkg.get("optionalDependencies") else "no")
    elif cmd == "script":
        print("yes" if read_json(args[0]).get("scripts", {}).get(args[1]) else "no")
    elif cmd == "key":
        h = hashlib.sha256()
        for a in args[:2]:
            h.update(a.encode() + b"\0")
        for path in args[2:]:
            with open(path, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
        print(h.hexdigest())
    elif cmd == "bin-of":
        b = read_json(args[0]).get("bin", {})
        print((b if isinstance(b, str) else b.get(args[1], "")).lstrip("./"))
    elif cmd == "pnpm-for-lock":
        m = re.search(r"^lockfileVersion:\s*'?([0-9.]+)", open(args[0], encoding="utf-8").read(), re.M)
        major = int(float(m.group(1))) if m else 9
        print({9: "10", 6: "8", 5: "7"}.get(major, "latest"))
    elif cmd == "start":
        print(start_command(read_json(args[0])))
    elif cmd == "launch-toml":
        start = args[0]
        shell = re.search(r"[;&|<>()$`\\\"'*?\n]", start)
        command = ["sh", "-c", start if shell else f"exec {start}"]
        print("[[processes]]")
        print('type = "web"')
        print("command = [" + ", ".join(toml_string(c) for c in command) + "]")
        print("default = true")
    else:
        sys.exit(f"node.py: unknown command {cmd}")


if __name__ == "__main__":
    main()
