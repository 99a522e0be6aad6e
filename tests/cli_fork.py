"""The real ``kelcore`` (and ``hostbench``) command, started from a warm process: its console script's function
(``kelcore.cli:main``) run in a fork of a small server that has already imported torch, kelcore, hostbench and every
installed plugin.

Why: a fresh ``kelcore`` spends about 1.5 s importing torch and the plugins before it does anything, and the suite
starts it some 150 times. A forked child is still a separate process with the caller's environment, working folder,
arguments, umask and file descriptors 0-2 (what the command or its own subprocesses print is captured); what it imports or
changes dies with it. The differences from the console script: the modules plugins import at load time are imported
once, in the server (kelcore, hostbench and the plugins read their environment variables when a command runs, not at import;
a test that changes what a plugin module does at import runs the console script), and the console-script wrapper
itself is not run. ``KELCORE_TEST_SUBPROCESS=1`` runs every command as a real subprocess instead; the tests of
signals, pipes and installed wheels always do.

Protocol (one JSON line each way, one command at a time): the client sends {args, env, cwd, umask, out, err}; the server
forks, answers {"pid": ...}, waits, answers {"code": ...} (negative: killed by that signal, as subprocess reports it).
"""
from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

# program -> its console script's module and function (pyproject.toml's [project.scripts])
PROGRAMS = {"kelcore": ("kelcore.cli", "main"), "hostbench": ("kel_hostbench.cli", "main")}
_server: subprocess.Popen | None = None


def enabled() -> bool:
    """Whether commands run in forks of the warm server (where os.fork exists, unless KELCORE_TEST_SUBPROCESS)."""
    return hasattr(os, "fork") and not os.environ.get("KELCORE_TEST_SUBPROCESS")


def _start() -> subprocess.Popen:
    global _server
    if _server is None or _server.poll() is not None:
        _server = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   text=True, bufsize=1)
        atexit.register(_server.kill)
    return _server


def _answer(server: subprocess.Popen, timeout: float | None) -> dict | None:
    """The server's next line, or None when ``timeout`` seconds pass first."""
    ready, _, _ = select.select([server.stdout], [], [], timeout)
    if not ready:
        return None
    line = server.stdout.readline()
    if not line:
        raise RuntimeError(f"the kelcore fork server exited (code {server.wait()})")
    return json.loads(line)


def run(args: list[str], env: dict[str, str] | None, cwd: Path | None, timeout: float,
        program: str = "kelcore") -> subprocess.CompletedProcess:
    """``PROGRAM ARGS`` in a fork of the warm server, returned as ``subprocess.run(..., capture_output=True,
    text=True)`` would return it (``subprocess.TimeoutExpired`` after ``timeout`` seconds)."""
    server = _start()
    with tempfile.TemporaryDirectory(prefix="kelcore-cli-") as folder:
        out, err = os.path.join(folder, "stdout"), os.path.join(folder, "stderr")
        request = {"program": program, "args": list(args), "env": dict(os.environ if env is None else env),
                   "cwd": str(cwd or os.getcwd()), "umask": _umask(), "out": out, "err": err}
        server.stdin.write(json.dumps(request) + "\n")
        server.stdin.flush()
        pid = _answer(server, None)["pid"]
        done = _answer(server, timeout)
        if done is None:
            os.kill(pid, signal.SIGKILL)
            _answer(server, None)
            raise subprocess.TimeoutExpired([program, *args], timeout)
        stdout = Path(out).read_text(encoding="utf-8", errors="replace")
        stderr = Path(err).read_text(encoding="utf-8", errors="replace")
    return subprocess.CompletedProcess([program, *args], done["code"], stdout, stderr)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _become_command(request: dict) -> None:
    """In the fork: become ``PROGRAM ARGS`` run with the request's environment in its folder; exit with its code."""
    os.environ.clear()
    os.environ.update(request["env"])
    sys.path[:0] = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, request["out"], os.O_WRONLY | os.O_CREAT),
                            (2, request["err"], os.O_WRONLY | os.O_CREAT)):
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", closefd=False, encoding="utf-8")
    sys.stderr = open(2, "w", closefd=False, encoding="utf-8")
    sys.argv = [request["program"], *request["args"]]
    import importlib

    import kelcore.plugins

    kelcore.plugins._REGISTRY = None  # the registry of this environment, not the server's
    module, function = PROGRAMS[request["program"]]
    code = 1
    try:
        code = int(getattr(importlib.import_module(module), function)(request["args"]) or 0)
    except SystemExit as exc:  # argparse: --help, usage errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:
                pass
        os._exit(code)


def serve() -> None:
    """The server: import what every ``kelcore`` start imports, then fork one command per request line."""
    import torch  # noqa: F401

    import importlib

    from kelcore.plugins import load_registry

    for module, _ in PROGRAMS.values():
        importlib.import_module(module)
    load_registry()  # imports every plugin's modules; each command builds its registry again in its environment
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            answers.close()
            _become_command(request)
        answers.write(json.dumps({"pid": pid}) + "\n")
        _, status = os.waitpid(pid, 0)
        answers.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")


if __name__ == "__main__":
    serve()
