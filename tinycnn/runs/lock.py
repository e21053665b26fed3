"""One writer per run folder: ``RUN/.lock`` names the process that trains (or evaluates) in it.

    with RunLock("runs/pneumonia"):        # refused while another live process holds it
        ...

The lock file is created with ``O_CREAT | O_EXCL`` (the operating system lets exactly one
process create it) and holds the owner's pid, host and start time.  A process killed with
``kill -9`` cannot remove it, so a lock is *stale*, and taken over with a message, when its
process no longer runs on this host (or the file is unreadable and older than a few
seconds).  A lock from another host cannot be checked from here: it is refused, and the
message says which file to delete if that run is gone.  Within one process the lock is
re-entrant: ``train_and_evaluate`` holds it around ``fit`` and ``evaluate_run``, which
take it too.  (Two processes that find the same stale lock at the same instant could
both take it over; a live lock is never taken.)
"""

import json
import os
import socket
import time
import uuid

from .checks import RunError

LOCK_NAME = ".lock"
UNREADABLE_GRACE_SECONDS = 10      # a lock is written right after it is created


class RunLockedError(RunError):
    """Another process holds the run folder's lock."""


def process_is_running(pid):
    """Whether process ``pid`` exists on this machine (signal 0 checks without signalling)."""
    if os.name == "nt":          # os.kill would terminate it on Windows: assume it runs
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):
        return False
    except PermissionError:      # it exists, under another user
        return True
    return True


def read_lock(path):
    """The lock file's record {pid, host, started, token}, or None when it is unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        valid = (isinstance(record, dict) and isinstance(record.get("pid"), int)
                 and isinstance(record.get("host"), str))
        return record if valid else None
    except (OSError, ValueError):
        return None


def stale_reason(path, record):
    """Why the lock at ``path`` (holding ``record``) is stale, or None if it may be in use."""
    if record is None:
        try:
            age = time.time() - os.path.getmtime(path)
        except FileNotFoundError:
            return "a lock that has just been removed"
        return f"an unreadable lock file {age:.0f} s old" if age > UNREADABLE_GRACE_SECONDS else None
    if record["host"] != socket.gethostname():
        return None
    if record["pid"] == os.getpid() or not process_is_running(record["pid"]):
        return f"process {record['pid']} on {record['host']}, which is no longer running"
    return None


def refusal(folder, path, record):
    if record is None:
        return RunLockedError(f"{folder} is being locked by another process right now ({path} is not "
                              "written yet); try again in a few seconds")
    holder = f"process {record['pid']} on {record['host']} holds {path} (since {record.get('started', '?')})"
    if record["host"] != socket.gethostname():
        return RunLockedError(f"{folder} is in use: {holder}; from {socket.gethostname()} tinycnn cannot "
                              f"tell whether it still runs: if it does not, delete {path}")
    return RunLockedError(f"{folder} is in use by another training: {holder}; wait for it to finish or "
                          f"stop it (if no such run exists, delete {path})")


class RunLock:
    """Hold ``folder``'s lock while a ``with`` block runs (see the module docstring)."""

    held = {}                    # real path of a folder -> how many nested RunLocks hold it here

    def __init__(self, folder, print_fn=print):
        self.folder, self.print_fn = os.fspath(folder), print_fn
        self.path = os.path.join(self.folder, LOCK_NAME)
        self.key = os.path.realpath(self.folder)
        self.record = None

    def __enter__(self):
        if self.key not in RunLock.held:
            os.makedirs(self.folder, exist_ok=True)
            self.record = self.acquire()
        RunLock.held[self.key] = RunLock.held.get(self.key, 0) + 1
        return self

    def __exit__(self, *exc):
        RunLock.held[self.key] -= 1
        if RunLock.held[self.key] == 0:
            del RunLock.held[self.key]
            if read_lock(self.path) == self.record:      # still ours: remove it
                os.remove(self.path)

    def create(self):
        """A handle on a lock file this call created, or None when one exists already."""
        try:
            return os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            return None

    def acquire(self):
        """Create the lock (taking a stale one over) and write our record into it."""
        handle = self.create()
        if handle is None:
            holder = read_lock(self.path)
            reason = stale_reason(self.path, holder)
            if reason is None:
                raise refusal(self.folder, self.path, holder)
            self.print_fn(f"{self.folder}: taking over the lock left by {reason}")
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
            handle = self.create()
            if handle is None:               # another process took it over first
                raise refusal(self.folder, self.path, read_lock(self.path))
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": time.strftime("%Y-%m-%d %H:%M:%S"), "token": uuid.uuid4().hex}
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            json.dump(record, f)
            f.flush()
            os.fsync(f.fileno())
        return record
