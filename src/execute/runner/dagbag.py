"""assay's DAG loader, baked into the airflow runner image at /opt/assay/dagbag.py.

Commands (run by the grader through `docker exec`, as uid 10001, no network):

  dagbag.py idle <seconds>   PID 1 of the container: reaps orphans, exits after the lifetime
  dagbag.py load <json>      stdin: a tar holding dags/ (and src/); stdout: one JSON document
  dagbag.py bag <fd>         internal: one Airflow's DagBag, run by that Airflow's venv python

`load` unpacks the candidate's files into /work/submission (regular files and
folders only, with caps), makes them read-only, then loads the DAG folder with
each installed Airflow in turn (3.x, then 2.x: neither loads the other's DAG
style) in a child process of its own, each with a fresh AIRFLOW_HOME under /tmp,
no examples and no database, under a wall-clock deadline. The candidate's code
runs in that child, so whatever it reports is evidence to be checked, not
trusted: the grader reads the document with size caps and a strict schema.

Nothing here prints an environment value.
"""

import json
import os
import select
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

SUBMISSION = "/work/submission"
# Tried in this order; a missing venv is skipped (an image may hold one Airflow).
VENVS = ["/opt/airflow3", "/opt/airflow2"]

MAX_MESSAGE = 2000  # chars of one import error, Airflow's own text, clipped
MAX_IMPORT_ERRORS = 100
MAX_DAGS = 100
MAX_TASKS = 2000  # over every DAG of one attempt
MAX_EDGES = 10000
MAX_NAME = 250
MAX_STDERR_TAIL = 2000
BAG_KEYS = ("airflow_version", "import_errors", "dags", "dag_count", "import_secs", "load_secs", "truncated")


def clip(text, limit=MAX_NAME):
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def cmd_idle(seconds):
    """PID 1: reap orphans (a DAG file's stray children must not linger as
    zombies) and exit after the container's lifetime."""
    deadline = time.monotonic() + float(seconds)
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


class Refused(Exception):
    pass


def unpack(stream, limits):
    """Regular files and folders under dags/ or src/ only; no links, devices,
    absolute paths or `..`; caps on entries, total and per-file bytes."""
    os.makedirs(SUBMISSION, mode=0o700)
    total = 0
    count = 0
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            count += 1
            if count > limits["max_entries"]:
                raise Refused("too many entries")
            name = member.name
            parts = name.split("/")
            if (
                name.startswith("/")
                or any(p in ("", ".", "..") for p in parts)
                or parts[0] not in ("dags", "src")
                or len(name) > 1024
            ):
                raise Refused("bad path %r" % clip(name, 200))
            dest = os.path.join(SUBMISSION, name)
            if member.isdir():
                os.makedirs(dest, mode=0o700, exist_ok=True)
            elif member.isreg():
                if member.size > limits["max_file_bytes"]:
                    raise Refused("file too large: %r" % clip(name, 200))
                total += member.size
                if total > limits["max_bytes"]:
                    raise Refused("upload too large")
                os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
                src = tar.extractfile(member)
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                fd = os.open(dest, flags, 0o600)
                with os.fdopen(fd, "wb") as out:
                    while True:
                        chunk = src.read(1 << 16)
                        if not chunk:
                            break
                        out.write(chunk)
            else:
                raise Refused("not a file or folder: %r" % clip(name, 200))
    os.makedirs(os.path.join(SUBMISSION, "dags"), mode=0o700, exist_ok=True)
    # Read-only, as a deployment's DAG folder is: a DAG file that rewrites its
    # siblings while being parsed gets an error, not a different second load.
    for root, dirs, files in os.walk(SUBMISSION, topdown=False):
        for f in files:
            os.chmod(os.path.join(root, f), 0o444)
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o555)
    os.chmod(SUBMISSION, 0o555)


def child_env(venv, home):
    # Built from nothing: the child sees only what Airflow needs.
    return {
        "PATH": venv + "/bin:/usr/bin:/bin",
        "HOME": "/home/runner",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__DAGS_FOLDER": SUBMISSION + "/dags",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "60",
        # The submission's root, so `from src.x import y` resolves as in the
        # exercise's layout (src is a package); Airflow adds dags/ itself.
        "PYTHONPATH": SUBMISSION,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }


def run_attempt(venv, timeout):
    """One Airflow's DagBag in a child of its own session, killed as a group
    at the deadline or when it is done (a DAG file's threads and daemons die
    with it)."""
    started = time.monotonic()
    attempt = {"venv": venv, "status": "loaded", "exit_code": None, "wall_secs": 0.0, "detail": None, "bag": None}
    home = tempfile.mkdtemp(prefix="airflow-home-", dir="/tmp")
    read_fd, write_fd = os.pipe()
    err = tempfile.TemporaryFile(dir="/tmp")
    try:
        proc = subprocess.Popen(
            [venv + "/bin/python", os.path.abspath(__file__), "bag", str(write_fd)],
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            env=child_env(venv, home),
            cwd=home,
            pass_fds=(write_fd,),
            start_new_session=True,
        )
    except OSError as e:
        os.close(read_fd)
        os.close(write_fd)
        attempt.update(status="crashed", detail=clip("cannot start: %s" % e, MAX_MESSAGE))
        attempt["wall_secs"] = round(time.monotonic() - started, 3)
        return attempt
    os.close(write_fd)
    limit = 8 << 20
    chunks = []
    size = 0
    deadline = started + timeout
    os.set_blocking(read_fd, False)
    timed_out = False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([read_fd], [], [], min(remaining, 0.5))
        if ready:
            try:
                data = os.read(read_fd, 1 << 16)
            except BlockingIOError:
                continue
            if not data:
                break
            size += len(data)
            if size <= limit:
                chunks.append(data)
        elif proc.poll() is not None:
            # Exited; drain what is left without waiting.
            try:
                while True:
                    data = os.read(read_fd, 1 << 16)
                    if not data:
                        break
                    size += len(data)
                    if size <= limit:
                        chunks.append(data)
            except BlockingIOError:
                pass
            break
    os.close(read_fd)
    if not timed_out:
        # The result is in; give the child a moment to exit by itself so its
        # exit status is its own, not our kill's.
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    attempt["exit_code"] = proc.returncode
    attempt["wall_secs"] = round(time.monotonic() - started, 3)
    if timed_out:
        attempt["status"] = "timed_out"
        attempt["detail"] = "no result after %d s" % timeout
        return attempt
    body = b"".join(chunks)
    try:
        if size > limit:
            raise ValueError("result larger than %d bytes" % limit)
        result = json.loads(body.decode("utf-8"))
        if not isinstance(result, dict):
            raise ValueError("result is not an object")
    except (ValueError, UnicodeDecodeError) as e:
        err.seek(0, os.SEEK_END)
        end = err.tell()
        err.seek(max(0, end - MAX_STDERR_TAIL))
        tail = err.read().decode("utf-8", "replace")
        attempt["status"] = "crashed"
        attempt["detail"] = clip("no result (%s); exit %s; stderr tail: %s" % (e, proc.returncode, tail), MAX_MESSAGE + MAX_STDERR_TAIL)
        return attempt
    # Only the child's own keys, under one key of ours: a DAG file that writes
    # to the pipe cannot overwrite the attempt's status or venv. The grader
    # checks the types and sizes of what is inside.
    attempt["bag"] = {k: result[k] for k in BAG_KEYS if k in result}
    return attempt


def cmd_load(config):
    limits = json.loads(config)
    started = time.monotonic()
    doc = {"format": 1, "attempts": []}
    try:
        unpack(sys.stdin.buffer, limits)
    except (Refused, tarfile.TarError, OSError) as e:
        sys.stderr.write("assay-dagbag: upload refused: %s\n" % clip(e, 500))
        return 3
    for venv in VENVS:
        if not os.path.exists(venv + "/bin/python"):
            continue
        doc["attempts"].append(run_attempt(venv, float(limits["attempt_timeout_secs"])))
    doc["wall_secs"] = round(time.monotonic() - started, 3)
    out = json.dumps(doc, separators=(",", ":"))
    if len(out) > limits["max_output_bytes"]:
        # Keep what matters most: versions, statuses, errors, dag ids.
        for a in doc["attempts"]:
            bag = a.get("bag") or {}
            dags = bag.get("dags")
            for d in dags if isinstance(dags, list) else []:
                if isinstance(d, dict):
                    d["tasks"] = []
                    d["edges"] = []
                    d["truncated"] = True
            bag["truncated"] = True
        out = json.dumps(doc, separators=(",", ":"))
    if len(out) > limits["max_output_bytes"]:
        # Only a child that wrote past its own caps gets here.
        for a in doc["attempts"]:
            a["bag"] = None
            a["status"] = "crashed"
            a["detail"] = "result larger than the output cap"
        out = json.dumps(doc, separators=(",", ":"))
    sys.stdout.write(out)
    sys.stdout.flush()
    return 0


# ---- inside one Airflow's venv -------------------------------------------


def secs(value):
    if value is None:
        return None
    try:
        return float(value.total_seconds())
    except AttributeError:
        try:
            return float(value)
        except (TypeError, ValueError):
            return None


def as_int(value):
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def rel_file(path):
    path = str(path or "")
    dags = SUBMISSION + "/dags/"
    return clip(path[len(dags):] if path.startswith(dags) else path, 1024)


def schedule_of(dag):
    """The schedule as written (`schedule=` on 3.x, `schedule_interval` on 2.x),
    and Airflow's summary of the timetable it made from it."""
    raw = getattr(dag, "schedule", None)
    if raw is None and not hasattr(dag, "schedule"):
        raw = getattr(dag, "schedule_interval", None)
    if raw is not None and not isinstance(raw, str):
        raw = secs(raw) if hasattr(raw, "total_seconds") else type(raw).__name__
        raw = None if raw is None else str(raw)
    # 2.x timetables have `summary`; the 3.x Task SDK's have `expression`
    # (cron) or neither (asset-triggered, once, None).
    summary = None
    try:
        timetable = dag.timetable
        for attr in ("summary", "expression"):
            value = getattr(timetable, attr, None)
            if isinstance(value, str):
                summary = value
                break
        if summary is None and timetable is not None:
            summary = type(timetable).__name__
    except Exception:
        summary = None
    return (clip(raw) if raw is not None else None), (clip(summary) if summary is not None else None)


def dag_facts(dag, budget):
    schedule, timetable = schedule_of(dag)
    facts = {
        "dag_id": clip(dag.dag_id),
        "file": rel_file(getattr(dag, "fileloc", "")),
        "schedule": schedule,
        "timetable": timetable,
        "catchup": getattr(dag, "catchup", None) if isinstance(getattr(dag, "catchup", None), bool) else None,
        "max_active_runs": as_int(getattr(dag, "max_active_runs", None)),
        "max_active_tasks": as_int(getattr(dag, "max_active_tasks", None)),
        "tasks": [],
        "edges": [],
        "truncated": False,
    }
    tasks = sorted(dag.tasks, key=lambda t: t.task_id)
    for t in tasks:
        if budget["tasks"] <= 0:
            facts["truncated"] = True
            break
        budget["tasks"] -= 1
        facts["tasks"].append(
            {
                "task_id": clip(t.task_id),
                "operator": clip(type(t).__name__),
                "operator_module": clip(type(t).__module__),
                "decorator": clip(t.custom_operator_name) if isinstance(getattr(t, "custom_operator_name", None), str) else None,
                "retries": as_int(getattr(t, "retries", None)),
                "retry_delay_secs": secs(getattr(t, "retry_delay", None)),
                "retry_exponential_backoff": bool(getattr(t, "retry_exponential_backoff", False)),
                "execution_timeout_secs": secs(getattr(t, "execution_timeout", None)),
                "trigger_rule": clip(getattr(getattr(t, "trigger_rule", None), "value", getattr(t, "trigger_rule", None))),
            }
        )
    for t in tasks:
        for down in sorted(t.downstream_task_ids):
            if budget["edges"] <= 0:
                facts["truncated"] = True
                break
            budget["edges"] -= 1
            facts["edges"].append([clip(t.task_id), clip(down)])
    return facts


def cmd_bag(fd):
    # The result goes to a pipe of its own: a DAG file's prints (stdout is the
    # grader's stderr capture) cannot be mistaken for it by accident.
    out = os.fdopen(int(fd), "w", encoding="utf-8")
    started = time.monotonic()
    import airflow

    try:
        from airflow.dag_processing.dagbag import DagBag  # 3.x
    except ImportError:
        from airflow.models.dagbag import DagBag  # 2.x
    import inspect

    kwargs = {"dag_folder": SUBMISSION + "/dags"}
    params = inspect.signature(DagBag.__init__).parameters
    if "include_examples" in params:
        kwargs["include_examples"] = False
    if "read_dags_from_db" in params:
        kwargs["read_dags_from_db"] = False
    imported = time.monotonic()
    bag = DagBag(**kwargs)
    loaded = time.monotonic()
    errors = []
    for path, message in sorted(bag.import_errors.items())[:MAX_IMPORT_ERRORS]:
        message = str(message)
        errors.append(
            {
                "file": rel_file(path),
                "message": clip(message.strip(), MAX_MESSAGE),
                "cycle": "Cycle detected in" in message,
            }
        )
    budget = {"tasks": MAX_TASKS, "edges": MAX_EDGES}
    dags = []
    for dag_id in sorted(bag.dags)[:MAX_DAGS]:
        try:
            dags.append(dag_facts(bag.dags[dag_id], budget))
        except Exception as e:  # a DAG object a file tampered with
            errors.append({"file": rel_file(getattr(bag.dags[dag_id], "fileloc", "")), "message": clip("assay could not read DAG %r: %s: %s" % (dag_id, type(e).__name__, e), MAX_MESSAGE), "cycle": False})
    result = {
        "airflow_version": clip(getattr(airflow, "__version__", "")),
        "import_errors": errors,
        "dags": dags,
        "dag_count": len(bag.dags),
        "import_secs": round(imported - started, 3),
        "load_secs": round(loaded - imported, 3),
        "truncated": len(bag.dags) > MAX_DAGS or len(bag.import_errors) > MAX_IMPORT_ERRORS or any(d["truncated"] for d in dags),
    }
    out.write(json.dumps(result, separators=(",", ":")))
    out.flush()
    out.close()
    # Without running interpreter shutdown: a DAG file's atexit hooks or
    # non-daemon threads must not hold the result back.
    os._exit(0)


def main(argv):
    if len(argv) == 3 and argv[1] == "idle":
        cmd_idle(argv[2])
        return 0
    if len(argv) == 3 and argv[1] == "load":
        return cmd_load(argv[2])
    if len(argv) == 3 and argv[1] == "bag":
        cmd_bag(argv[2])
        return 0
    sys.stderr.write("usage: dagbag.py idle <seconds> | load <json> | bag <fd>\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
