"""The bubblewrap command line around every Lean process that elaborates model-written code.

Lean runs arbitrary programs at elaboration time (``#eval``, ``run_cmd``, ``initialize``), so the code
inside is treated as hostile. The policy (:func:`wrap`):

* file system built from nothing: the root is an empty tmpfs, made read-only once set up; the system
  directories (``/usr``, ``/bin`` ... with merged-/usr symlinks kept as symlinks), a minimal ``/etc``,
  a fresh ``/dev`` (read-only) and ``/proc``, the Lean toolchain, and the paths the caller names
  (the Lake project, the REPL executable) are bound read-only; the private temporary directory is the
  one writable place and is also ``HOME`` and ``TMPDIR``. Nothing else of ``$HOME``, ``/tmp``, ``/run``
  or ``/var`` exists inside, so no host unix socket can be reached by path;
* new network (abstract unix sockets included), PID, IPC, UTS and cgroup namespaces;
* no capabilities (checked, not assumed: :func:`sandbox_available` refuses a sandbox that keeps any);
* an environment cleared down to an allow-list (no tokens, whatever the caller has set);
* kernel-enforced rlimits (address space, processes, file size, no core files), applied inside with
  util-linux ``prlimit``;
* a new session (no ``TIOCSTI`` into our terminal) and death with its parent.

Two ways to get there, chosen by who starts bwrap (``privileged``):

* an unprivileged caller: ``--unshare-all`` with a new user namespace (nested ones disabled). Inside
  it the process count behind RLIMIT_NPROC starts fresh (the kernel keeps it per user namespace).
* root: a user namespace would map the sandbox to host uid 0, and the kernel never enforces
  RLIMIT_NPROC for host root (``copy_process`` exempts ``INIT_USER``; measured here: 104 processes
  under ``--nproc=50``). So bwrap runs without a user namespace, sets everything up as root, and the
  command runs as a fresh unprivileged uid (:data:`SANDBOX_UID_RANGE`, one per private tmpdir, which
  is chowned to it) with every capability and the bounding set dropped by ``setpriv``. A fresh uid
  means a fresh process count too. Bound trees must then be world-readable (they normally are: the
  directories bwrap creates above them are 0755, so a 0700 ``/root`` above them does not matter).
"""

from __future__ import annotations

import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bridge.lean.procs import descendants

MB = 1024 * 1024


@dataclass(frozen=True)
class SandboxLimits:
    """Kernel-enforced limits for everything inside the sandbox; None leaves that limit as inherited.

    ``address_space_mb`` (RLIMIT_AS) must be generous for Lean: ``import Mathlib`` memory-maps every
    ``.olean`` (several GB at Lean v4.9), and each thread reserves its stack, so virtual size runs far
    above resident memory. 32 GB stops a runaway allocation without touching a real import; resident
    memory stays the pool's RSS poll's job. ``file_size_mb`` (RLIMIT_FSIZE) caps each file, memfds and
    tmpfs files included, so one memfd can no longer hold gigabytes out of sight of that poll (many
    memfds still can, up to the descriptor limit: only a memory cgroup would close that). RLIMIT_NOFILE is left as inherited: an import opens thousands of .olean files, and descriptors are
    already bounded per process by the inherited hard limit, so lowering it only risks breaking Lean.
    """

    address_space_mb: int | None = 32768
    processes: int | None = 1024
    file_size_mb: int | None = 1024


DEFAULT_LIMITS = SandboxLimits()

# What Lean, Lake's printed environment (`lake env printenv`) and elan need; nothing else crosses.
# Deliberately out: TERM (no terminal inside), PYTHONPATH/PYTHONHOME (a Python stand-in run as
# `python script.py` needs nothing, and they would point at host paths that are not bound),
# LAKE_PKG_URL_MAP (only used to clone dependencies, impossible without network, and its URLs may
# carry credentials), SSH/proxy/cloud variables.
ENV_ALLOW = frozenset({
    "LEAN_PATH", "LEAN_SRC_PATH", "LEAN_SYSROOT", "LEAN_GITHASH", "LEAN_AR", "LEAN_CC", "LEAN",
    "LAKE", "LAKE_HOME", "ELAN", "ELAN_HOME", "ELAN_TOOLCHAIN",
    "PATH", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "LANG", "LC_ALL", "LC_CTYPE",
    "LEAN_ABORT_ON_PANIC",  # the strict checker's runs: a panic in Lean.Replay must abort, not go on
})
# The project's test double (tests/fakes/fake_repl.py) is configured through FAKE_REPL_* variables.
ENV_ALLOW_PREFIXES = ("FAKE_REPL_",)
# Never passed, even when allow-listed (by prefix or by name).
SECRET_NAME = re.compile(r"TOKEN|SECRET|KEY|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)

# Host system directories bound read-only (or recreated as symlinks on merged-/usr systems).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
# The minimal /etc. ld.so.cache: the loader finds multiarch libraries (/usr/lib/x86_64-linux-gnu)
# only through it. alternatives: Debian's /usr/bin/<tool> symlinks point into it. localtime: local
# time as on the host. passwd, group, nsswitch.conf: getpwuid()/getgrgid() (Python, elan, id) answer
# from files; they hold no secrets (hashes live in shadow, which is not bound). Left out: ld.so.conf(.d)
# (read only by ldconfig, never by the loader), ld.so.preload (host preloads must not be injected),
# shadow, hosts, resolv.conf and ssl (no network), machine-id.
ETC_ENTRIES = ("ld.so.cache", "alternatives", "localtime", "passwd", "group", "nsswitch.conf")

# Root mode: the command runs as a uid from here, one per private tmpdir. Far above any real or
# subordinate (subuid) range; the kernel needs no passwd entry for it.
SANDBOX_UID_RANGE = (1_900_000_000, 1_900_000_000 + (1 << 24))

# Never bound, nor any ancestor of them: they hold the host's sockets, other users' files and secrets.
_FORBIDDEN_FIXED = ("/", "/tmp", "/var/tmp", "/dev/shm", "/run", "/var/run", "/proc", "/sys", "/dev")

# Never bound from the host: /dev and /proc are made fresh inside (a host device node bound read-only
# would not even open: binds are nodev), /sys is not there at all.
_FRESH = (Path("/dev"), Path("/proc"), Path("/sys"))

_PYTHON_NAME = re.compile(r"^(python|pypy)[0-9.]*$")


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _tool(name: str) -> str:
    found = shutil.which(name) or next((p for p in (f"/usr/bin/{name}", f"/bin/{name}") if os.path.exists(p)), None)
    if found is None:
        raise RuntimeError(f"`{name}` (util-linux) is not installed; the sandbox needs it")
    return os.path.realpath(found)


def _is_root() -> bool:
    return os.geteuid() == 0


# -- environment -------------------------------------------------------------------------------------


def sandbox_search_path(env: Mapping[str, str] | None = None) -> str:
    """The sandbox's PATH: the host's, with this interpreter's directory appended, so that a command
    like ``env X=1 python script.py`` finds a python (the same one ``lean_readonly_paths`` binds)."""
    src = os.environ if env is None else env
    parts = [p for p in src.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p]
    here = os.path.dirname(os.path.abspath(sys.executable))
    return os.pathsep.join(parts + ([here] if here and here not in parts else []))


def sandbox_env(env: Mapping[str, str] | None, tmpdir: Path, toolchain: Path | None) -> dict[str, str]:
    """The variables the sandboxed process gets: the allow-listed ones of ``env``, never a secret-named one;
    PATH also has this interpreter's directory (``sandbox_search_path``)."""
    src = os.environ if env is None else env
    out = {k: v for k, v in src.items()
           if (k in ENV_ALLOW or k.startswith(ENV_ALLOW_PREFIXES)) and not SECRET_NAME.search(k)
           and "\0" not in v}
    out["PATH"] = sandbox_search_path(src)
    out["HOME"] = out["TMPDIR"] = str(tmpdir)
    if toolchain is not None:  # with HOME moved, elan's proxies would otherwise look in tmpdir/.elan
        out["ELAN_HOME"] = str(toolchain)
    return out


def toolchain_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """The elan directory (``$ELAN_HOME``, else ``~/.elan`` of ``env``), resolved; None if absent."""
    src = os.environ if env is None else env
    home = src.get("HOME") or os.path.expanduser("~")
    p = Path(src.get("ELAN_HOME") or Path(home) / ".elan")
    return p.resolve() if p.is_dir() else None


# -- which paths may be bound -----------------------------------------------------------------------


def _forbidden(env: Mapping[str, str], home: str | Path | None) -> list[Path]:
    """Directories never bound (nor any ancestor): the fixed ones, the caller's $HOME and $TMPDIR."""
    dirs = [*_FORBIDDEN_FIXED, home or env.get("HOME") or os.path.expanduser("~"),
            env.get("TMPDIR") or tempfile.gettempdir()]
    out = [Path(os.path.abspath(d)) for d in dirs]
    return list(dict.fromkeys(out + [Path(os.path.realpath(d)) for d in out]))


def _is_forbidden(p: Path, forbidden: Sequence[Path]) -> bool:
    """``p`` is one of the forbidden directories or an ancestor of one (binding it would expose it)."""
    for q in (p, Path(os.path.realpath(p))):
        if any(q == f or q in f.parents for f in forbidden):
            return True
    return False


def _executable_paths(exe: Path, forbidden: Sequence[Path]) -> list[Path]:
    """What an executable needs to run: itself and, where safe, its installation prefix (and venv)."""
    exe = Path(os.path.abspath(exe))
    real = exe.resolve()
    out = [exe]
    prefixes: list[Path] = []
    venv = exe.parent.parent
    cfg = venv / "pyvenv.cfg"
    if cfg.is_file():  # a virtualenv's python: pyvenv.cfg and lib/ (site-packages), then the base prefix
        if not _is_forbidden(venv, forbidden):
            out.append(venv)
        else:
            out += [p for p in (cfg, venv / "lib", venv / "lib64") if p.exists()]
        try:
            text = cfg.read_text(errors="replace")
        except OSError:
            text = ""
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip():  # the base interpreter's bin directory
                prefixes.append(Path(value.strip()).resolve().parent)
    if _PYTHON_NAME.match(real.name) or real.parent.name == "bin":
        prefixes.append(real.parent.parent)  # sys.base_prefix-like: stdlib, lib/, shared libraries
    for pre in prefixes:
        if pre.is_dir() and not _is_forbidden(pre, forbidden):
            out.append(pre)
    if real != exe:
        out.append(real)  # the file itself even when its prefix may not be bound
    return out


def lean_readonly_paths(project: Path, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                        home: str | Path | None = None) -> list[Path]:
    """What Lean needs to see inside the sandbox: the project, the toolchain, the command's files.

    Each absolute argument that exists is bound itself (a file, or a directory that is not ``/``,
    ``/tmp``, ``$HOME`` or an ancestor of them). Executables (``argv[0]``, found on ``PATH`` if
    relative, and any absolute executable argument, e.g. the python after ``env X=1``) also get what
    they need to run: a virtualenv's directory and a Python's (or ``.../bin/x``'s) installation prefix,
    unless that prefix is a forbidden directory, in which case only the file is bound.
    """
    src = os.environ if env is None else env
    forbidden = _forbidden(src, home)
    paths: list[Path] = [Path(project)]
    tc = toolchain_dir(src)
    if tc is not None:
        paths.append(tc)
    # the command word: argv[0], or after `env [-opts] [NAME=VALUE]...` the program env runs
    command = 0
    if argv and Path(argv[0]).name == "env":
        command = next((i for i, a in enumerate(argv) if i > 0 and not a.startswith("-") and "=" not in a), 0)
    for i, a in enumerate(argv):
        p = Path(a)
        if i in (0, command) and not p.is_absolute():
            found = shutil.which(a, path=sandbox_search_path(src))
            if found is None:
                continue
            p = Path(found)
        if not p.is_absolute() or not p.exists():
            continue
        if p.is_file() and os.access(p, os.X_OK):
            paths += _executable_paths(p, forbidden)
        elif p.is_file() or not _is_forbidden(p, forbidden):
            paths.append(p)
    return list(dict.fromkeys(paths))


# -- the command line --------------------------------------------------------------------------------


class _Plan:
    """Mount operations in an order bwrap accepts: parents before children, private tmpdir last."""

    def __init__(self, forbidden: Sequence[Path]):
        self.forbidden = forbidden
        self.binds: dict[Path, str] = {}  # real path -> "--ro-bind" | "--bind"
        self.links: dict[Path, str] = {}  # path -> symlink target
        self.args: list[str] = []
        self.emitted: set[Path] = set()  # binds and symlinks already made (the system ones)
        self._dirs: set[Path] = {Path("/")}

    def add(self, p: Path, *, check: bool = True) -> None:
        """Make absolute path ``p`` visible read-only, symlink components and all (at most 40 hops)."""
        todo = [Path(os.path.abspath(p))]
        for _ in range(40):
            if not todo:
                return
            q = todo.pop()
            if not os.path.lexists(q) or any(q == d or d in q.parents for d in _FRESH):
                return  # absent (as before: skipped), or provided fresh inside (/dev, /proc) or never (/sys)
            cur = Path("/")
            for i, part in enumerate(q.parts[1:], start=1):
                cur = cur / part
                if cur.is_symlink():
                    target = os.readlink(cur)
                    self.links.setdefault(cur, target)
                    rest = q.parts[i + 1:]
                    todo.append(Path(os.path.normpath(cur.parent / target)).joinpath(*rest))
                    break
            else:
                if check and _is_forbidden(q, self.forbidden):
                    raise ValueError(f"refusing to bind {q} into the sandbox: it is /, /tmp, $HOME, /run or "
                                     "an ancestor of them, and would expose the host's files and sockets")
                self.binds.setdefault(q, "--ro-bind")

    def covered(self, p: Path, *, by_links: bool = True) -> bool:
        if any(p == b or b in p.parents for b in self.binds):
            return True
        return by_links and any(p == s or s in p.parents for s in self.links)

    def _mkdirs(self, p: Path) -> None:
        # bwrap would create missing parents 0700 (root-owned in root mode: unreadable by the sandbox uid)
        for d in reversed(p.parents):
            if d not in self._dirs and not self.covered(d, by_links=False):
                self.args += ["--perms", "0755", "--dir", str(d)]
                self._dirs.add(d)

    def render(self, tmp: Path) -> list[str]:
        for real in sorted(self.binds, key=lambda b: len(b.parts)):
            others = {b: k for b, k in self.binds.items() if b != real}
            if real in self.emitted or any(b in real.parents for b in others) or tmp == real or tmp in real.parents:
                continue  # inside another bind (same view) or inside the private tmpdir (already visible)
            self._mkdirs(real)
            self.args += [self.binds[real], str(real), str(real)]
            self._dirs.add(real)
        for link, target in sorted(self.links.items(), key=lambda kv: len(kv[0].parts)):
            if link in self.emitted or self.covered(link.parent, by_links=False) or tmp == link or tmp in link.parents:
                continue  # the link already exists inside a bound tree
            if any(s in link.parents for s in self.links):
                continue  # below another symlink: reached through it
            self._mkdirs(link)
            self.args += ["--symlink", target, str(link)]
        self._mkdirs(tmp)
        self.args += ["--bind", str(tmp), str(tmp)]  # last: writable even inside a read-only bind
        return self.args


def _system_args(plan: _Plan) -> list[str]:
    args: list[str] = []
    for d in SYSTEM_DIRS:
        p = Path(d)
        if p.is_symlink():  # merged /usr: /bin -> usr/bin
            args += ["--symlink", os.readlink(p), d]
            plan.links[p] = os.readlink(p)
            plan.emitted.add(p)
        elif p.is_dir():
            args += ["--ro-bind", d, d]
            plan.binds[p] = "--ro-bind"
            plan.emitted.add(p)
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC_ENTRIES:
        p = Path("/etc", name)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), str(p)]
        elif p.exists():
            args += ["--ro-bind", str(p), str(p)]
    plan._dirs.add(Path("/etc"))
    return args + ["--dev", "/dev", "--proc", "/proc"]


def _clamp(value: int, which: int) -> int:
    # lowering needs no privilege, raising past the hard limit does: stay within what we were given
    hard = resource.getrlimit(which)[1]
    return value if hard == resource.RLIM_INFINITY else min(value, hard)


def _limit_args(limits: SandboxLimits) -> list[str]:
    args = [_tool("prlimit"), "--core=0"]
    if limits.address_space_mb is not None:
        args.append(f"--as={_clamp(limits.address_space_mb * MB, resource.RLIMIT_AS)}")
    if limits.processes is not None:
        args.append(f"--nproc={_clamp(limits.processes, resource.RLIMIT_NPROC)}")
    if limits.file_size_mb is not None:
        args.append(f"--fsize={_clamp(limits.file_size_mb * MB, resource.RLIMIT_FSIZE)}")
    return args + ["--"]


def _sandbox_uid(tmp: Path) -> int:
    """Root mode: the uid the command runs as. One per private tmpdir, kept across runs that share it."""
    lo, hi = SANDBOX_UID_RANGE
    st = tmp.stat()
    if lo <= st.st_uid < hi:
        return st.st_uid
    uid = lo + secrets.randbelow(hi - lo)
    os.chown(tmp, uid, uid)
    os.chmod(tmp, 0o700)
    return uid


def wrap(
    argv: Sequence[str],
    tmpdir: str | Path,
    readonly: Iterable[str | Path] = (),
    home: str | Path | None = None,
    cwd: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    limits: SandboxLimits | None = None,
    privileged: bool | None = None,
) -> list[str]:
    """``argv`` under bwrap, with the policy of this module.

    ``tmpdir``: the private, writable directory (exists; in root mode it is chowned to the sandbox
    uid). After a run its contents are hostile: the sandboxed code may have left symlinks there, so
    never write into it with a call that follows them (``open(..., "w")``, ``Path.write_text``). ``readonly``: what to bind read-only (see :func:`lean_readonly_paths`); a path that is ``/``,
    ``/tmp``, ``$HOME``, ``/run`` or an ancestor of them raises ValueError. ``home``: the caller's home
    (default ``env['HOME']``), never bound. ``cwd``: where the command starts (default ``tmpdir``); it
    must be visible inside. ``env``: the environment the caller will start bwrap with (None:
    ``os.environ``); only its allow-listed variables reach the command. ``limits``: rlimits (None:
    :data:`DEFAULT_LIMITS`). ``privileged``: whether bwrap is started by root (None: our euid is 0);
    False while root only makes sense when bwrap is then started as another user (``setpriv``): run by
    root, that policy maps the sandbox to host uid 0 and the process limit is not enforced.
    """
    bw = bwrap_path()
    if bw is None:
        raise RuntimeError("bubblewrap is not installed")
    src = os.environ if env is None else env
    limits = DEFAULT_LIMITS if limits is None else limits
    privileged = _is_root() if privileged is None else privileged
    tmp = Path(tmpdir).resolve()
    if not tmp.is_dir():
        raise ValueError(f"the sandbox's private tmpdir {tmp} does not exist")
    forbidden = _forbidden(src, home)
    if _is_forbidden(tmp, forbidden):
        raise ValueError(f"the sandbox's private tmpdir {tmp} must be a directory of its own, not /tmp or $HOME")

    plan = _Plan(forbidden)
    system = _system_args(plan)
    toolchain = toolchain_dir(src)
    for p in ([toolchain] if toolchain else []) + [Path(p) for p in readonly]:
        plan.add(Path(p))
    tools = [_tool("prlimit")] + ([_tool("setpriv")] if privileged else [])
    for t in tools:  # normally under /usr already
        if not plan.covered(Path(t)):
            plan.add(Path(t), check=False)
    work = Path(cwd).resolve() if cwd is not None else tmp
    if not (plan.covered(work) or work == tmp or tmp in work.parents):
        raise ValueError(f"the sandbox's working directory {work} is not visible inside: pass it in readonly")

    if privileged:
        # no user namespace (see the module docstring). Between bwrap and the command only prlimit and
        # setpriv run, keeping just what they need: to --chdir into the sandbox uid's 0700 tmpdir
        # (DAC_READ_SEARCH) and to drop to that uid and clear the bounding set; setpriv drops them all.
        ns = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
              "--cap-drop", "ALL", "--cap-add", "CAP_DAC_READ_SEARCH", "--cap-add", "CAP_SETUID",
              "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    else:
        ns = ["--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    args = [bw, *ns, "--new-session", "--die-with-parent", *system, *plan.render(tmp),
            "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", str(work), "--clearenv"]
    for k, v in sorted(sandbox_env(src, tmp, toolchain).items()):
        args += ["--setenv", k, v]
    args += ["--", *_limit_args(limits)]
    if privileged:
        uid = _sandbox_uid(tmp)
        args += [tools[1], f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--"]
    return args + list(argv)


# -- failures ----------------------------------------------------------------------------------------


_BWRAP_MSG = re.compile(r"(?:^|[\s(])bwrap: ([^;\n]+)")
# bwrap's messages about a path (bubblewrap's bubblewrap.c/utils.c: "Can't find source path %s: %s",
# "execvp %s: %s", "Can't chdir to %s: %s", "Can't mkdir %s: %s", "Can't create file at %s: %s")
_BWRAP_PATH = re.compile(r"(?:source path|execvp|chdir to|mkdir|file at|open) (\S+?):")


def explain_failure(stderr: str, returncode: int | None) -> str | None:
    """One line if bwrap itself failed to start the sandbox (its own ``bwrap: ...`` message, wherever it
    is in ``stderr``), the path it names first; else None."""
    if returncode == 0:
        return None
    m = _BWRAP_MSG.search(stderr)
    if m is None:
        return None
    said = m.group(1).strip().rstrip(")")
    where = _BWRAP_PATH.search(said)
    missing = f"missing: {where.group(1)}; " if where and "No such file" in said else ""
    return f"the sandbox (bubblewrap) failed to start: {missing}bwrap says: {said}"


# -- probing the real policy -------------------------------------------------------------------------


def check_capabilities(status: str) -> tuple[bool, str]:
    """From a ``/proc/self/status`` text: whether the process holds no capability at all."""
    caps = {}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            try:
                caps[key] = int(value.strip(), 16)
            except ValueError:
                return False, f"unreadable {key} in /proc/self/status: {value.strip()!r}"
    missing = [k for k in ("CapEff", "CapPrm", "CapBnd") if k not in caps]
    if missing:
        return False, f"cannot read {', '.join(missing)} from /proc/self/status"
    held = {k: v for k, v in caps.items() if v}
    if held:
        return False, ("refuse to run sandboxed code with capabilities: "
                       + ", ".join(f"{k}={v:016x}" for k, v in held.items()))
    return True, "no capabilities (CapEff, CapPrm, CapBnd all zero)"


_PROBE_SCRIPT = r"""
echo @@STATUS; cat /proc/self/status
echo @@LIMITS; cat /proc/self/limits
echo @@MOUNTS; cat /proc/self/mountinfo
echo @@STAT; cat /proc/self/stat; echo
echo @@UIDMAP; cat /proc/self/uid_map
echo @@NS; readlink /proc/self/ns/net /proc/self/ns/pid
echo @@ENV; env
echo @@ROOT; ls -A /
echo @@TMP; ls -A /tmp 2>/dev/null
echo @@HOME; ls -A "$1" 2>/dev/null
echo @@WRITE; for f in /.probe /etc/.probe /dev/.probe; do (echo x > "$f") 2>/dev/null && echo "$f"; done
echo @@READY
exec sleep 60
"""
_CANARY = "BRIDGE_SANDBOX_PROBE_TOKEN"


@dataclass(frozen=True)
class Probe:
    ok: bool  # the sandbox started and answered
    why: str
    sections: Mapping[str, str]
    protections: tuple[tuple[str, bool, str], ...]


def _section_map(out: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    cur = ""
    for line in out.splitlines():
        if line.startswith("@@"):
            cur = line[2:].strip()
            sections[cur] = []
        elif cur:
            sections[cur].append(line)
    return {k: "\n".join(v) for k, v in sections.items()}


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, start time) of a process's descendants, read from /proc."""
    return [(c, _start_time(c) or "") for c in descendants(pid)]


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]  # a zombie is dead


def alive(procs: Iterable[tuple[int, str]]) -> list[int]:
    """Those of ``(pid, start time)`` still running (not gone, not a zombie, not a reused pid)."""
    return [p for p, st in procs if _start_time(p) is not None and _start_time(p) == st]


def _limit_value(limits_text: str, name: str) -> str | None:
    for line in limits_text.splitlines():
        if line.startswith(name):
            return line[len(name):].split()[0]
    return None


def _host_uid(status: str, uid_map: str) -> int | None:
    """The kernel (host) uid behind the real uid a sandboxed process reports, through its uid_map."""
    uid = next((int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("Uid:")), None)
    if uid is None:
        return None
    for ln in uid_map.splitlines():
        parts = ln.split()
        if len(parts) == 3 and all(x.isdigit() for x in parts):
            inside, outside, count = map(int, parts)
            if inside <= uid < inside + count:
                return outside + uid - inside
    return None


def _judge(sec: Mapping[str, str], host_home: Path, dests: Sequence[Path], survivors: int, n_desc: int,
           privileged: bool) -> list[tuple[str, bool, str]]:
    rows: list[tuple[str, bool, str]] = []
    ns = sec.get("NS", "").split()
    host_net, host_pid = os.readlink("/proc/self/ns/net"), os.readlink("/proc/self/ns/pid")
    rows.append(("network namespace", len(ns) == 2 and ns[0] != host_net, ns[0] if ns else "not read"))
    rows.append(("PID namespace", len(ns) == 2 and ns[1] != host_pid,
                 "pid " + next((ln.split()[1] for ln in sec.get("STATUS", "").splitlines()
                                if ln.startswith("Pid:")), "?") + " inside"))
    caps_ok, caps_why = check_capabilities(sec.get("STATUS", ""))
    rows.append(("capabilities dropped", caps_ok, caps_why))
    names = {ln.split("=", 1)[0] for ln in sec.get("ENV", "").splitlines() if "=" in ln}
    allowed = ENV_ALLOW | {"HOME", "TMPDIR", "PWD", "SHLVL", "_", "OLDPWD"}  # the last four: sh's own
    extra = sorted(n for n in names if n not in allowed and not n.startswith(ENV_ALLOW_PREFIXES))
    rows.append(("environment cleared", _CANARY not in names and not extra,
                 f"{len(names)} variables, all allow-listed" if not extra and _CANARY not in names
                 else "leaked: " + ", ".join(extra or [_CANARY])))
    root_mount = next((ln.split() for ln in sec.get("MOUNTS", "").splitlines()
                       if len(ln.split()) > 4 and ln.split()[4] == "/"), [])
    fstype = root_mount[root_mount.index("-") + 1] if "-" in root_mount else "?"
    # what is visible at /, in /tmp and in the host's $HOME must be exactly what the policy put there
    seen = {"/": sec.get("ROOT", ""), "/tmp": sec.get("TMP", ""), str(host_home): sec.get("HOME", "")}
    leaked = []
    for where, listing in seen.items():
        for name in listing.split():
            p = Path(where, name)
            if not any(p == d or p in d.parents for d in dests):
                leaked.append(str(p))
    minimal = fstype == "tmpfs" and not leaked
    rows.append(("minimal file system", minimal,
                 f"root is {fstype}; / holds {', '.join(sec.get('ROOT', '').split())}" if minimal
                 else f"root is {fstype}; host entries visible: {', '.join(leaked)}"))
    opts = root_mount[5].split(",") if len(root_mount) > 5 else []
    written = sec.get("WRITE", "").split()
    rows.append(("read-only root", "ro" in opts and not written,
                 "/, /etc and /dev read-only" if not written else "wrote " + ", ".join(written)))
    host_uid = _host_uid(sec.get("STATUS", ""), sec.get("UIDMAP", ""))
    for name, label in (("memory limit", "Max address space"), ("process limit", "Max processes"),
                        ("file-size limit", "Max file size")):
        v = _limit_value(sec.get("LIMITS", ""), label)
        shown = f"{int(v) // MB} MB" if v and v.isdigit() and name != "process limit" else v
        on, note = v not in (None, "unlimited"), f"{label}: {shown}"
        if name == "process limit" and host_uid in (0, None):
            # the kernel never applies RLIMIT_NPROC to host root, user namespace or not
            on, note = False, note + f"; not enforced: the sandbox runs as host uid {host_uid}"
        rows.append((name, on, note))
    stat = sec.get("STAT", "").rsplit(")", 1)
    sid = stat[1].split()[3] if len(stat) == 2 and len(stat[1].split()) > 3 else "0"
    # a session led from outside the PID namespace would read as 0
    rows.append(("die-with-parent/new session", sid != "0" and n_desc > 0 and survivors == 0,
                 f"session {sid} inside; {n_desc} process(es), {survivors} alive after killpg of bwrap"
                 + ("; runs as a fresh unprivileged uid, no user namespace" if privileged else
                    "; own user namespace, nested ones disabled")))
    return rows


@dataclass(frozen=True)
class ProbeRun:
    """The raw outcome of one probe run: what the sandboxed shell printed, and what killing it left."""

    returncode: int | None  # None: it answered (and was then killed); else bwrap's/the shell's exit status
    stdout: str
    stderr: str
    dests: tuple[Path, ...]  # every path the policy put inside
    processes: int  # the sandbox's processes seen from outside before the kill
    survivors: int  # of those, alive after os.killpg(bwrap's pid, SIGKILL)


def _bwrap_dests(argv: Sequence[str]) -> list[Path]:
    """Destination paths of a bwrap command line (binds, symlinks, directories, /dev, /proc)."""
    two = {"--ro-bind", "--bind", "--symlink", "--ro-bind-try", "--bind-try", "--dev-bind"}
    one_path = {"--dir", "--dev", "--proc", "--tmpfs"}
    skip = {"--perms": 1, "--setenv": 2, "--chdir": 1, "--remount-ro": 1, "--cap-drop": 1, "--cap-add": 1}
    out, i = [], 1
    while i < len(argv) and argv[i] != "--":
        a = argv[i]
        if a in two:
            out.append(Path(argv[i + 2]))
            i += 3
        elif a in one_path:
            out.append(Path(argv[i + 1]))
            i += 2
        else:
            i += 1 + skip.get(a, 0)
    return out


def _run_probe(limits: SandboxLimits, privileged: bool) -> ProbeRun:
    """Start the real policy around a shell script, read what it sees, then kill it as the pool does."""
    tmp = Path(tempfile.mkdtemp(prefix="bridge-sandbox-probe-"))
    env = dict(os.environ, **{_CANARY: "must-not-leak"})
    try:
        argv = wrap(["sh", "-c", _PROBE_SCRIPT, "probe", os.path.expanduser("~")], tmp, env=env,
                    limits=limits, privileged=privileged)
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True, text=True, errors="replace")
        timer = threading.Timer(20, lambda: _killpg(proc.pid))  # a probe that hangs is a failed probe
        timer.start()
        try:
            assert proc.stdout is not None and proc.stderr is not None
            lines: list[str] = []
            for line in proc.stdout:
                lines.append(line)
                if line.startswith("@@READY"):
                    break
            answered = bool(lines) and lines[-1].startswith("@@READY")
            desc = _descendants(proc.pid)
            _killpg(proc.pid)  # exactly what Repl.kill does
            proc.wait()
            deadline = time.monotonic() + 5
            while alive(desc) and time.monotonic() < deadline:
                time.sleep(0.01)
            stderr = proc.stderr.read()
        finally:
            timer.cancel()
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        return ProbeRun(None if answered else proc.returncode, "".join(lines), stderr,
                        tuple(_bwrap_dests(argv)), len(desc), len(alive(desc)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def probe(limits: SandboxLimits | None = None, *, privileged: bool | None = None) -> Probe:
    """Run the real policy once per (limits, privileged) and record what the sandboxed process could see
    and do. Cached for the life of the process (``_probe.cache_clear()`` forgets)."""
    return _probe(DEFAULT_LIMITS if limits is None else limits, _is_root() if privileged is None else privileged)


@lru_cache(maxsize=8)
def _probe(limits: SandboxLimits, privileged: bool) -> Probe:
    if bwrap_path() is None:
        return Probe(False, "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)", {}, ())
    try:
        run = _run_probe(limits, privileged)
    except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as e:
        return Probe(False, f"bwrap failed to run: {e}", {}, ())
    return judge_probe(run, privileged)


def judge_probe(run: ProbeRun, privileged: bool) -> Probe:
    """A probe run -> whether the sandbox works and which protections hold (pure: tests feed it text)."""
    if run.returncode is not None:
        why = (explain_failure(run.stderr, run.returncode)
               or f"the sandbox probe exited with status {run.returncode}: {run.stderr.strip()[:300]}")
        return Probe(False, "bwrap cannot create the sandbox here: " + why, {}, ())
    sec = _section_map(run.stdout)
    rows = _judge(sec, Path(os.path.expanduser("~")), run.dests, run.survivors, run.processes, privileged)
    return Probe(True, "the sandbox probe ran", sec, tuple(rows))


def sandbox_available() -> tuple[bool, str]:
    """Whether the real policy starts here and every protection holds (some containers forbid
    namespaces; a sandbox that keeps capabilities is refused)."""
    pr = probe()
    if not pr.ok:
        return False, pr.why
    off = [(name, note) for name, on, note in pr.protections if not on]
    caps = next((note for name, on, note in pr.protections if name == "capabilities dropped" and not on), None)
    if caps is not None:
        return False, caps
    if off:
        return False, "the sandbox is missing protections: " + "; ".join(f"{n} ({why})" for n, why in off)
    mode = "as a fresh uid, no user namespace (caller is root)" if _is_root() else "in a user namespace"
    return True, f"bubblewrap works: {len(pr.protections)} protections verified, {mode}"


def protections(limits: SandboxLimits | None = None, *, privileged: bool | None = None
                ) -> list[tuple[str, bool, str]]:
    """(name, on, note) per protection, for ``bridge doctor``, from a probe run of the real policy."""
    pr = probe(limits, privileged=privileged)
    if not pr.ok:
        names = ("network namespace", "PID namespace", "capabilities dropped", "environment cleared",
                 "minimal file system", "read-only root", "memory limit", "process limit", "file-size limit",
                 "die-with-parent/new session")
        return [(n, False, pr.why) for n in names]
    return list(pr.protections)
