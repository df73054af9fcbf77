"""The sandbox, run for real under bubblewrap (skipped with the reason where namespaces are unavailable).

Most checks run twice: as the caller of the test suite (root on the development machine: bwrap without
a user namespace, the command dropped to a fresh uid) and, when we are root, as ``nobody`` through
``setpriv`` (the unprivileged path: bwrap with its own user namespace). The sandboxed program is a
Python interpreter: ``sys.executable``, or for ``nobody`` a Python it can reach (a venv under a 0700
``/root`` is out of its reach).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.lean import sandbox
from bridge.lean.sandbox import (
    SandboxLimits,
    check_capabilities,
    explain_failure,
    lean_readonly_paths,
    protections,
    sandbox_available,
    wrap,
)

ROOT = Path(__file__).resolve().parents[1]
OK, WHY = sandbox_available()
needs_bwrap = pytest.mark.skipif(not OK, reason=f"bubblewrap unusable here: {WHY}")
NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def _nobody_python() -> tuple[str | None, str]:
    """A Python that ``nobody`` can run under bwrap, or None and why not."""
    if os.geteuid() != 0:
        return None, "not root: cannot switch to nobody (the caller's own run covers the unprivileged path)"
    bw = sandbox.bwrap_path()
    if bw is None or shutil.which("setpriv") is None:
        return None, "bwrap or setpriv missing"
    r = subprocess.run([*AS_NOBODY, bw, "--unshare-user", "--ro-bind", "/", "/", "true"], capture_output=True,
                       text=True, cwd="/")
    if r.returncode != 0:
        return None, f"unprivileged user namespaces are refused here: {r.stderr.strip()}"
    for py in (sys.executable, "/usr/bin/python3"):
        # bwrap, run as nobody, must open the interpreter to bind it: nobody must be able to read it
        real = os.path.realpath(py)
        if subprocess.run([*AS_NOBODY, "test", "-r", real], capture_output=True, cwd="/").returncode == 0:
            return py, ""
    return None, f"nobody can run no Python ({sys.executable} lives under a directory it cannot enter)"


NOBODY_PY, NOBODY_WHY = _nobody_python() if OK else (None, WHY)


@dataclass
class Box:
    """One sandbox configuration: who starts bwrap, its private tmpdir, the project, the Python."""

    mode: str  # "caller" | "nobody"
    tmp: Path
    project: Path
    python: str
    env: dict[str, str]
    outside: Path  # a writable host directory next to the tmpdir, never bound

    def argv(self, args: Sequence[str], *, limits: SandboxLimits | None = None, cwd: Path | None = None,
             env: Mapping[str, str] | None = None, readonly: Sequence[Path] = ()) -> list[str]:
        cmd = [self.python, *args]
        ro = lean_readonly_paths(self.project, cmd, env=env or self.env) + list(readonly)
        argv = wrap(cmd, self.tmp, readonly=ro, cwd=cwd, env=env or self.env, limits=limits,
                    privileged=self.mode == "caller" and os.geteuid() == 0)
        return [*AS_NOBODY, *argv] if self.mode == "nobody" else argv

    def run(self, code: str, *, timeout: float = 30, env: Mapping[str, str] | None = None,
            **kw: object) -> subprocess.CompletedProcess[str]:
        argv = self.argv(["-c", code], env=env, **kw)  # type: ignore[arg-type]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env or self.env, cwd="/")

    def popen(self, code: str, **kw: object) -> subprocess.Popen[str]:
        # as bridge.lean.repl.Repl starts it: its own session, so os.killpg(pid) reaches bwrap's group
        return subprocess.Popen(self.argv(["-c", code], **kw), stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # type: ignore[arg-type]
                                text=True, env=self.env, start_new_session=True, cwd="/")


@pytest.fixture(params=["caller", "nobody"])
def box(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Box]:
    if not OK:
        pytest.skip(f"bubblewrap unusable here: {WHY}")
    if request.param == "caller":
        (tmp_path / "box").mkdir()
        (tmp_path / "outside").mkdir()
        yield Box("caller", tmp_path / "box", ROOT, sys.executable, dict(os.environ), tmp_path / "outside")
        return
    if NOBODY_PY is None:
        pytest.skip(f"cannot run the sandbox as nobody: {NOBODY_WHY}")
    # nobody must reach every bind source on the host: a 0755 directory of its own under /tmp
    base = Path(tempfile.mkdtemp(prefix="bridge-nobody-"))
    base.chmod(0o755)
    for name in ("box", "project", "home", "outside"):
        (base / name).mkdir()
        os.chown(base / name, NOBODY, NOBODY)
    (base / "project" / "lakefile.lean").write_text("-- a project\n")
    env = dict(os.environ, HOME=str(base / "home"))
    try:
        yield Box("nobody", base / "box", base / "project", NOBODY_PY, env, base / "outside")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def lines(r: subprocess.CompletedProcess[str]) -> list[str]:
    return r.stdout.split("\n")


# -- file system ------------------------------------------------------------------------------------


def test_writes_stay_in_the_private_tmpdir(box: Box) -> None:
    targets = [box.outside / "x", Path("/tmp/bridge-escape"), Path("/dev/shm/bridge-escape"),
               Path(box.env["HOME"]) / "x", Path.home() / "bridge-escape", box.project / "x", Path("/etc/x"),
               Path("/var/tmp/x"), Path("/x"), Path("/usr/x")]
    r = box.run(f"""
import pathlib
pathlib.Path({str(box.tmp / 'ok.txt')!r}).write_text('fine')
for target in {[str(t) for t in targets]!r}:
    try:
        pathlib.Path(target).write_text('escaped')
        print('WROTE', target)
    except OSError as e:
        print('DENIED', target, e.errno)
""")
    assert r.returncode == 0, r.stderr
    assert "WROTE" not in r.stdout and r.stdout.count("DENIED") == len(targets), r.stdout + r.stderr
    assert (box.tmp / "ok.txt").read_text() == "fine"
    assert not any(t.exists() for t in targets if t.parent != Path("/"))


def test_home_is_not_readable(box: Box, tmp_path: Path) -> None:
    secret = secrets.token_hex(8)
    fake_home = tmp_path / "fakehome"
    fake_home.mkdir()
    (fake_home / ".secret").write_text(secret)
    real_secret = Path.home() / f".bridge-sandbox-test-{secrets.token_hex(4)}"
    real_secret.write_text(secret)
    try:
        env = dict(box.env, HOME=str(fake_home)) if box.mode == "caller" else box.env
        r = box.run(f"""
import os
for t in {[str(fake_home / ".secret"), str(real_secret)]!r}:
    try:
        print('READ', open(t).read())
    except OSError as e:
        print('DENIED', t, e.errno)
for d in {[str(fake_home), str(Path.home()), box.env["HOME"]]!r}:
    try:
        print('LIST', d, ' '.join(sorted(os.listdir(d))))
    except OSError as e:
        print('NOLIST', d, e.errno)
print('HOME', os.environ['HOME'])
""", env=env)
        assert r.returncode == 0, r.stderr
        assert secret not in r.stdout and "READ" not in r.stdout, r.stdout + r.stderr
        assert r.stdout.count("DENIED") == 2, r.stdout + r.stderr
        # a home directory shows at most the way to what was bound on purpose (the interpreter, the
        # toolchain), never its own files
        bound = lean_readonly_paths(box.project, [box.python], env=env)
        for ln in lines(r):
            if ln.startswith("LIST"):
                _, d, *names = ln.split(" ")
                ways = {p.relative_to(d).parts[0] for p in bound if Path(d) in p.parents}
                assert set(n for n in names if n) <= ways, (d, names, ways)
        assert f"HOME {box.tmp}" in r.stdout  # HOME is the private tmpdir
    finally:
        real_secret.unlink()


def test_works_with_home_and_toolchain_under_tmp(tmp_path: Path) -> None:
    """HOME under /tmp (bwrap used to refuse to start): the toolchain in it is visible, nothing else."""
    if not OK:
        pytest.skip(f"bubblewrap unusable here: {WHY}")
    home = tmp_path / "home"
    lean = home / ".elan" / "toolchains" / "fake" / "bin" / "lean"
    lean.parent.mkdir(parents=True)
    lean.write_text("a toolchain file")
    (home / ".secret").write_text("token")
    box = tmp_path / "box"
    box.mkdir()
    env = dict(os.environ, HOME=str(home))
    env.pop("ELAN_HOME", None)
    argv = wrap([sys.executable, "-c", f"""
import os
print('LEAN', open({str(lean)!r}).read())
print('ELAN_HOME', os.environ.get('ELAN_HOME'))
print('HOME', sorted(os.listdir({str(home)!r})))
try:
    open({str(home / '.secret')!r})
    print('READ')
except OSError as e:
    print('DENIED', e.errno)
"""], box, readonly=lean_readonly_paths(ROOT, [sys.executable], env=env), env=env)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 0, r.stderr
    assert "LEAN a toolchain file" in r.stdout and f"ELAN_HOME {home / '.elan'}" in r.stdout, r.stdout
    assert "HOME ['.elan']" in r.stdout and "DENIED" in r.stdout and "READ" not in r.stdout, r.stdout


def test_works_with_the_project_under_tmp(tmp_path: Path) -> None:
    """CI clones the repository under /tmp: the project is visible read-only, its neighbours are not."""
    if not OK:
        pytest.skip(f"bubblewrap unusable here: {WHY}")
    project = tmp_path / "clone"
    project.mkdir()
    (project / "lakefile.lean").write_text("-- lakefile\n")
    neighbour = tmp_path / "neighbour.txt"
    (project / "stand_in.py").write_text(f"""
import os, pathlib
print('CWD', os.getcwd())
print('LAKEFILE', pathlib.Path('lakefile.lean').read_text().strip())
try:
    pathlib.Path('new.txt').write_text('x')
    print('WROTE')
except OSError as e:
    print('DENIED', e.errno)
print('NEIGHBOUR', os.path.exists({str(neighbour)!r}))
""")
    neighbour.write_text("not yours")
    box = tmp_path / "box"
    box.mkdir()
    cmd = [sys.executable, str(project / "stand_in.py")]
    argv = wrap(cmd, box, readonly=lean_readonly_paths(project, cmd), cwd=project)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert f"CWD {project}" in r.stdout and "LAKEFILE -- lakefile" in r.stdout, r.stdout
    assert "DENIED" in r.stdout and "NEIGHBOUR False" in r.stdout and not (project / "new.txt").exists()


# -- what a REPL argument may bind --------------------------------------------------------------------


def _forbidden_for(home: Path) -> list[Path]:
    return [Path("/"), Path("/tmp"), home, *home.parents, *Path(tempfile.gettempdir()).parents]


def test_readonly_paths_of_a_venv_python_are_precise() -> None:
    exe = Path(sys.executable)
    script = ROOT / "tests" / "fakes" / "fake_repl.py"
    paths = lean_readonly_paths(ROOT, ["env", "FAKE_REPL_LEAN=4.9", str(exe), str(script)])
    resolved = {p.resolve() for p in paths}
    assert Path(sys.base_prefix).resolve() in resolved  # the interpreter's stdlib
    venv = exe.parent.parent
    if (venv / "pyvenv.cfg").is_file():
        assert venv in paths or (venv / "pyvenv.cfg") in paths
    assert script in paths and script.parent not in paths  # an argument file is bound itself
    bad = set(_forbidden_for(Path.home()))
    assert not [p for p in paths if p in bad or p.resolve() in bad], paths


def test_readonly_paths_never_bind_home_tmp_or_root(tmp_path: Path) -> None:
    home = tmp_path / "home"
    tool = home / "bin" / "tool"  # its prefix would be $HOME itself
    tool.parent.mkdir(parents=True)
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    arg = tmp_path / "input.lean"
    arg.write_text("")
    env = dict(os.environ, HOME=str(home))
    paths = lean_readonly_paths(ROOT, [str(tool), str(arg), "/tmp", str(home), "/"], env=env)
    assert tool in paths and arg in paths
    for bad in (home, Path("/tmp"), Path("/"), tmp_path, *home.parents):
        assert bad not in paths, (bad, paths)
    if OK:
        box = tmp_path / "box"
        box.mkdir()
        for bad in (home, Path("/tmp"), Path("/"), home.parent):
            with pytest.raises(ValueError, match="refusing to bind"):
                wrap(["true"], box, readonly=[bad], env=env)


# -- network and sockets ------------------------------------------------------------------------------


def test_no_network(box: Box) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        r = box.run(f"""
import socket
s = socket.socket()
s.settimeout(3)
try:
    s.connect(('127.0.0.1', {port}))
    print('CONNECTED')
except OSError as e:
    print('DENIED', e)
""")
        assert "DENIED" in r.stdout and "CONNECTED" not in r.stdout, r.stdout + r.stderr
    finally:
        server.close()


def test_no_host_unix_socket_is_reachable(box: Box) -> None:
    tag = secrets.token_hex(4)
    paths = [box.outside / f"s-{tag}.sock", Path(f"/tmp/bridge-test-{tag}.sock")]
    servers = []
    try:
        for p in paths:
            s = socket.socket(socket.AF_UNIX)
            s.bind(str(p))
            s.listen(1)
            servers.append(s)
        abstract = socket.socket(socket.AF_UNIX)
        abstract.bind(f"\0bridge-test-{tag}")
        abstract.listen(1)
        servers.append(abstract)
        r = box.run(f"""
import os, socket
for p in {[str(p) for p in paths]!r} + ['\\0bridge-test-{tag}']:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(p)
        print('CONNECTED', repr(p))
    except OSError as e:
        print('DENIED', repr(p), e.errno)
    print('VISIBLE', os.path.exists(p) if p[0] != '\\0' else None)
""")
        assert "CONNECTED" not in r.stdout and r.stdout.count("DENIED") == 3, r.stdout + r.stderr
        assert "VISIBLE True" not in r.stdout, r.stdout
    finally:
        for s in servers:
            s.close()
        for p in paths:
            p.unlink(missing_ok=True)


# -- privileges and environment -----------------------------------------------------------------------


def test_no_capabilities(box: Box) -> None:
    r = box.run("print(open('/proc/self/status').read())")
    assert r.returncode == 0, r.stderr
    ok, why = check_capabilities(r.stdout)
    assert ok, why
    assert "CapEff:\t0000000000000000" in r.stdout


def test_caller_secrets_are_not_in_the_environment(box: Box) -> None:
    env = dict(box.env, HF_TOKEN="hf_secret", OPENAI_API_KEY="sk-secret", FAKE_REPL_LEAN="4.9",
               FAKE_REPL_API_TOKEN="fake-secret", LEAN_PATH="/nowhere", SOME_PASSWORD="pw", TERM="xterm")
    r = box.run("import os; print(sorted(os.environ.items()))", env=env)
    assert r.returncode == 0, r.stderr
    inside = dict(eval(r.stdout))  # a list of pairs printed by our own code
    for gone in ("HF_TOKEN", "OPENAI_API_KEY", "FAKE_REPL_API_TOKEN", "SOME_PASSWORD", "TERM"):
        assert gone not in inside
    assert not {"hf_secret", "sk-secret", "fake-secret", "pw"} & set(inside.values())
    assert inside["FAKE_REPL_LEAN"] == "4.9" and inside["LEAN_PATH"] == "/nowhere"
    assert inside["HOME"] == inside["TMPDIR"] == str(box.tmp)
    allowed = sandbox.ENV_ALLOW | {"HOME", "TMPDIR", "PWD"}  # PWD: set by bwrap's --chdir
    assert all(k in allowed or k.startswith("FAKE_REPL_") for k in inside), sorted(inside)


def test_cannot_see_or_signal_the_parents_processes(box: Box) -> None:
    me = os.getpid()
    r = box.run(f"""
import os, signal
print('PIDS', len([p for p in os.listdir('/proc') if p.isdigit()]))
try:
    os.kill({me}, signal.SIGTERM)
    print('SIGNALLED')
except OSError as e:
    print('DENIED', e.errno)
""")
    assert "DENIED" in r.stdout, r.stdout + r.stderr
    assert int(r.stdout.split("PIDS")[1].split()[0]) <= 3  # bwrap's init, python: nothing of ours


# -- limits ---------------------------------------------------------------------------------------


def test_limits_are_finite(box: Box) -> None:
    r = box.run("print(open('/proc/self/limits').read())")
    assert r.returncode == 0, r.stderr
    got = {ln[:26].strip(): ln[26:].split()[0] for ln in lines(r)[1:] if ln.strip()}
    lim = sandbox.DEFAULT_LIMITS
    assert got["Max address space"] == str(lim.address_space_mb * 1024 * 1024)
    assert got["Max processes"] == str(lim.processes)
    assert got["Max file size"] == str(lim.file_size_mb * 1024 * 1024)
    assert got["Max core file size"] == "0"


FORK_BOMB = """
import os, time
if os.fork() == 0:
    while True:  # every process forks again, as fast as it can
        try:
            os.fork()
        except OSError:
            time.sleep(0.001)
time.sleep(1.5)
print('PROCS', len([p for p in os.listdir('/proc') if p.isdigit()]), flush=True)
"""  # then we exit: bwrap's init follows, and the kernel kills the whole PID namespace


def test_a_fork_bomb_is_stopped_by_the_process_limit(box: Box) -> None:
    if box.mode == "caller":
        # an unenforced limit would let the bomb fill the host's process table: check first
        on = {n: (v, note) for n, v, note in protections(SandboxLimits(processes=64))}["process limit"]
        assert on[0], f"refusing to run a fork bomb: {on[1]}"
    t0 = time.monotonic()
    r = box.run(FORK_BOMB, limits=SandboxLimits(processes=64), timeout=30)
    assert "PROCS" in r.stdout, r.stdout + r.stderr[-500:]
    n = int(r.stdout.split("PROCS")[1].split()[0])
    assert 32 <= n <= 64 + 1, n  # it ran, and stopped at the limit (+1: bwrap's init, root-owned in root mode)
    assert time.monotonic() - t0 < 20


def test_the_file_size_limit_stops_a_file_and_a_memfd(box: Box) -> None:
    r = box.run("""
import errno, os
out = []
try:
    with open('big', 'wb') as f:
        for _ in range(16):
            f.write(b'x' * (1 << 20))
    out.append('file:GREW')
except OSError as e:
    out.append('file:' + errno.errorcode[e.errno])
fd = os.memfd_create('hidden')
try:
    os.ftruncate(fd, 16 << 20)
    out.append('memfd-truncate:GREW')
except OSError as e:
    out.append('memfd-truncate:' + errno.errorcode[e.errno])
try:
    for _ in range(16):
        os.write(fd, b'x' * (1 << 20))
    out.append('memfd-write:GREW')
except OSError as e:
    out.append('memfd-write:' + errno.errorcode[e.errno])
print(' '.join(out), 'memfd-size', os.fstat(fd).st_size)
""", limits=SandboxLimits(file_size_mb=8))
    assert r.returncode == 0, r.stderr
    assert "file:EFBIG memfd-truncate:EFBIG memfd-write:EFBIG" in r.stdout, r.stdout
    assert int(r.stdout.split("memfd-size")[1]) <= 8 << 20
    assert (box.tmp / "big").stat().st_size <= 8 << 20


def test_the_address_space_limit_stops_a_big_allocation(box: Box) -> None:
    r = box.run("""
import mmap
small = bytearray(64 << 20)  # within the limit: fine
try:
    big = bytearray(2 << 30)
    print('ALLOCATED')
except MemoryError:
    print('STOPPED')
try:
    m = mmap.mmap(-1, 2 << 30)
    print('MAPPED')
except OSError as e:
    print('MAP-STOPPED', e.errno)
""", limits=SandboxLimits(address_space_mb=1024))
    assert r.returncode == 0, r.stderr
    assert "STOPPED" in r.stdout and "ALLOCATED" not in r.stdout, r.stdout
    assert f"MAP-STOPPED {errno.ENOMEM}" in r.stdout, r.stdout


# -- process lifetime --------------------------------------------------------------------------------


def _tree(pid: int) -> list[tuple[int, str, str]]:
    """(pid, start time, name) of a process's descendants, from /proc."""
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    for c in map(int, f.read().split()):
                        with open(f"/proc/{c}/stat") as g:
                            head, rest = g.read().rsplit(")", 1)
                        out.append((c, rest.split()[19], head.split("(", 1)[1]))
                        stack.append(c)
        except OSError:
            continue
    return out


def _running(procs: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    left = []
    for pid, start, name in procs:
        try:
            with open(f"/proc/{pid}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if rest[0] not in ("Z", "X") and rest[19] == start:  # not dead, not a reused pid
            left.append((pid, start, name))
    return left


def test_nothing_survives_killing_the_process_group(box: Box) -> None:
    proc = box.popen("""
import subprocess, time
kids = [subprocess.Popen(['sleep', '1000']) for _ in range(3)]
subprocess.Popen(['setsid', 'sleep', '1000'])  # in a session of its own: a killpg inside would miss it
time.sleep(0.2)
print('READY', flush=True)
time.sleep(1000)
""")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY", proc.stderr.read() if proc.stderr else ""
        procs = _tree(proc.pid)
        assert sum(name == "sleep" for _, _, name in procs) == 4, procs
        os.killpg(proc.pid, signal.SIGKILL)  # exactly what Repl.kill does
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _running(procs) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _running(procs), _running(procs)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# -- availability, failures, doctor ----------------------------------------------------------------


STATUS_ROOT_WITH_CAPS = """Name:\tcat
Pid:\t3
CapInh:\t0000000000000000
CapPrm:\t000001ffffffffff
CapEff:\t000001ffffffffff
CapBnd:\t000001ffffffffff
CapAmb:\t0000000000000000
"""


def test_the_capability_decision() -> None:
    ok, why = check_capabilities(STATUS_ROOT_WITH_CAPS)
    assert not ok and "refuse to run sandboxed code with capabilities" in why and "CapEff=000001ffffffffff" in why
    ok, why = check_capabilities(STATUS_ROOT_WITH_CAPS.replace("000001ffffffffff", "0000000000000000"))
    assert ok, why
    bounding_only = STATUS_ROOT_WITH_CAPS.replace("CapPrm:\t000001ffffffffff", "CapPrm:\t0000000000000000")
    bounding_only = bounding_only.replace("CapEff:\t000001ffffffffff", "CapEff:\t0000000000000000")
    assert not check_capabilities(bounding_only)[0]  # a bounding set left is refused too
    assert not check_capabilities("Name:\tcat\n")[0]  # unreadable counts as held


@needs_bwrap
def test_sandbox_available_refuses_a_sandbox_that_keeps_capabilities(monkeypatch: pytest.MonkeyPatch) -> None:
    real = sandbox._run_probe

    def with_caps(limits: SandboxLimits, privileged: bool) -> sandbox.ProbeRun:
        run = real(limits, privileged)
        kept = run.stdout.replace("CapEff:\t0000000000000000", "CapEff:\t000001ffffffffff")
        return dataclasses.replace(run, stdout=kept)

    monkeypatch.setattr(sandbox, "_run_probe", with_caps)
    sandbox._probe.cache_clear()
    try:
        ok, why = sandbox_available()
        assert not ok and "refuse to run sandboxed code with capabilities" in why, why
        caps = dict((n, on) for n, on, _ in protections())
        assert caps["capabilities dropped"] is False and caps["network namespace"] is True
    finally:
        monkeypatch.undo()
        sandbox._probe.cache_clear()
    assert sandbox_available()[0]


@needs_bwrap
def test_protections_are_all_on() -> None:
    rows = protections()
    names = [n for n, _, _ in rows]
    assert names == ["network namespace", "PID namespace", "capabilities dropped", "environment cleared",
                     "minimal file system", "read-only root", "memory limit", "process limit", "file-size limit",
                     "die-with-parent/new session"]
    assert all(on for _, on, _ in rows), [r for r in rows if not r[1]]


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: shows why root callers get no user namespace")
def test_the_probe_sees_that_host_root_escapes_the_process_limit() -> None:
    """Root with a user namespace maps the sandbox to host uid 0, which RLIMIT_NPROC never stops (a fork
    bomb there filled the host's process table): the probe must report that, not trust /proc/self/limits."""
    rows = {n: (on, note) for n, on, note in protections(privileged=False)}
    assert rows["process limit"][0] is False and "host uid 0" in rows["process limit"][1]
    assert rows["capabilities dropped"][0] is True  # everything else still holds
    assert protections()[7][1] is True  # the root policy (a fresh uid) is enforced


@needs_bwrap
def test_explain_failure_on_a_real_bwrap_failure(tmp_path: Path) -> None:
    bw = sandbox.bwrap_path()
    assert bw is not None
    missing = tmp_path / "does-not-exist"
    r = subprocess.run([bw, "--ro-bind", "/", "/", "--ro-bind", str(missing), "/x", "true"], capture_output=True,
                       text=True)
    msg = explain_failure(r.stderr, r.returncode)
    assert r.returncode != 0 and msg is not None, r.stderr
    assert msg.startswith("the sandbox (bubblewrap) failed to start: ") and str(missing) in msg
    assert "\n" not in msg
    assert explain_failure("error: unknown identifier 'foo'\n", 1) is None  # Lean's own failure
    assert explain_failure(r.stderr, 0) is None


@needs_bwrap
def test_verifier_runs_workers_in_the_sandbox(fake_cfg) -> None:
    from bridge.verify.api import Verifier
    from bridge.verify.candidate import from_parts

    with Verifier(fake_cfg(sandbox=True)) as v:
        assert v.sandboxed
        [got] = list(v.verify([from_parts("a", None, "theorem a : True := by\n", "  trivial")]))
    assert got.verdict == "proved"


def test_a_start_failure_names_bwraps_message_and_the_missing_path_first() -> None:
    """Pure: bwrap's own words, wherever they sit in the evidence, lead; the missing path is named."""
    evidence = ("the REPL could not start: it exited before answering anything (exit status 1; stderr: bwrap: "
                "Can't find source path /nope/lib: No such file or directory); command: `/usr/bin/bwrap --ro-bind ...`")
    msg = explain_failure(evidence, None)
    assert msg == ("the sandbox (bubblewrap) failed to start: missing: /nope/lib; bwrap says: Can't find source "
                   "path /nope/lib: No such file or directory")
    assert explain_failure("exit status 1; stderr: python: can't open file", None) is None


def test_the_sandboxed_start_failure_shows_the_repl_command_and_the_bwrap_one_with_verbose(tmp_path: Path) -> None:
    from bridge.config import load_config
    from bridge.verify.api import Verifier

    wrapped = ("the REPL could not start: it exited before answering anything (exit status 1; stderr: bwrap: "
               "execvp python: No such file or directory); command: `/usr/bin/bwrap " + "--ro-bind /a /a " * 100
               + "-- python r.py`")
    for verbose in (False, True):
        cfg = load_config(overrides=dict(repl_cmd="python r.py", sandbox=False, cache_dir=tmp_path, verbose=verbose))
        with Verifier(cfg) as v:
            v._sandboxed = True  # what a sandboxed Verifier prints, without bubblewrap here
            msg = v._start_failure(wrapped)
        assert msg.startswith("the sandbox (bubblewrap) failed to start: missing: python; bwrap says: execvp python")
        if verbose:
            assert "--ro-bind /a /a" in msg
        else:
            assert "--ro-bind" not in msg and "`python r.py` (in the sandbox; --verbose shows the bwrap command)" in msg
            assert len(msg) < 400


def test_repl_cmd_paths_resolve_against_the_callers_directory(tmp_path: Path, monkeypatch) -> None:
    from bridge.config import load_config
    from bridge.lean.project import repl_launch

    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "my_repl.py").write_text("")
    (tmp_path / "repl.py").write_text("")
    monkeypatch.chdir(tmp_path)
    launch = repl_launch(load_config(overrides=dict(repl_cmd="env X=1 python tools/my_repl.py repl.py --flag lake")))
    assert launch.argv == ["env", "X=1", "python", str(tmp_path / "tools" / "my_repl.py"), str(tmp_path / "repl.py"),
                           "--flag", "lake"]
    assert launch.cwd != tmp_path  # it still runs in the Lean project


def test_the_sandboxs_path_has_the_interpreters_directory(tmp_path: Path) -> None:
    here = os.path.dirname(os.path.abspath(sys.executable))
    env = sandbox.sandbox_env({"PATH": "/usr/bin:/bin"}, tmp_path, None)
    assert env["PATH"].split(":") == ["/usr/bin", "/bin", here]
    # `env X=1 python ...`: the python env runs is found on that PATH and bound with what it needs
    paths = sandbox.lean_readonly_paths(tmp_path, ["env", "X=1", Path(sys.executable).name, "x.py"],
                                        env={"PATH": "/nonexistent"})
    assert any(Path(p) == Path(here) / Path(sys.executable).name for p in paths), paths
