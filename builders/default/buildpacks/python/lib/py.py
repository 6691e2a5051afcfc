"""Helpers for the Python buildpack's bin/build: the requested Python version, the pinned requirements of a
lockfile (uv.lock, poetry.lock, Pipfile.lock), the start command, and the SBOM.

Standard library only (the build image's python3). Usage: py.py COMMAND ARGS...
"""
import json
import os
import re
import sys
import tomllib


def load_toml(path):
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as e:
        sys.exit(f"berth/python: {path} is not valid TOML: {e}")


def load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        sys.exit(f"berth/python: {path} is not valid JSON: {e}")


# ---- the requested version -------------------------------------------------------------------------


def requested():
    """(specifier, origin): BP_PYTHON_VERSION, .python-version, runtime.txt, pyproject's requires-python."""
    env = os.environ.get("BP_PYTHON_VERSION", "").strip()
    if env:
        return env, "BP_PYTHON_VERSION"
    for f in (".python-version", "runtime.txt"):
        if os.path.isfile(f):
            for line in open(f, encoding="utf-8").read().splitlines():
                line = line.split("#", 1)[0].strip()
                if line:
                    return line.removeprefix("python-").removeprefix("python"), f
    rp = load_toml("pyproject.toml").get("project", {}).get("requires-python", "")
    if rp:
        return rp, "pyproject.toml requires-python"
    poetry = load_toml("pyproject.toml").get("tool", {}).get("poetry", {}).get("dependencies", {}).get("python", "")
    if isinstance(poetry, str) and poetry:
        return poetry, "pyproject.toml [tool.poetry.dependencies] python"
    pipfile = load_toml("Pipfile").get("requires", {}) if os.path.isfile("Pipfile") else {}
    if pipfile.get("python_full_version") or pipfile.get("python_version"):
        return pipfile.get("python_full_version") or pipfile.get("python_version"), "Pipfile [requires]"
    return "", ""


def vtuple(text):
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def matches(version, spec):
    """PEP 440 specifiers (>=, <=, >, <, ==, !=, ~=, ==X.*), Poetry's ^ and ~, and a bare X.Y[.Z]."""
    v = vtuple(version)
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        m = re.match(r"^(~=|==|!=|>=|<=|>|<|\^|~|=)?\s*([0-9][0-9.]*)(\.\*)?$", part)
        if not m:
            return None
        op, want, star = m.group(1) or "==", vtuple(m.group(2)), m.group(3)
        n = len(want)
        if op in ("==", "=") and (star or n < 3):
            ok = v[:n] == want
        elif op == "!=" and star:
            ok = v[:n] != want
        elif op == "==" or op == "=":
            ok = v == want
        elif op == "!=":
            ok = v != want
        elif op == ">=":
            ok = v >= want
        elif op == "<=":
            ok = v[:n] <= want
        elif op == ">":
            ok = v[:n] > want
        elif op == "<":
            ok = v < want
        elif op == "~=":
            ok = v >= want and v[: n - 1] == want[: n - 1]
        elif op == "^":
            ok = v >= want and v[:1] == want[:1]
        else:  # ~
            ok = v >= want and v[: min(n, 2)] == want[: min(n, 2)]
        if not ok:
            return False
    return True


def check_version(full):
    spec, origin = requested()
    if not spec:
        return
    ok = matches(full, spec)
    if ok is None:
        print(f"warning: cannot read the Python version {spec!r} from {origin}; using Python {full}", file=sys.stderr)
    elif not ok:
        sys.exit(
            f"berth/python: {origin} asks for Python {spec!r}, and the only Python here is {full}, the stack's"
            " Debian python3 (PyPI publishes no CPython builds, so the stack's interpreter is the one there is)\n"
            f"hint: allow {full} ({'.'.join(full.split('.')[:2])}) there, or build with a builder whose stack has the version"
        )


# ---- lockfiles -> pinned requirements ---------------------------------------------------------------


def uv_requirements(path):
    lock = load_toml(path)
    packages = {p["name"]: p for p in lock.get("package", [])}
    roots = [p for p in packages.values() if "editable" in p.get("source", {}) or "virtual" in p.get("source", {})]
    out, seen = [], set()

    def walk(deps):
        for d in deps:
            name = d["name"]
            marker = d.get("marker")
            if name in seen:
                continue
            seen.add(name)
            p = packages.get(name)
            if p is None:
                continue
            if "editable" in p.get("source", {}) or "virtual" in p.get("source", {}):
                walk(p.get("dependencies", []))
                continue
            hashes = [w["hash"] for w in p.get("wheels", []) if w.get("hash")]
            hashes += [p["sdist"]["hash"]] if p.get("sdist", {}).get("hash") else []
            out.append((f"{name}=={p['version']}" + (f" ; {marker}" if marker else ""), hashes))
            walk(p.get("dependencies", []))
            for extra in d.get("extra", []):
                walk(p.get("optional-dependencies", {}).get(extra, []))

    for r in roots:
        seen.add(r["name"])
        walk(r.get("dependencies", []))
    return out


def poetry_requirements(path):
    out = []
    for p in load_toml(path).get("package", []):
        groups = p.get("groups") or [p.get("category", "main")]
        if "main" not in groups:
            continue
        markers = p.get("markers")
        if isinstance(markers, dict):
            markers = markers.get("main")
        hashes = [f["hash"] for f in p.get("files", []) if f.get("hash")]
        out.append((f"{p['name']}=={p['version']}" + (f" ; {markers}" if markers else ""), hashes))
    return out


def pipfile_requirements(path):
    out = []
    for name, d in load_json(path).get("default", {}).items():
        if not isinstance(d, dict) or not d.get("version"):
            continue  # VCS and path entries need the Pipfile's own tooling
        out.append((f"{name}{d['version']}" + (f" ; {d['markers']}" if d.get("markers") else ""), d.get("hashes", [])))
    return out


def with_hashes(entries):
    """requirements lines; with --hash options when every entry has hashes (pip then checks them all)."""
    every = all(h for _, h in entries)
    return [r + "".join(f" --hash={h}" for h in hashes) if every else r for r, hashes in entries]


def pyproject_requirements(path):
    return list(load_toml(path).get("project", {}).get("dependencies", []))


# ---- start command ---------------------------------------------------------------------------------


def declared(reqs, name):
    return any(re.match(rf"^{name}(\b|[=<>~!\[ ;])", r.strip().lower()) for r in reqs)


def module_with(attr_names, files):
    for f in files:
        if os.path.isfile(f):
            text = open(f, encoding="utf-8", errors="replace").read()
            for a in attr_names:
                if re.search(rf"^{a}\s*=", text, re.M):
                    return f[:-3].replace("/", "."), a
    return None


# Runs its arguments with {HOST} and {PORT} replaced by those variables' values (default 0.0.0.0 and 8080): the
# web servers take the address as options, and a start that needs no shell to read the variables runs on the tiny
# run image.
WITH_ADDRESS = (
    "import os, sys; e = os.environ.get; "
    "a = [x.replace('{HOST}', e('HOST', '0.0.0.0')).replace('{PORT}', e('PORT', '8080')) for x in sys.argv[1:]]; "
    "os.execv(a[0], a)"
)


def start(reqs_path, venv):
    """The web command, exec-form: the venv's own executables by absolute path (whatever PATH order the launcher
    makes), through WITH_ADDRESS when the server is given the address."""
    cmd, address = start_command(reqs_path)
    if not cmd:
        return []
    cmd = [f"{venv}/bin/{cmd[0]}"] + cmd[1:]
    return [f"{venv}/bin/python", "-c", WITH_ADDRESS] + cmd if address else cmd


def start_command(reqs_path):
    """(command, whether it has {HOST}/{PORT} to replace); ([], False) when there is no conventional start."""
    reqs = [line for line in open(reqs_path, encoding="utf-8").read().splitlines() if line.strip()]
    if declared(reqs, "gunicorn"):
        for wsgi in sorted(f"{d}/wsgi.py" for d in os.listdir(".") if os.path.isfile(f"{d}/wsgi.py")):
            if os.path.isfile("manage.py"):
                return ["gunicorn", "--bind", "{HOST}:{PORT}", f"{wsgi[:-3].replace('/', '.')}:application"], True
        m = module_with(["app", "application"], ["wsgi.py", "app.py", "main.py", "server.py"])
        if m:
            return ["gunicorn", "--bind", "{HOST}:{PORT}", f"{m[0]}:{m[1]}"], True
    if declared(reqs, "uvicorn"):
        m = module_with(["app", "application"], ["main.py", "app.py", "asgi.py", "server.py"])
        if m:
            return ["uvicorn", f"{m[0]}:{m[1]}", "--host", "{HOST}", "--port", "{PORT}"], True
    scripts = load_toml("pyproject.toml").get("project", {}).get("scripts", {})
    if scripts:
        name, target = next(iter(scripts.items()))
        mod, _, func = target.partition(":")
        call = f"import sys; from {mod.strip()} import {func.strip().split('.')[0]} as f; sys.exit(f())" if func else f"import runpy; runpy.run_module({mod.strip()!r}, run_name='__main__')"
        return ["python", "-c", call, name], False
    for f in ("app.py", "main.py", "server.py", "wsgi.py"):
        if os.path.isfile(f):
            return ["python", f], False
    if os.path.isfile("manage.py"):
        return ["python", "manage.py", "runserver", "{HOST}:{PORT}"], True
    return [], False


# ---- SBOM ------------------------------------------------------------------------------------------


def cyclonedx(components):
    return json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.4", "version": 1, "components": components}, indent=1)


def sbom_venv(venv):
    comps = []
    for root, dirs, _ in os.walk(venv):
        for d in dirs:
            if d.endswith(".dist-info"):
                meta = {}
                try:
                    for line in open(os.path.join(root, d, "METADATA"), encoding="utf-8", errors="replace"):
                        if not line.strip():
                            break
                        k, _, v = line.partition(":")
                        meta.setdefault(k.strip(), v.strip())
                except FileNotFoundError:
                    continue
                name, version = meta.get("Name"), meta.get("Version")
                if name and version:
                    norm = re.sub(r"[-_.]+", "-", name).lower()
                    c = {"type": "library", "name": name, "version": version, "purl": f"pkg:pypi/{norm}@{version}"}
                    if meta.get("License-Expression"):
                        c["licenses"] = [{"expression": meta["License-Expression"]}]
                    comps.append(c)
        dirs[:] = [d for d in dirs if not d.endswith(".dist-info")]
    return sorted(comps, key=lambda c: c["purl"])


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "check-version":
        check_version(args[0])
    elif cmd == "requirements":
        kind, path = args
        if kind == "pep621":
            print("\n".join(pyproject_requirements(path)))
        else:
            fn = {"uv": uv_requirements, "poetry": poetry_requirements, "pipenv": pipfile_requirements}[kind]
            print("\n".join(with_hashes(fn(path))))
    elif cmd == "start":
        print(json.dumps(start(args[0], args[1])))
    elif cmd == "sbom-venv":
        print(cyclonedx(sbom_venv(args[0])))
    elif cmd == "sbom-runtime":
        print(cyclonedx([{"type": "application", "name": "python", "version": args[0], "purl": f"pkg:generic/python@{args[0]}?source=debian-bookworm-python3"}]))
    else:
        sys.exit(f"py.py: unknown command {cmd}")


if __name__ == "__main__":
    main()
