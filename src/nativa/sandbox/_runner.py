"""The in-sandbox executor: the only nativa code that shares a process with model-written code.

The supervisor (`_supervisor.py`) loads this module by path and forks the process that runs it, after closing
every fd but two: requests arrive on one (a JSON line each), and the report of each run leaves on the other,
straight to the host. It may use only the standard library, and it avoids modules that pull in `re` (json,
base64, linecache, traceback): those cost ~6 ms each at start-up, so the C halves (`_json`, `binascii`) are
used directly and `traceback` is imported only when there is an error to format.

In `oneshot` mode the executor runs one request, then does what the interpreter does at exit (join threads,
run atexit) and leaves with the code's exit status, which the supervisor observes and reports as the verdict;
in `session` mode it waits for the next request with the same globals.

Nothing here is trusted by the host: the report's error type, message, traceback and files are the code's own
account, size-capped and type-checked by the host; in a one-shot run they can only add detail to a failure.
"""

# ruff: noqa: BLE001, S102, S110, SIM115, RUF012
# (this file runs untrusted code on purpose, and must survive anything that code raises)

import _json
import binascii
import io
import os
import resource
import sys

# The file name in this runner's own frames (a .py, or the name compiled into the cached .pyc in tier A).
_RUNNER = sys._getframe().f_code.co_filename
_SOURCES: dict = {}
_MAX_MESSAGE = 8 * 1024
_MAX_TRACEBACK = 64 * 1024
_MAX_FILES_LISTED = 10_000


class _DecodeCtx:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float
    memo: dict = {}


_scan = _json.make_scanner(_DecodeCtx())
_encode = _json.make_encoder(None, None, _json.encode_basestring_ascii, None, ":", ",", False, False, True)


def _loads(text):
    obj, _ = _scan(text, 0)
    return obj


def _send(fd, obj):
    data = ("".join(_encode(obj, 0)) + "\n").encode()
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _b64(data):
    return binascii.b2a_base64(data, newline=False).decode()


def _apply_limits(lim, session):
    r = resource

    def cap(res, soft, hard):
        _, cur_hard = r.getrlimit(res)
        if cur_hard != r.RLIM_INFINITY:
            hard = cur_hard if hard == r.RLIM_INFINITY else min(hard, cur_hard)
            soft = min(soft, hard)
        r.setrlimit(res, (soft, hard))

    for res, key in ((r.RLIMIT_AS, "as"), (r.RLIMIT_FSIZE, "fsize"), (r.RLIMIT_NOFILE, "nofile"),
                     (r.RLIMIT_NPROC, "nproc")):
        cap(res, lim[key], lim[key])
    cap(r.RLIMIT_CORE, 0, 0)
    usage = r.getrusage(r.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime) + lim["cpu"]
    # A session keeps a raisable hard limit so the next snippet gets its own CPU budget.
    cap(r.RLIMIT_CPU, soft, r.RLIM_INFINITY if session else soft + 1)


def _write_files(files):
    """Put the caller's files into the work dir; an error is the run's result, not a crash of the runner."""
    for name, data in files.items():
        try:
            parent = os.path.dirname(name)
            if parent:
                os.makedirs(parent, exist_ok=True)
            with open(name, "wb") as fh:
                fh.write(binascii.a2b_base64(data))
        except OSError as exc:
            return {"ok": False, "exit_code": 1, "error_type": _type_name(exc),
                    "error_message": f"could not put input file {name!r} into the work dir: {exc}"}
    return None


def _snapshot():
    """relative path -> (mtime, size, inode) of the regular files under the work dir, symlinks skipped.

    At most _MAX_FILES_LISTED entries are looked at in all, however they are spread over directories (a flat
    directory of 100,000 files, a deep tree), so that listing costs a bounded time; the second value says
    whether the cap was reached.
    """
    out = {}
    budget = _MAX_FILES_LISTED
    stack = [("", ".")]
    while stack and budget > 0:
        rel, path = stack.pop()
        try:
            it = os.scandir(path)
        except OSError:
            continue
        with it:
            for entry in it:
                budget -= 1
                if budget < 0:
                    break
                name = rel + entry.name
                try:
                    if entry.is_symlink():
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        if name.count("/") < 16:
                            stack.append((name + "/", entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        st = entry.stat(follow_symlinks=False)
                        out[name] = (st.st_mtime_ns, st.st_size, st.st_ino)
                except OSError:
                    continue
    return out, budget < 0 or bool(stack)


def _collect(before, budget):
    """The files the code created or changed, smallest first until `budget` bytes; flag what did not fit."""
    after, truncated = _snapshot()
    truncated = truncated or before[1]
    before = before[0]
    changed = sorted((after[p][1], p) for p in after if before.get(p) != after[p])
    files = {}
    for size, name in changed:
        if size > budget:
            truncated = True
            continue
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
            with open(fd, "rb") as fh:
                data = fh.read(budget + 1) if _regular(fd) else b""
        except OSError:
            continue
        if len(data) > budget:
            truncated = True
            continue
        budget -= len(data)
        files[name] = _b64(data)
    return files, truncated


def _regular(fd):
    """A file swapped for a FIFO or device after the listing must not block or feed the collection."""
    import stat

    return stat.S_ISREG(os.fstat(fd).st_mode)


def _type_name(exc):
    t = type(exc)
    mod = getattr(t, "__module__", "builtins")
    return t.__qualname__ if mod in ("builtins", "__main__") else f"{mod}.{t.__qualname__}"


def _safe_str(exc):
    try:
        text = str(exc)
    except BaseException:
        text = "<exception str() failed>"
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "...[truncated]"


def _clip(text):
    if len(text) <= _MAX_TRACEBACK:
        return text
    head = _MAX_TRACEBACK // 4
    return text[:head] + "\n...[traceback truncated]...\n" + text[-(_MAX_TRACEBACK - head):]


def _release_frames(exc):
    """After a MemoryError the failed code's locals still pin memory through the traceback: drop them."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename != _RUNNER:
            try:
                tb.tb_frame.clear()
            except RuntimeError:
                pass
        tb = tb.tb_next


def _format(exc):
    """The traceback as Python would print it, minus this runner's frames, with the code's lines shown."""
    import linecache
    import traceback

    for name, src in _SOURCES.items():
        linecache.cache[name] = (len(src), None, src.splitlines(True), name)
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__, compact=True)
    seen = set()
    todo = [te]
    while todo:
        cur = todo.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        cur.stack = traceback.StackSummary.from_list([f for f in cur.stack if f.filename != _RUNNER])
        todo += [cur.__cause__, cur.__context__] + list(getattr(cur, "exceptions", None) or ())
    return "".join(te.format())


def _failure(exc, ns, session):
    if isinstance(exc, MemoryError):
        _release_frames(exc)
    name, message = _type_name(exc), _safe_str(exc)
    try:
        text = _format(exc)
    except MemoryError:
        if not session:
            ns.clear()
        try:
            text = _format(exc)
        except BaseException:
            text = f"{name}: {message}\n"
    except BaseException:
        text = f"{name}: {message}\n"
    text = _clip(text)
    try:
        sys.stderr.write(text)
    except BaseException:
        pass
    return {"ok": False, "exit_code": 1, "error_type": name, "error_message": message, "traceback": text}


def _execute(code, filename, ns, session):
    try:
        compiled = compile(code, filename, "exec", dont_inherit=True)
    except BaseException as exc:  # SyntaxError, ValueError (NUL bytes), RecursionError, MemoryError
        return _failure(exc, ns, session)
    try:
        exec(compiled, ns)
    except SystemExit as exc:
        status = exc.code
        if status is None:
            status = 0
        elif not isinstance(status, int):
            try:
                sys.stderr.write(f"{status}\n")
            except BaseException:
                pass
            status = 1
        status &= 0xFF
        if status == 0:
            return {"ok": True, "exit_code": 0}
        return {"ok": False, "exit_code": status, "error_type": "SystemExit", "error_message": _safe_str(exc)}
    except BaseException as exc:
        return _failure(exc, ns, session)
    return {"ok": True, "exit_code": 0}


def _flush():
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:
            pass


def _interpreter_exit():
    """What the interpreter does after `__main__` finishes: join non-daemon threads, run atexit."""
    threading = sys.modules.get("threading")
    if threading is not None:
        try:
            threading._shutdown()
        except BaseException:
            pass
    import atexit

    atexit._run_exitfuncs()


def _new_main():
    module = type(sys)("__main__")
    module.__dict__["__builtins__"] = __builtins__
    sys.modules["__main__"] = module
    return module.__dict__


def _install_builtins():
    import _sitebuiltins
    import builtins

    builtins.exit = _sitebuiltins.Quitter("exit", "Ctrl-D (i.e. EOF)")
    builtins.quit = _sitebuiltins.Quitter("quit", "Ctrl-D (i.e. EOF)")


def serve(mode, req_fd, det_fd, path):
    """Run requests from `req_fd` until it closes (session) or once (oneshot); report each on `det_fd`."""
    session = mode == "session"
    for fd in (req_fd, det_fd):
        os.set_inheritable(fd, False)
    sys.path[:0] = [os.getcwd()] + list(path)
    _install_builtins()
    reader = open(req_fd, "rb", closefd=False)
    ns = _new_main()
    while True:
        line = reader.readline()
        if not line:
            os._exit(0)  # the supervisor closed the session (or died)
        req = _loads(line.decode())
        _apply_limits(req["limits"], session)
        refused = _write_files(req.get("files") or {})
        before = _snapshot()
        stdin = req.get("stdin")
        sys.stdin = io.TextIOWrapper(io.BytesIO(binascii.a2b_base64(stdin) if stdin else b""), encoding="utf-8")
        filename = req.get("filename") or "main.py"
        code = req["code"]
        _SOURCES[filename] = code
        ns["__file__"] = filename
        sys.argv = [filename]
        outcome = refused or _execute(code, filename, ns, session)
        if not session:
            if not outcome["ok"]:
                # On record before atexit handlers and threads get their turn: a failure stays a failure even
                # if one of them then ends the process with status 0 (the host fails a run on any failed report).
                _send(det_fd, dict(outcome, e="result", seq=req.get("seq"), files={}, files_truncated=False))
            try:
                _interpreter_exit()
            except BaseException:
                pass
        _flush()
        try:
            files, truncated = _collect(before, int(req.get("max_files_out", 0)))
        except BaseException:
            files, truncated = {}, True
        outcome["e"] = "result"
        outcome["seq"] = req.get("seq")
        outcome["files"] = files
        outcome["files_truncated"] = truncated
        _send(det_fd, outcome)
        if not session:
            os._exit(outcome["exit_code"])
