"""assay's in-container runner.

Runs inside the runner image as uid 10001 with a read-only root filesystem and
tmpfs under /work. The host talks to it only through `docker exec`:

  runner.py idle <seconds>    PID 1: reaps orphans, exits after the lifetime
  runner.py phase [with-project]
                              stdin: [frame: tar with project/, the first command only]
                                     frame: tar with phase.json (+ raw/)
                              stdout: frame: tar of the build's outputs
                              then, when phase.json asks for a dialog:
                              stdin: frame: the check queries (JSON)
                              stdout: frame: tar of their answers

A frame is an 8-byte big-endian length and that many bytes. The check queries
come back over the same stream because the host plans them from what the build
left (dbt's manifest names the relations): one process per phase, not one
`docker exec` and interpreter start for the build and another for the checks.
The project travels the same way, as a first frame of the sandbox's first
command (`with-project`), not in an exec of its own. A phase's command line
names nothing of the phase, so the host can start the next phase's runner
while this one answers its check round (every process of the submission is
gone by then); it waits on stdin for its archive.
  runner.py tests <id> [with-project]
                              stdin: [frame: tar with project/, as for a phase]
                                     frame: tar with tests.json + hidden/ (the pack's tests)
                              stdout: frame: tar with result.json (each test's outcome)
  runner.py tests-child <fd> <dir>   pytest, started by `tests`: its report goes to pipe <fd>
  runner.py probe             stdout: the container's resource counters (JSON)

A command that cannot finish prints one line `assay-runner-failure: {"kind", "detail"}`
on stderr, so the host can name what ended it (a full workspace, say).

Everything the submission controls (its files, its dbt process, the warehouse
content) is treated as hostile here as well: archives are unpacked with path,
type and size checks, dbt runs in a child process with its own deadline, and
every process it leaves behind is killed before results are read.
"""

import errno
import io
import json
import os
import re
import select
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

WORK = "/work"
PROJECT = WORK + "/project"
WAREHOUSE = WORK + "/warehouse/grader.duckdb"
PYTHON = "/opt/dbt/bin/python"
# The grader's profile lives in the image: the read-only root filesystem keeps
# it out of the submission's reach, whatever its code does in /work.
PROFILES_DIR = "/opt/assay/profiles"
PROFILE = "assay"

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def fail(msg, code=3):
    sys.stderr.write("assay-runner: " + msg + "\n")
    sys.exit(code)


def fail_kind(kind, detail, code=3):
    """Ends the phase with a cause the host can read and name."""
    sys.stderr.write("assay-runner-failure: " + json.dumps({"kind": kind, "detail": detail[:2000]}) + "\n")
    sys.stderr.flush()
    sys.exit(code)


def safe_extract(stream, dest, max_total, max_file, max_entries, refuse=fail):
    """Unpack a tar stream into dest, refusing links, devices and escapes
    (`refuse` is told why and does not return)."""
    os.makedirs(dest, exist_ok=True)
    real_dest = os.path.realpath(dest)
    total = 0
    count = 0
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            count += 1
            if count > max_entries:
                refuse("archive has too many entries")
            name = member.name
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if not parts:
                continue
            if name.startswith("/") or any(p == ".." for p in parts):
                refuse("archive entry escapes its folder: %r" % name)
            target = os.path.join(real_dest, *parts)
            parent = os.path.dirname(target)
            # A parent that is a symlink would redirect the write; none may exist.
            if os.path.realpath(parent) != parent:
                refuse("archive entry parent is not a plain folder: %r" % name)
            if member.isdir():
                os.makedirs(target, mode=0o755, exist_ok=True)
                continue
            if not member.isreg():
                refuse("archive entry is not a regular file: %r" % name)
            if member.size > max_file:
                refuse("archive entry too large: %r" % name)
            total += member.size
            if total > max_total:
                refuse("archive too large")
            os.makedirs(parent, mode=0o755, exist_ok=True)
            src = tar.extractfile(member)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as out:
                remaining = member.size
                while remaining > 0:
                    chunk = src.read(min(1 << 20, remaining))
                    if not chunk:
                        refuse("archive truncated")
                    out.write(chunk)
                    remaining -= len(chunk)


def read_frame(stream, cap):
    """One frame from the host, or None when the host closed its end."""
    head = stream.read(8)
    if not head:
        return None
    if len(head) != 8:
        fail("truncated frame header")
    size = int.from_bytes(head, "big")
    if size > cap:
        fail("frame of %d bytes over the cap of %d" % (size, cap))
    data = stream.read(size)
    if len(data) != size:
        fail("truncated frame")
    return data


def write_frame(data):
    sys.stdout.buffer.write(len(data).to_bytes(8, "big"))
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def limits_from_env():
    def num(key, default):
        try:
            return int(os.environ.get(key, default))
        except ValueError:
            return default

    return (
        num("ASSAY_MAX_UPLOAD_BYTES", 256 << 20),
        num("ASSAY_MAX_FILE_BYTES", 64 << 20),
        num("ASSAY_MAX_ENTRIES", 50000),
    )


def receive_project(stream):
    """Unpack the project the host sends as the first frame of the sandbox's
    first command into /work/project. A refusal is named `project`, so the
    host reports it as an upload that failed, not as a failed phase."""

    def refuse(msg):
        fail_kind("project", msg)

    if os.path.exists(PROJECT):
        refuse("project already received")
    max_total, max_file, max_entries = limits_from_env()
    data = read_frame(stream, max_total + (max_entries + 2) * 1024)
    if data is None:
        refuse("no project frame")
    try:
        safe_extract(io.BytesIO(data), WORK, max_total, max_file, max_entries, refuse)
    except (OSError, tarfile.TarError) as e:
        refuse("unpacking the project: %s: %s" % (type(e).__name__, e))
    del data
    if not os.path.isdir(PROJECT):
        refuse("the upload lacks %s" % PROJECT)
    os.makedirs(os.path.dirname(WAREHOUSE), exist_ok=True)


def take_project(with_project):
    if with_project:
        receive_project(sys.stdin.buffer)
    elif not os.path.isdir(PROJECT):
        fail("no project received")


def kill_everyone_else(keep=None):
    """Kill every process this user can signal, except this one, PID 1 and
    `keep` (the warm query child, a `subprocess.Popen`).

    A dbt Python model can fork a daemon that outlives dbt and tampers with
    later steps; nothing of the submission may survive into result reading.
    Repeats until /proc shows no one else, since a fork can race the kill and
    PID 1 needs a moment to reap the orphans.

    To spare `keep`, everyone (it too) is stopped first and then killed one
    by one: a stopped process cannot fork, and a fork under way when the stop
    arrives is undone by the kernel, so nobody is born between the listing
    and the kills. `keep` is continued at the end; if it died meanwhile (the
    submission can kill it), its `returncode` says so and it is not used.
    """
    me = os.getpid()
    spared = keep.pid if keep is not None and keep.returncode is None else None
    deadline = time.monotonic() + 10
    while True:
        try:
            if spared is None:
                os.kill(-1, signal.SIGKILL)
            else:
                os.kill(-1, signal.SIGSTOP)
                for p in os.listdir("/proc"):
                    if p.isdigit() and int(p) not in (1, me, spared):
                        try:
                            os.kill(int(p), signal.SIGKILL)
                        except (ProcessLookupError, PermissionError):
                            pass
        except ProcessLookupError:
            pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == spared:
                keep.returncode = os.waitstatus_to_exitcode(status)
                spared = None
        others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me, spared)]
        if not others or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if spared is not None:
        try:
            os.kill(spared, signal.SIGCONT)
        except ProcessLookupError:
            pass


def cgroup_counter(paths, key):
    """A counter of the container's cgroup (v2 path first, then v1), or None."""
    for path in paths:
        try:
            with open(path, "r") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2 and parts[0] == key:
                        return int(parts[1])
        except (OSError, ValueError):
            continue
    return None


def counters():
    """Absolute counters of the container: they only grow, so a phase compares
    the values after with the values before. The cgroup files are read-only to
    everyone in the container."""
    c = {
        "oom_kills": cgroup_counter(
            ["/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"], "oom_kill"
        ),
        "pids_max_hits": cgroup_counter(
            ["/sys/fs/cgroup/pids.events", "/sys/fs/cgroup/pids/pids.events"], "max"
        ),
    }
    for name, path in (("work", WORK), ("tmp", "/tmp")):
        try:
            st = os.statvfs(path)
            c[name + "_free_bytes"] = st.f_bavail * st.f_frsize
            c[name + "_total_bytes"] = st.f_blocks * st.f_frsize
        except OSError:
            pass
    return c


def files_at_limit(limit, max_entries=50000):
    """Files (relative names) that reached the file-size limit, found without
    following links and bounded, so a tree of millions of files costs little."""
    found = []
    seen = 0
    stack = [WORK, "/tmp"]
    while stack and seen < max_entries and len(found) < 5:
        top = stack.pop()
        try:
            it = os.scandir(top)
        except OSError:
            continue
        with it:
            for entry in it:
                seen += 1
                if seen >= max_entries:
                    break
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        if entry.stat(follow_symlinks=False).st_size >= limit:
                            found.append(entry.path)
                except OSError:
                    continue
    return found


def cmd_probe():
    sys.stdout.write(json.dumps(counters()))
    sys.stdout.flush()


def cmd_idle(seconds):
    """PID 1 of the sandbox: reap orphans (killed daemons must not linger as
    zombies) and exit after the container's lifetime."""
    deadline = time.monotonic() + float(seconds)
    # Blocked, SIGCHLD stays pending, so no child death is missed between waits.
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
    while True:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        signal.sigtimedwait([signal.SIGCHLD], min(remaining, 60))


def load_raw(conn, phase_dir, raw):
    ddl_path = os.path.join(phase_dir, raw["ddl"])
    csv_dir = os.path.join(phase_dir, raw["csv_dir"])
    with open(ddl_path, "r", encoding="utf-8") as f:
        ddl = f.read()
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("DROP SCHEMA IF EXISTS raw CASCADE")
    conn.execute("CREATE SCHEMA raw")
    conn.execute(ddl)
    tables = {
        r[0]
        for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
        ).fetchall()
    }
    loaded = {}
    for entry in sorted(os.listdir(csv_dir)):
        if not entry.endswith(".csv"):
            continue
        table = entry[: -len(".csv")]
        if not IDENT_RE.match(table) or table not in tables:
            raise ValueError("CSV %r has no table in the raw DDL" % entry)
        path = os.path.join(csv_dir, entry)
        # BY NAME lets the CSV column order differ from the DDL; the DDL types win.
        conn.execute(
            'INSERT INTO raw."%s" BY NAME SELECT * FROM read_csv(?, header = true, all_varchar = true)'
            % table,
            [path],
        )
        loaded[table] = conn.execute('SELECT count(*) FROM raw."%s"' % table).fetchone()[0]
    return loaded


_TYPES = []


def json_value(v):
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else None
    # Imported once, not per value: a check round converts tens of thousands.
    if not _TYPES:
        import datetime
        import decimal
        import uuid

        _TYPES.extend((datetime, decimal, uuid))
    datetime, decimal, uuid = _TYPES
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, datetime.timedelta):
        return v.total_seconds()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): json_value(x) for k, x in v.items()}
    return str(v)


def run_query(cur, q, max_rows):
    item = {"name": q["name"], "columns": [], "rows": [], "truncated": False, "error": None}
    try:
        cur.execute(q["sql"])
        item["columns"] = [d[0] for d in (cur.description or [])]
        cap = int(q.get("max_rows") or max_rows)
        rows = cur.fetchmany(cap + 1)
        if len(rows) > cap:
            item["truncated"] = True
            rows = rows[:cap]
        item["rows"] = [[json_value(v) for v in row] for row in rows]
    except Exception as e:  # a failing check query is a result, not a crash
        item["error"] = str(e)[:4000]
    return item


def run_queries(conn, queries, max_rows):
    conn.execute("SET TimeZone = 'UTC'")
    return [run_query(conn, q, max_rows) for q in queries]


def list_relations(conn):
    rows = conn.execute(
        "select lower(table_schema), lower(table_name) from information_schema.tables "
        "where table_schema <> 'raw' order by 1, 2 limit 20001"
    ).fetchall()
    return {"relations": [[r[0], r[1]] for r in rows[:20000]], "relations_truncated": len(rows) > 20000}


def query_warehouse(spec, conn=None):
    """The grader's own reading of the warehouse: the check queries, and which
    relations the build left (to hold dbt's artifacts, which the submission
    can forge, against). `conn` is a connection opened earlier, if any."""
    looked = {}
    try:
        if conn is None:
            import duckdb

            conn = duckdb.connect(WAREHOUSE, read_only=True)
        try:
            if spec.get("queries"):
                looked["queries"] = run_queries(conn, spec["queries"], int(spec.get("max_rows", 10000)))
            if spec.get("dbt"):
                looked.update(list_relations(conn))
        finally:
            conn.close()
    except Exception as e:
        looked["queries_error"] = str(e)[:4000]
    return looked


def cmd_query_child(commands_path):
    conn = None
    if commands_path == "-":
        # Started before any code of the submission runs, and alive while it
        # does (see `start_query_child`): nothing of this uid may trace it or
        # open its pipes, and no signal but SIGKILL and SIGSTOP reaches it, so
        # the submission can end or pause it but never change what it does.
        make_undumpable()
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        sys.stdout.buffer.write(b"ready\n")
        sys.stdout.buffer.flush()
        import duckdb

        # A process's first DuckDB database pays its set-up (about 10 ms);
        # paid here while dbt runs, not after it when the warehouse opens.
        warmed = duckdb.connect(":memory:")
        warmed.execute("select 1").fetchall()

        line = sys.stdin.readline()
        if line == "list\n":
            # Asked once nothing of the submission is left: the warehouse is
            # opened here, beside the runner's own bookkeeping, and the same
            # connection answers the check round.
            try:
                conn = duckdb.connect(WAREHOUSE, read_only=True)
                listed = list_relations(conn)
            except Exception as e:
                listed = {"queries_error": str(e)[:4000]}
            sys.stdout.buffer.write(json.dumps(listed).encode() + b"\n")
            sys.stdout.buffer.flush()
            line = sys.stdin.readline()
        commands_path = line.strip()
        if not commands_path:
            os._exit(0)
    with open(commands_path, "r", encoding="utf-8") as f:
        spec = json.load(f)
    out = json.dumps(query_warehouse(spec, conn)).encode()
    sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()
    os._exit(0)


def ask_relations(warm):
    """Asks the warm query child for the relations listing (answered by
    `take_relations`); False when it cannot be asked."""
    if warm is None or warm.poll() is not None:
        return False
    try:
        warm.stdin.write(b"list\n")
        warm.stdin.flush()
        return True
    except OSError:
        return False


def take_relations(warm, timeout):
    """The warm child's listing, or None when it did not give one: it is then
    ended, and the runner lists the relations itself."""
    try:
        r, _, _ = select.select([warm.stdout], [], [], timeout)
        line = warm.stdout.readline(64 << 20) if r else b""
        listed = json.loads(line.decode("utf-8"))
        if isinstance(listed, dict) and ("relations" in listed or "queries_error" in listed):
            return listed
    except (OSError, ValueError):
        pass
    kill_group(warm)
    warm.wait()
    return None


def child_env(spec, extra=None):
    """A child's environment: nothing of the runner's, "now" at the phase's sync time."""
    env = {
        "PATH": "/opt/dbt/bin:/usr/bin:/bin",
        "HOME": "/home/runner",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(extra or {})
    env.update(clock_env(spec))
    return env


def kill_group(child):
    """Kills a child started in its own session, and everything it started."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.kill()


def import_duckdb():
    try:
        import duckdb  # noqa: F401
    except Exception:
        pass  # the importer that needs it reports the failure


def start_query_child(spec, phase_dir):
    """A query child started ahead of its commands (see `cmd_query_child`).

    Started before dbt's go, while no code of the submission runs, so that
    its Python start and DuckDB import overlap the build instead of following
    it. `ready_query_child` must see it ready before the go.
    """
    try:
        return spawn_query_child(spec, phase_dir, "-", subprocess.PIPE)
    except OSError:
        return None


def spawn_query_child(spec, phase_dir, commands, stdin):
    """A query child in a session of its own, under the phase's clock;
    `commands` is the commands' path, or "-" to wait for it on stdin."""
    return subprocess.Popen(
        [PYTHON, "/opt/assay/runner.py", "query-child", commands],
        cwd=os.path.join(phase_dir, "cwd"),
        env=child_env(spec),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def ready_query_child(warm, timeout=10.0):
    """Waits until the warm child has shut itself off from the submission
    (undumpable, signals blocked). One that is not ready in time is ended:
    the check round then starts a fresh child once nothing else is left."""
    if warm is None:
        return None
    r, _, _ = select.select([warm.stdout], [], [], timeout)
    if r and warm.stdout.readline() == b"ready\n":
        return warm
    kill_group(warm)
    warm.wait()
    return None


def run_query_child(spec, commands_path, phase_dir, warm=None):
    """Runs the check queries in a child process under the phase's clock.

    A candidate's view is evaluated when it is queried, so a view that reads
    `current_timestamp` must see the same "now" as the build did. The clock
    is preloaded into a child rather than into this process (the runner's own
    waits and deadlines must read the real clock). `warm` is a child started
    earlier that waits for the commands' path on its stdin.
    """
    timeout = float(spec.get("queries_timeout_secs") or spec.get("dbt_timeout_secs") or 600)
    if warm is not None and warm.poll() is None:
        child, given = warm, (commands_path + "\n").encode()
    else:
        child, given = spawn_query_child(spec, phase_dir, commands_path, subprocess.DEVNULL), None
    try:
        out, err = child.communicate(input=given, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(child)
        child.communicate()
        return {"queries_error": "the check queries did not finish within %d s" % timeout}
    if child.returncode != 0:
        tail = err[-2000:].decode("utf-8", "replace").strip()
        return {"queries_error": "the check queries ended with code %s: %s" % (child.returncode, tail)}
    try:
        return json.loads(out.decode("utf-8"))
    except ValueError as e:
        return {"queries_error": "the check queries' output could not be read: %s" % e}


def open_below(dir_fd, parts):
    """Open a regular file below a directory handle without following any link.

    Every component is opened with O_NOFOLLOW relative to the one before, so a
    link anywhere on the path (the file, or a folder swapped for a link) is
    refused rather than followed. Returns (fd, None) or (None, reason); reason
    is None when the file simply does not exist.
    """
    fds = []
    try:
        cur = dir_fd
        for folder in parts[:-1]:
            cur = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=cur)
            fds.append(cur)
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=cur)
    except FileNotFoundError:
        return None, None
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            return None, "a symbolic link"
        return None, "unreadable: " + (e.strerror or "error")
    finally:
        for f in fds:
            os.close(f)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None, "not a regular file"
    return fd, None


def cmd_phase(with_project=False):
    # The phase's stdout carries the build's outputs to the host: a daemon of
    # the submission (same uid) must not be able to open it through /proc
    # and write a forged frame ahead of the real one.
    make_undumpable()
    take_project(with_project)
    try:
        run_phase()
        # Everything is written: leave without the interpreter's clean-up
        # (DuckDB's among it), which the host would otherwise wait for.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            fail_kind("workspace_full", "no space left in the sandbox: " + str(e))
        if e.errno == errno.EFBIG:
            fail_kind("file_size", "a file reached the file-size limit: " + str(e))
        if e.errno in (errno.EAGAIN, errno.ENOMEM):
            fail_kind("resources", "the runner could not start a process or thread: " + str(e))
        fail_kind("runner", "%s: %s" % (type(e).__name__, e))
    except MemoryError as e:
        fail_kind("memory", "the runner ran out of memory: %r" % (e,))


def run_phase():
    # This process may have been started before the phase (while the last
    # one answered its checks): the phase begins when its archive arrives.
    max_total, max_file, max_entries = limits_from_env()
    archive = read_frame(sys.stdin.buffer, max_total + (max_entries + 2) * 1024)
    if archive is None:
        fail("no phase archive received")
    before = counters()
    # A fresh folder whose name the submission cannot know in advance: folders it
    # prepared for a later phase, or links it planted, are never used.
    phase_dir = tempfile.mkdtemp(prefix="phase-", dir=WORK)
    in_dir = os.path.join(phase_dir, "in")
    out_dir = os.path.join(phase_dir, "out")
    target_dir = os.path.join(phase_dir, "target")
    log_dir = os.path.join(phase_dir, "logs")
    cwd = os.path.join(phase_dir, "cwd")
    for d in (in_dir, out_dir, target_dir, log_dir, cwd):
        os.makedirs(d, exist_ok=True)
    # Taken before the submission runs: it keeps pointing at the real phase
    # folder even if a model renames the folder or puts a link in its place.
    phase_fd = os.open(phase_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    safe_extract(io.BytesIO(archive), in_dir, max_total, max_file, max_entries)
    del archive
    with open(os.path.join(in_dir, "phase.json"), "r", encoding="utf-8") as f:
        spec = json.load(f)

    result = {"raw_loaded": None, "raw_error": None, "dbt": None, "queries_error": None}
    started = time.monotonic()

    # No code of the submission runs before dbt's go. Until then the check
    # round's query child starts (its start and DuckDB import then overlap
    # the build, and it shuts itself off from the submission before the go),
    # and dbt's child imports dbt (a second or two) beside the raw load.
    warm = start_query_child(spec, phase_dir) if spec.get("dialog") else None
    pending = None
    if spec.get("dbt"):
        wait = bool(spec.get("raw")) or warm is not None
        pending = start_dbt_child(spec, phase_dir, target_dir, log_dir, cwd, out_dir, wait=wait)
        if not spec.get("raw") and warm is None:
            # The relations listing below needs DuckDB; imported while dbt
            # runs, it costs the phase nothing.
            threading.Thread(target=import_duckdb, daemon=True).start()

    if spec.get("raw"):
        # Imported only to load: a check step's queries run in their own child.
        import duckdb

        try:
            conn = duckdb.connect(WAREHOUSE)
            try:
                result["raw_loaded"] = load_raw(conn, in_dir, spec["raw"])
            finally:
                conn.close()
        except Exception as e:
            result["raw_error"] = str(e)[:4000]

    # A check step only queries: starting a dbt child would cost a Python and
    # dbt import (1-2 s) for nothing.
    console = None
    warm = ready_query_child(warm)
    if pending is not None:
        if result["raw_error"] is None:
            result["dbt"], console = finish_dbt_child(pending)
        else:
            kill_group(pending["child"])
            pending["child"].wait()

    kill_everyone_else(keep=warm)
    # The warm child opens the warehouse and lists what the build left while
    # the runner reads its counters.
    asked = bool(spec.get("dbt")) and not spec.get("queries") and ask_relations(warm)
    log_tail = b""
    if console is not None:
        console.join(5)
        log_tail = bytes(console.tail[-int(spec.get("log_tail_bytes", 65536)):])
        result["dbt"]["console_bytes"] = console.total

    after = counters()
    resources = {}
    for key in ("oom_kills", "pids_max_hits"):
        if after.get(key) is not None and before.get(key) is not None:
            resources[key] = after[key] - before[key]
    for key in ("work_free_bytes", "work_total_bytes", "tmp_free_bytes", "tmp_total_bytes"):
        if key in after:
            resources[key] = after[key]
    fsize = int(spec.get("fsize_bytes") or 0)
    if fsize > 0 and spec.get("dbt"):
        resources["files_at_size_limit"] = files_at_limit(fsize)
    result["resources"] = resources
    result["counters"] = after

    queries = []
    looked = {}
    if spec.get("queries"):
        looked = run_query_child(spec, os.path.join(in_dir, "phase.json"), phase_dir)
    elif spec.get("dbt"):
        # The warm query child lists the relations (asked before the
        # counters were read); without one, the runner does: listing
        # relations reads no clock.
        if asked:
            timeout = float(spec.get("queries_timeout_secs") or spec.get("dbt_timeout_secs") or 600)
            looked = take_relations(warm, timeout)
            if looked is None:
                warm = None
        if not looked:
            looked = query_warehouse(spec)
    if looked:
        queries = looked.get("queries") or []
        for key in ("relations", "relations_truncated", "queries_error"):
            if key in looked:
                result[key] = looked[key]
    result["elapsed_secs"] = time.monotonic() - started

    emit_outputs(result, queries, phase_fd, log_tail, spec)
    if spec.get("dialog"):
        answer_checks(spec, in_dir, phase_dir, warm)


def answer_checks(spec, in_dir, phase_dir, warm=None):
    """The second round: the host's check queries, planned from the first
    round's outputs, run in the clocked query child; their answers go back as
    a second frame. An empty or absent reply means nothing to check."""
    try:
        reply = read_frame(sys.stdin.buffer, 64 << 20)
        if not reply:
            return
        answer_round(spec, in_dir, phase_dir, reply, warm)
    finally:
        if warm is not None and warm.poll() is None:
            kill_group(warm)
            warm.wait()


def answer_round(spec, in_dir, phase_dir, reply, warm):
    started = time.monotonic()
    asked = json.loads(reply.decode("utf-8"))
    checks = {
        "queries": asked.get("queries") or [],
        "max_rows": int(asked.get("max_rows") or spec.get("max_rows") or 10000),
        "queries_timeout_secs": asked.get("timeout_secs"),
        "clock": spec.get("clock"),
    }
    if not checks["queries"]:
        return
    path = os.path.join(in_dir, "checks.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(checks, f)
    looked = run_query_child(checks, path, phase_dir, warm)
    answer = {"queries_error": looked.get("queries_error"), "elapsed_secs": None}
    answer["elapsed_secs"] = time.monotonic() - started
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (
            ("checks.json", json.dumps(answer).encode()),
            ("queries.json", json.dumps(looked.get("queries") or []).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    write_frame(buf.getvalue())


FAKETIME_GLOB = "/usr/lib/*/faketime/libfaketime.so.1"


def clock_env(spec):
    """The environment that makes "now" read as the phase's sync time.

    Every figure must depend on the seed alone, never on the day the grade
    runs: a candidate who caps a future timestamp at `current_timestamp` gets
    the same answer in 2026 and in 2030. libfaketime is preloaded into the dbt
    child (DuckDB and Python both read the wall clock through libc); the clock
    starts at the sync time and then runs. Monotonic clocks stay real so
    deadlines still work.
    """
    clock = spec.get("clock")
    if not clock:
        return {}
    import glob

    libs = sorted(glob.glob(FAKETIME_GLOB))
    if not libs:
        fail("the runner image has no libfaketime; rebuild it")
    m = re.match(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})Z?$", clock)
    if not m:
        fail("bad clock %r" % clock)
    return {
        "LD_PRELOAD": libs[0],
        "FAKETIME": "@%s %s" % (m.group(1), m.group(2)),
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        # With monotonic clocks real, libfaketime's rewrite of
        # pthread_cond_timedwait timeouts is not needed, and it is costly:
        # every hand-over of Python's GIL went through it, so dbt's threads
        # spun, one grade used six times its CPU, and two grades side by
        # side took five times as long each as one alone.
        "FAKETIME_FORCE_MONOTONIC_FIX": "0",
        "FAKETIME_DONT_RESET": "1",
    }


class ConsoleTail(threading.Thread):
    """Reads dbt's console from a pipe and keeps only its end. The console is
    never a file in the workspace: a model printing gigabytes costs time, not
    the sandbox's disk."""

    def __init__(self, fd, keep):
        super().__init__(daemon=True)
        self.fd = fd
        self.keep = max(keep, 4096)
        self.tail = bytearray()
        self.total = 0

    def run(self):
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            self.total += len(chunk)
            self.tail += chunk
            if len(self.tail) > 2 * self.keep:
                del self.tail[: len(self.tail) - self.keep]
        try:
            os.close(self.fd)
        except OSError:
            pass


def start_dbt_child(spec, phase_dir, target_dir, log_dir, cwd, out_dir, wait):
    """Starts dbt's child. With `wait`, it imports dbt and then blocks until
    `finish_dbt_child` sends the go; it reports how long it waited on a pipe
    it closes before running any dbt command, so the wait is not counted as
    dbt's time and nothing of the submission can write there."""
    env = child_env(
        spec,
        {
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_PROFILES_DIR": PROFILES_DIR,
            "DBT_TARGET_PATH": target_dir,
            "DBT_LOG_PATH": log_dir,
            "DBT_PARTIAL_PARSE": "false",
        },
    )
    commands_path = os.path.join(phase_dir, "in", "phase.json")
    read_fd, write_fd = os.pipe()
    argv = [PYTHON, "/opt/assay/runner.py", "dbt-child", commands_path, os.path.join(out_dir, "invocations.json")]
    go = waited = None
    keep = [write_fd]
    if wait:
        go_read, go_write = os.pipe()
        waited_read, waited_write = os.pipe()
        argv += [str(go_read), str(waited_write)]
        keep += [go_read, waited_write]
        go, waited = go_write, waited_read
    started = time.monotonic()
    try:
        child = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=write_fd,
            stderr=write_fd,
            pass_fds=keep[1:],
            start_new_session=True,
        )
    finally:
        for fd in keep:
            os.close(fd)
    console = ConsoleTail(read_fd, int(spec.get("log_tail_bytes", 65536)))
    console.start()
    return {"child": child, "console": console, "started": started, "go": go, "waited": waited, "spec": spec}


def finish_dbt_child(pending):
    child, spec = pending["child"], pending["spec"]
    timeout = float(spec.get("dbt_timeout_secs", 600))
    waited_secs = 0.0
    if pending["go"] is not None:
        try:
            os.write(pending["go"], b"g")
        except OSError:
            pass  # the child is gone: its exit says why
        os.close(pending["go"])
        with os.fdopen(pending["waited"], "rb") as f:
            line = f.read(64)
        try:
            waited_secs = min(max(float(line.decode("ascii").strip() or 0), 0.0), time.monotonic() - pending["started"])
        except (UnicodeDecodeError, ValueError):
            waited_secs = 0.0
    # dbt's deadline runs from the go: the overlapped import is not dbt's time
    started = pending["started"] + waited_secs
    timed_out = False
    try:
        child.wait(timeout=max(timeout - (time.monotonic() - started), 0.1))
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(child)
        child.wait()
    return {
        "returncode": child.returncode,
        "timed_out": timed_out,
        "timeout_secs": timeout,
        "elapsed_secs": time.monotonic() - started,
        "waited_secs": waited_secs,
        "commands": len(spec.get("dbt", [])),
    }, pending["console"]


def cmd_dbt_child(commands_path, invocations_path, go_fd=None, waited_fd=None):
    """One Python process for every dbt command of the phase: start-up is paid once."""
    with open(commands_path, "r", encoding="utf-8") as f:
        spec = json.load(f)
    from dbt.cli.main import dbtRunner

    runner = dbtRunner()
    if go_fd is not None:
        t = time.monotonic()
        go = os.read(int(go_fd), 1)
        os.close(int(go_fd))
        # Written and closed before any dbt command runs: the submission's
        # code never holds this pipe.
        os.write(int(waited_fd), b"%.6f" % (time.monotonic() - t))
        os.close(int(waited_fd))
        if go != b"g":
            os._exit(3)
    invocations = []
    worst = 0
    for args in spec.get("dbt", []):
        full = list(args) + [
            "--project-dir",
            PROJECT,
            "--profiles-dir",
            PROFILES_DIR,
            "--profile",
            PROFILE,
            "--target",
            "grader",
        ]
        entry = {"args": list(args), "success": False, "exception": None}
        try:
            res = runner.invoke(full)
            entry["success"] = bool(res.success)
            if res.exception is not None:
                entry["exception"] = str(res.exception)[:4000]
                worst = max(worst, 2)
            elif not res.success:
                worst = max(worst, 1)
        except BaseException as e:  # a model may raise SystemExit; record it and go on
            entry["exception"] = repr(e)[:4000]
            worst = max(worst, 2)
        invocations.append(entry)
        with open(invocations_path, "w", encoding="utf-8") as f:
            json.dump(invocations, f)
    sys.stdout.flush()
    os._exit(worst)


def emit_outputs(result, queries, phase_fd, log_tail, spec):
    """Write one tar of the phase's outputs to stdout; the host re-checks every entry."""
    buf = io.BytesIO()

    def add_bytes(tar, name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))

    # The submission ran as this same user and could have replaced an artifact,
    # or a folder on its path, with a link to a file it forged, or written one
    # far larger than any dbt writes. Such an artifact is left out and named in
    # result.json, so the report can say why dbt's results are missing.
    refused = []

    def read_artifact(name, parts, cap):
        fd, reason = open_below(phase_fd, parts)
        if fd is None:
            if reason is not None:
                refused.append({"name": name, "reason": reason})
            return None
        size = os.fstat(fd).st_size
        if size > cap:
            os.close(fd)
            refused.append({"name": name, "reason": "%d bytes, over the cap of %d" % (size, cap), "size": size})
            return None
        with os.fdopen(fd, "rb") as f:
            return f.read(cap + 1)[:cap]

    artifacts = [
        ("invocations.json", read_artifact("invocations.json", ["out", "invocations.json"], 1 << 20)),
        (
            "run_results.json",
            read_artifact("run_results.json", ["target", "run_results.json"], int(spec.get("max_run_results_bytes") or (32 << 20))),
        ),
        (
            "manifest.json",
            read_artifact("manifest.json", ["target", "manifest.json"], int(spec.get("max_manifest_bytes") or (96 << 20))),
        ),
    ]
    result["refused_artifacts"] = refused

    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        add_bytes(tar, "result.json", json.dumps(result).encode())
        add_bytes(tar, "queries.json", json.dumps(queries).encode())
        for name, data in artifacts:
            if data is not None:
                add_bytes(tar, name, data)
        add_bytes(tar, "dbt_stdout_tail.log", log_tail)
    write_frame(buf.getvalue())


MAX_JUNIT_BYTES = 8 << 20
PR_SET_DUMPABLE = 4


def make_undumpable():
    """No other process of this uid may open this one's /proc/<pid>/fd/N, read or write its memory,
    or ptrace it: the candidate's code runs as the same uid as the runner and pytest."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        fail("prctl(PR_SET_DUMPABLE) failed: errno %d" % ctypes.get_errno())


class ReportReader(threading.Thread):
    """Reads pytest's JUnit report from the pipe only pytest holds, keeping at most the cap."""

    def __init__(self, fd, cap):
        super().__init__(daemon=True)
        self.fd = fd
        self.cap = cap
        self.data = bytearray()
        self.total = 0

    def run(self):
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            self.total += len(chunk)
            if len(self.data) <= self.cap:
                self.data += chunk[: self.cap + 1 - len(self.data)]
        try:
            os.close(self.fd)
        except OSError:
            pass


def cmd_tests(run_id, with_project=False):
    """Runs the pack's hidden tests (pytest) against the submission's code.

    The candidate's code runs as the runner's uid, so nothing a file system
    path can reach is the report: pytest (started by `tests-child`, which makes
    itself non-dumpable before anything else) writes its JUnit report to a pipe
    inherited from this process, whose write end only pytest holds. This
    process is non-dumpable too, so no process of the candidate's can open
    either end (or this process's stdout) through /proc. The pack's tests keep
    the candidate's code out of the pytest process (children of their own).
    The report is read after every process but this one is gone, and as
    hostile input (a size cap, no entities)."""
    make_undumpable()
    if not NAME_RE.match(run_id):
        fail("bad run id")
    take_project(with_project)
    run_dir = tempfile.mkdtemp(prefix=run_id + "-", dir=WORK)
    in_dir = os.path.join(run_dir, "in")
    cwd = os.path.join(run_dir, "cwd")
    for d in (in_dir, cwd):
        os.makedirs(d, exist_ok=True)
    max_total, max_file, max_entries = limits_from_env()
    archive = read_frame(sys.stdin.buffer, max_total + (max_entries + 2) * 1024)
    if archive is None:
        fail("no tests archive received")
    safe_extract(io.BytesIO(archive), in_dir, max_total, max_file, max_entries)
    del archive
    with open(os.path.join(in_dir, "tests.json"), "r", encoding="utf-8") as f:
        spec = json.load(f)
    hidden = os.path.join(in_dir, "hidden")
    env = {
        "PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin",
        "HOME": "/home/runner",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "PYTHONDONTWRITEBYTECODE": "1",
        "ASSAY_SUBMISSION": PROJECT,
    }
    env.update(clock_env(spec))
    timeout = float(spec.get("timeout_secs") or 300)
    started = time.monotonic()
    report_r, report_w = os.pipe()
    read_fd, write_fd = os.pipe()
    try:
        child = subprocess.Popen(
            # -I: no user site, no PYTHON* variables, no script folder on sys.path.
            [sys.executable, "-I", "-B", os.path.abspath(__file__), "tests-child", str(report_w), hidden],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=write_fd,
            stderr=write_fd,
            pass_fds=(report_w,),
            start_new_session=True,
        )
    finally:
        os.close(write_fd)
        os.close(report_w)
    report = ReportReader(report_r, MAX_JUNIT_BYTES)
    report.start()
    console = ConsoleTail(read_fd, int(spec.get("log_tail_bytes", 65536)))
    console.start()
    timed_out = False
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(child)
        child.wait()
    elapsed = time.monotonic() - started
    kill_everyone_else()
    console.join(5)
    # Only pytest held the write end, and every process but this one is gone: the pipe is at its end.
    report.join(5)
    result = {
        "returncode": child.returncode,
        "timed_out": timed_out,
        "timeout_secs": timeout,
        "elapsed_secs": elapsed,
        "console_bytes": console.total,
        "tests": None,
        "junit_error": None,
    }
    data = bytes(report.data)
    if report.is_alive():
        result["junit_error"] = "the report pipe was still open after every other process ended"
    elif not data:
        result["junit_error"] = "pytest wrote no report"
    elif report.total > MAX_JUNIT_BYTES:
        result["junit_error"] = "the test report is over %d bytes" % MAX_JUNIT_BYTES
    else:
        try:
            result["tests"] = junit_outcomes(data)
        except Exception as e:  # a report cut short (pytest killed while writing) is a result
            result["junit_error"] = "the test report does not parse: %s" % str(e)[:500]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (
            ("result.json", json.dumps(result).encode()),
            ("console_tail.log", bytes(console.tail[-int(spec.get("log_tail_bytes", 65536)):])),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    write_frame(buf.getvalue())


def cmd_tests_child(report_fd, hidden):
    """pytest itself, run by `tests`: non-dumpable before any other code runs, so no process of the
    candidate's can reach the report pipe (or this process's memory) through /proc or ptrace."""
    make_undumpable()
    fd = int(report_fd)
    # Nothing this process starts may inherit the report's write end.
    os.set_inheritable(fd, False)
    import pytest

    sys.exit(pytest.main([
        "-p", "no:cacheprovider", "-q", "-o", "junit_family=xunit1",
        "--junitxml", "/proc/self/fd/%d" % fd, hidden,
    ]))


def junit_outcomes(data):
    """Each test case of a JUnit report: `file::name`, outcome and message."""
    import xml.etree.ElementTree as ET

    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValueError("the report declares a DTD or entities")
    root = ET.fromstring(data)
    cases = []
    for case in root.iter("testcase"):
        if len(cases) >= 2000:
            break
        file = os.path.basename(case.get("file") or "")
        name = case.get("name") or ""
        outcome, message = "passed", None
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                message = (child.get("message") or child.text or "")[:4000]
                break
        cases.append({
            "id": "%s::%s" % (file, name) if file else name,
            "outcome": outcome,
            "message": message,
            "secs": float(case.get("time") or 0.0),
        })
    return cases


def main(argv):
    os.umask(0o022)
    if len(argv) < 2:
        fail("usage: runner.py phase [with-project] | tests <id> [with-project] | probe")
    cmd = argv[1]
    if cmd == "idle" and len(argv) == 3:
        cmd_idle(argv[2])
    elif cmd == "phase" and argv[2:] in ([], ["with-project"]):
        cmd_phase(with_project=len(argv) == 3)
    elif cmd == "tests" and argv[3:] in ([], ["with-project"]) and len(argv) >= 3:
        cmd_tests(argv[2], with_project=len(argv) == 4)
    elif cmd == "tests-child" and len(argv) == 4:
        cmd_tests_child(argv[2], argv[3])
    elif cmd == "probe":
        cmd_probe()
    elif cmd == "query-child" and len(argv) == 3:
        cmd_query_child(argv[2])
    elif cmd == "dbt-child" and len(argv) in (4, 6):
        cmd_dbt_child(*argv[2:])
    else:
        fail("unknown command")


if __name__ == "__main__":
    main(sys.argv)
