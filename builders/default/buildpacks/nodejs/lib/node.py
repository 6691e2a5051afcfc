"""Helpers for the Node.js buildpack's bin/build: package.json, the npm registry's JSON, semver ranges.

Standard library only (the build image's python3). Usage: node.py COMMAND ARGS...
"""
import datetime
import json
import os
import re
import sys
import tomllib

# urllib.request (with http, ssl and email) and the hashes are imported where they are used: every build runs
# `facts`, which needs none of them, and they are a third of Python's start in the build sandbox.


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


def registry_json(registry, name):
    import urllib.request

    req = urllib.request.Request(
        f"{registry}/{name}", headers={"Accept": "application/vnd.npm.install-v1+json; q=1.0, application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.load(r)
    except Exception as e:  # noqa: BLE001
        sys.exit(f"berth/nodejs: reading {registry}/{name}: {e}\nhint: the build reaches the registry through BP_NPM_REGISTRY or NPM_CONFIG_REGISTRY (now {registry})")


def release_schedule(registry, workdir):
    """Node.js's release schedule (majors, LTS start and end dates, codenames) and its per-release LTS flags, from
    the node-releases package on the npm registry (a copy of nodejs/Release's schedule.json and the release index)."""
    doc = registry_json(registry, "node-releases")
    latest = doc.get("dist-tags", {}).get("latest")
    dist = doc.get("versions", {}).get(latest, {}).get("dist", {})
    tgz = os.path.join(workdir, "node-releases.tgz")
    fetch(dist.get("tarball", ""), dist.get("integrity") or "sha1-" + dist.get("shasum", ""), tgz)
    import tarfile

    with tarfile.open(tgz) as t:
        schedule = json.load(t.extractfile("package/data/release-schedule/release-schedule.json"))
        envs = json.load(t.extractfile("package/data/processed/envs.json"))
    os.unlink(tgz)
    flags = {e["version"]: e.get("lts") or "" for e in envs if e.get("name") == "nodejs"}
    return schedule, flags


def lts_majors(schedule, today=None):
    """Majors whose LTS has started and not ended, newest first, with their codenames."""
    today = (today or datetime.date.today()).isoformat()
    out = []
    for key, s in schedule.items():
        m = re.match(r"^v(\d+)$", key)
        if m and s.get("lts") and s["lts"] <= today and s.get("end", "9999") > today:
            out.append((int(m.group(1)), s.get("codename", "")))
    return sorted(out, reverse=True)


def resolve_node(registry, package, rng, origin, workdir):
    """Print VERSION, TARBALL, INTEGRITY and LTS CODENAME (tab-separated) of the newest Node.js binary package
    release satisfying `rng`: a semver range, lts, lts/*, lts/<codename>, node, latest, current or stable."""
    doc = registry_json(registry, package)
    versions = {v: d for v, d in doc.get("versions", {}).items() if parse_version(v) and parse_version(v)[3] is None}
    schedule, flags = release_schedule(registry, workdir)
    want = rng.strip().lower().lstrip("v") if rng.strip().lower() not in ("node",) else "node"
    if want in ("", "lts", "lts/*", "lts/"):
        majors = lts_majors(schedule)
        if not majors:
            sys.exit("berth/nodejs: the release schedule names no active LTS line")
        major, codename = majors[0]
        rng_eff = f"{major}.x"
    elif want.startswith("lts/"):
        name = want[4:]
        match = [int(k[1:]) for k, s in schedule.items() if s.get("codename", "").lower() == name]
        if not match:
            names = ", ".join(sorted(s["codename"].lower() for s in schedule.values() if s.get("codename")))
            sys.exit(f"berth/nodejs: {origin} asks for Node.js {rng!r}, which is no LTS codename (known: {names})")
        rng_eff = f"{match[0]}.x"
    elif want in ("node", "latest", "current", "stable"):
        rng_eff = "*"
    else:
        rng_eff = rng
    picks = [v for v in versions if satisfies(v, rng_eff)]
    if not picks:
        newest = max(versions, key=lambda v: parse_version(v)[:3]) if versions else "none"
        lts = ", ".join(f"{m} ({c})" for m, c in lts_majors(schedule)) or "none"
        sys.exit(
            f"berth/nodejs: {origin} asks for Node.js {rng!r}, and no release of {package} on {registry} satisfies it"
            f" (newest: {newest}; LTS lines: {lts})\n"
            "hint: widen the range, or set BP_NODE_VERSION to a version that exists (e.g. BP_NODE_VERSION=lts)"
        )
    best = max(picks, key=lambda v: parse_version(v)[:3])
    dist = versions[best].get("dist", {})
    lts = flags.get(best) or next((s.get("codename", "") for k, s in schedule.items() if k == f"v{parse_version(best)[0]}" and s.get("lts") and s["lts"] <= datetime.date.today().isoformat()), "")
    print(f"{best}\t{dist.get('tarball', '')}\t{dist.get('integrity') or 'sha1-' + dist.get('shasum', '')}\t{lts or ''}")


def resolve(registry, name, rng, default, node_version=None):
    doc = registry_json(registry, name)
    versions = doc.get("versions", {})
    if rng in ("", "latest") and default == "latest":
        rng = "latest"
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
    import base64
    import hashlib
    import urllib.request

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



def node_range(env_value):
    """The requested Node.js version and where it came from: BP_NODE_VERSION, engines.node, .nvmrc, .node-version."""
    if env_value.strip():
        return env_value.strip(), "BP_NODE_VERSION"
    engine = read_json("package.json").get("engines", {}).get("node", "")
    if isinstance(engine, str) and engine.strip():
        return engine.strip(), "package.json engines.node"
    for f in (".nvmrc", ".node-version"):
        if os.path.isfile(f):
            for line in open(f, encoding="utf-8").read().splitlines():
                line = line.split("#", 1)[0].strip()
                if line:
                    return line, f
    return "lts", "the default (no engines.node, .nvmrc or .node-version)"


def yarnrc(key):
    """A top-level scalar of .yarnrc.yml (Yarn Berry's settings file), without a YAML library."""
    try:
        text = open(".yarnrc.yml", encoding="utf-8").read()
    except FileNotFoundError:
        return ""
    m = re.search(rf"^{re.escape(key)}:\s*['\"]?([^'\"\n#]+?)['\"]?\s*(?:#.*)?$", text, re.M)
    return m.group(1).strip() if m else ""


def yarn_kind():
    """berry (Yarn 2+) or classic (Yarn 1), from packageManager, .yarnrc.yml or the lockfile's format."""
    pm = read_json("package.json").get("packageManager", "")
    if isinstance(pm, str) and pm.startswith("yarn@"):
        return "classic" if pm[5:].startswith("1.") else "berry"
    if os.path.isfile(".yarnrc.yml"):
        return "berry"
    try:
        with open("yarn.lock", encoding="utf-8") as f:
            if "__metadata:" in f.read(65536):
                return "berry"
    except FileNotFoundError:
        pass
    return "classic"


def workspace_manifests():
    """package.json files of the app's workspaces (npm/Yarn "workspaces", pnpm-workspace.yaml), relative paths."""
    import glob

    ws = read_json("package.json").get("workspaces", [])
    patterns = ws.get("packages", []) if isinstance(ws, dict) else list(ws)
    if os.path.isfile("pnpm-workspace.yaml"):
        text = open("pnpm-workspace.yaml", encoding="utf-8").read()
        block = re.search(r"^packages:\s*\n((?:[ \t]+-.*\n?|[ \t]*#.*\n?)+)", text, re.M)
        if block:
            patterns += [m.strip().strip("'\"") for m in re.findall(r"-\s*(.+)", block.group(1))]
    out = set()
    for pat in patterns:
        if pat.startswith("!"):
            continue
        for d in glob.glob(pat, recursive=True):
            d = os.path.normpath(d)
            if d.startswith("..") or os.path.isabs(d) or "node_modules" in d.split(os.sep):
                continue
            m = os.path.join(d, "package.json")
            if os.path.isfile(m) and not os.path.islink(m) and not os.path.islink(d):
                out.add(m)
    return sorted(out)


def relink(modules, work, app):
    """Links the install left in node_modules that point into its work folder (workspace packages) point into the
    app instead once node_modules moved to its layer."""
    work = os.path.realpath(work)
    for root, dirs, files in os.walk(modules):
        for name in dirs + files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                continue
            target = os.readlink(p)
            full = os.path.normpath(os.path.join(os.path.dirname(p).replace(modules, os.path.join(work, "node_modules"), 1), target))
            if not os.path.isabs(target) and full.startswith(work + os.sep) and not full.startswith(os.path.join(work, "node_modules") + os.sep):
                os.unlink(p)
                os.symlink(os.path.join(app, os.path.relpath(full, work)), p)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]


# ---- SBOM (CycloneDX 1.4 JSON) ---------------------------------------------------------------------


def npm_purl(name, version):
    from urllib.parse import quote

    if name.startswith("@") and "/" in name:
        scope, base = name.split("/", 1)
        return f"pkg:npm/{quote(scope)}/{quote(base)}@{quote(version)}"
    return f"pkg:npm/{quote(name)}@{quote(version)}"


def cyclonedx(components):
    seen, out = set(), []
    for c in components:
        if c["purl"] in seen:
            continue
        seen.add(c["purl"])
        out.append(c)
    return json.dumps(
        {"bomFormat": "CycloneDX", "specVersion": "1.4", "version": 1, "components": sorted(out, key=lambda c: c["purl"])},
        indent=1,
    )


def component(name, version, purl, lic=None):
    c = {"type": "library", "name": name, "version": version, "purl": purl}
    if isinstance(lic, str) and lic:
        c["licenses"] = [{"expression": lic}]
    return c


def sbom_modules(modules):
    """Every package folder under a node_modules tree: <node_modules>/NAME or <node_modules>/@SCOPE/NAME."""
    comps = []
    for root, dirs, files in os.walk(modules):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d)) and d != ".bin"]
        parent = os.path.basename(os.path.dirname(root))
        grand = os.path.basename(os.path.dirname(os.path.dirname(root)))
        is_pkg = parent == "node_modules" or (parent.startswith("@") and grand == "node_modules")
        if is_pkg and "package.json" in files:
            pkg = read_json(os.path.join(root, "package.json"))
            if isinstance(pkg.get("name"), str) and isinstance(pkg.get("version"), str):
                comps.append(component(pkg["name"], pkg["version"], npm_purl(pkg["name"], pkg["version"]), pkg.get("license")))
    return comps


def sbom_yarn_lock(path):
    comps = []
    text = open(path, encoding="utf-8").read()
    for m in re.finditer(r'^\s+resolution:\s*"?((?:@[^@/]+/)?[^@"]+)@npm:([^"\s]+)"?', text, re.M):
        comps.append(component(m.group(1), m.group(2), npm_purl(m.group(1), m.group(2))))
    return comps


# A command of plain words (no quoting, expansion, redirection or globbing), and `node FILE [args]` of them.
PLAIN = re.compile(r"[A-Za-z0-9_./:=@%+,-]+(?: +[A-Za-z0-9_./:=@%+,-]+)*")
DIRECT_NODE = re.compile(r"node +[A-Za-z0-9_./@%+,-]+(?: +[A-Za-z0-9_./:=@%+,-]+)*")


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


def launch_toml(start):
    if PLAIN.fullmatch(start):
        # Plain words: exec-form, no shell needed (the launcher finds the program on PATH).
        command = start.split()
    else:
        command = ["sh", "-c", start]
    return "\n".join(
        ["[[processes]]", 'type = "web"', "command = [" + ", ".join(toml_string(c) for c in command) + "]", "default = true", ""]
    )


def layer_metadata(layers):
    """The [metadata] of every <layer>.toml the lifecycle restored, parsed as TOML (berth and the reference lifecycle
    write numbers back as floats, so a textual comparison would see a change where there is none)."""
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
    """Everything bin/build reads from the app and the restored layers before it decides what to reuse, as shell
    assignments for one `eval`: one Python start for every check instead of one per check (each start in the
    build sandbox costs about a second on a loaded machine). Writes launch.toml from the start command."""
    pkg = read_json("package.json")
    rng, origin = node_range(os.environ.get("BP_NODE_VERSION", ""))
    pm_field = pkg.get("packageManager", "")
    pm_field = pm_field if isinstance(pm_field, str) else ""
    lock_version = ""
    if os.path.isfile("pnpm-lock.yaml"):
        m = re.search(r"^lockfileVersion:\s*'?([0-9.]+)", open("pnpm-lock.yaml", encoding="utf-8").read(), re.M)
        major = int(float(m.group(1))) if m else 9
        lock_version = {9: "10", 6: "8", 5: "7"}.get(major, "latest")
    start = os.environ.get("BP_LAUNCH_COMMAND") or start_command(pkg)
    engines = pkg.get("engines", {})
    scripts = pkg.get("scripts", {})
    out = {
        "node_range": rng,
        "node_origin": origin,
        "yarn_kind": yarn_kind() if os.path.isfile("yarn.lock") else "",
        "yarnrc_path": yarnrc("yarnPath"),
        "yarnrc_linker": yarnrc("nodeLinker"),
        "engine_npm": engines.get("npm", "") if isinstance(engines, dict) else "",
        "pm_field_yarn": pm_field.split("@", 1)[1].split("+")[0] if pm_field.startswith("yarn@") else "",
        "pm_field_pnpm": pm_field.split("@", 1)[1].split("+")[0] if pm_field.startswith("pnpm@") else "",
        "pnpm_for_lock": lock_version,
        "has_deps": "yes" if pkg.get("dependencies") or pkg.get("devDependencies") or pkg.get("optionalDependencies") else "no",
        "has_dev": "yes" if pkg.get("devDependencies") else "no",
        "has_build": "yes" if isinstance(scripts, dict) and scripts.get("build") else "no",
        "manifests": "\n".join(workspace_manifests()),
        "start": start,
        **layer_metadata(layers),
    }
    if start:
        with open(os.path.join(layers, "launch.toml"), "w", encoding="utf-8") as f:
            f.write(launch_toml(start))
    import shlex

    print("\n".join(f"{k}={shlex.quote(str(v))}" for k, v in out.items()))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "facts":
        facts(*args)
    elif cmd == "sbom-runtime":
        name, version, purl = args
        print(cyclonedx([{**component(name, version, purl), "type": "application"}]))
    elif cmd == "start-kind":
        # For bin/detect: none (no start command), direct (`node FILE [args]` of plain words: it runs without a
        # shell or npm) or shell.
        start = start_command(read_json(args[0]))
        print("none" if not start else "direct" if DIRECT_NODE.fullmatch(start) else "shell")
    elif cmd == "resolve":
        registry, name, rng, default = args[:4]
        node = os.environ.get("BP_RESOLVED_NODE") if name in ("npm", "pnpm", "yarn") else None
        if node is None and name in ("npm", "pnpm", "yarn"):
            node = os.popen("node --version 2>/dev/null").read().strip().lstrip("v") or None
        resolve(registry, name, rng.strip(), default, node)
    elif cmd == "fetch":
        fetch(*args)
    elif cmd == "bin-of":
        b = read_json(args[0]).get("bin", {})
        print((b if isinstance(b, str) else b.get(args[1], "")).lstrip("./"))
    elif cmd == "resolve-node":
        resolve_node(*args)
    elif cmd == "relink":
        relink(*args)
    elif cmd == "sbom-modules":
        print(cyclonedx(sbom_modules(args[0])))
    elif cmd == "sbom-yarn-lock":
        print(cyclonedx(sbom_yarn_lock(args[0])))
    else:
        sys.exit(f"node.py: unknown command {cmd}")


if __name__ == "__main__":
    main()
