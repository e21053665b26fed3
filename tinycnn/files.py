"""Writing files so that nothing a user saved is lost; reading ``.npz`` and JSON files that
may be damaged or hostile; JSON from NumPy values.

An atomic write puts the data in a temporary file (``.tmp-*``) in the same folder, flushes
it to disk, gives it the usual file mode (``0o666`` minus the umask: 0644 under umask 022),
and only then renames it over the target: a rename within one file system is atomic, so the
target always holds either the old complete file or the new complete file, even if the
process is killed half-way or the disk fills up.

``NpzArchive`` reads an ``.npz`` member by member and checks each member's ``.npy`` header
(shape, dtype, size) against what the caller expects *before* any data is decompressed: a
damaged file gives one line naming the file and the array, a file holding Python objects
(pickles) is refused, and a small file claiming gigabytes is refused before allocating.
"""

import json
import os
import tempfile
import zipfile
import zlib

import numpy as np

TEMP_PREFIX = ".tmp-"            # every temporary file of an atomic write starts with this
MAX_JSON_BYTES = 16 * 2**20      # a run's JSON files are a few kilobytes
READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError,
               RuntimeError)     # what zipfile and numpy raise on damaged bytes (RuntimeError: encrypted)


class BadFileError(ValueError):
    """A file is damaged or not what it should be; the message (one line) names the file."""


# ----------------------------------------------------------------------------- writing


def current_umask():
    """The process's umask (os.umask can only be read by setting it, so set it back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path, write, mode="wb", suffix=""):
    """Call write(file_object) on a temporary file, then rename it to path."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=suffix, dir=folder)
    try:
        with os.fdopen(handle, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())     # mkstemp made it 0600 (owner only)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def atomic_savez(path, arrays):
    """np.savez(path, **arrays), atomically."""
    return atomic_write(path, lambda f: np.savez(f, **arrays), suffix=".npz")


def atomic_write_text(path, text):
    return atomic_write(path, lambda f: f.write(text), mode="w")


def atomic_write_json(path, value):
    return atomic_write_text(path, json.dumps(to_jsonable(value), indent=2))


def remove_temp_files(folder):
    """Delete the ``.tmp-*`` files an atomic write killed half-way left in ``folder``; returns
    their names.  Call it only while no other process writes to the folder (a run's lock)."""
    if not os.path.isdir(folder):
        return []
    removed = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.startswith(TEMP_PREFIX) and os.path.isfile(path) and not os.path.islink(path):
            os.remove(path)
            removed.append(name)
    return removed


def replace_marked_section(path, start, end, section, title="# Benchmark results"):
    """Put ``section`` (which begins with ``start`` and ends with ``end``) in the text file at
    ``path``: in place of the old text between those markers, or appended when they are
    missing (a new file starts with ``title``).  Written atomically."""
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else title + "\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    atomic_write_text(path, text)


def to_jsonable(value):
    """Dicts, lists, NumPy arrays and scalars -> plain Python values json can write."""
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


# ----------------------------------------------------------------------------- reading


def read_json(path, what="file"):
    """The JSON value in the file at ``path``; BadFileError (one line naming the file) when it
    is too large, not UTF-8 or not JSON.  A missing file raises FileNotFoundError."""
    size = os.path.getsize(path)
    if size > MAX_JSON_BYTES:
        raise BadFileError(f"{what} {path} is {size:,} bytes, more than the {MAX_JSON_BYTES:,} "
                           "any file tinycnn writes holds")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadFileError(f"{what} {path} is not valid JSON ({err})") from None


def readable_detail(err):
    """``Type: message`` of a low-level error, without numpy's advice to unpickle."""
    return type(err).__name__ if "pickle" in str(err) else f"{type(err).__name__}: {err}"


class NpzArchive:
    """An ``.npz`` file opened for careful reading, member by member.

        with NpzArchive("run/model.npz", "model file") as archive:
            text = archive.read_text("description")
            arrays = archive.read_arrays({"weights/w": ((3, 3), np.dtype("float32"))})

    Every problem is a ``BadFileError`` whose message starts with ``what`` and the path.
    """

    def __init__(self, path, what="file"):
        self.path, self.what = os.fspath(path), what
        try:
            self.zip = zipfile.ZipFile(self.path)
        except READ_ERRORS as err:
            raise self.error(f"is not an .npz archive: empty, truncated or another kind of file "
                             f"({readable_detail(err)})") from None
        self.members = {info.filename[:-4]: info for info in self.zip.infolist()
                        if info.filename.endswith(".npy")}
        if not self.members:
            self.zip.close()
            raise self.error(f"holds no .npy arrays (it has {sorted(self.zip.namelist())[:5]})")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.zip.close()

    def error(self, problem):
        return BadFileError(f"{self.what} {self.path}: {problem}")

    @property
    def names(self):
        """The names of the arrays in the archive, sorted."""
        return sorted(self.members)

    def header(self, name):
        """(shape, dtype, header bytes) from the ``.npy`` header of array ``name``; no data is read."""
        with self._open(name) as f:
            return self._read_header(name, f)

    def _open(self, name):
        if name not in self.members:
            raise self.error(f"has no array {name!r}")
        info = self.members[name]
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise self.error(f"array {name!r} uses zip compression method {info.compress_type}; "
                             "only stored or deflated members (np.savez, np.savez_compressed) are read")
        try:
            return self.zip.open(info)
        except READ_ERRORS as err:
            raise self.error(f"array {name!r} cannot be opened ({readable_detail(err)})") from None

    def _read_header(self, name, f):
        try:
            version = np.lib.format.read_magic(f)
            read = {(1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0}[version]
            shape, _, dtype = read(f)
        except (KeyError, *READ_ERRORS):
            raise self.error(f"array {name!r} is not a readable .npy array (damaged or unsupported "
                             "header)") from None
        if dtype.hasobject:
            raise self.error(f"array {name!r} holds Python objects (a pickle); tinycnn never writes "
                             "those and does not load them: they can run code")
        return shape, dtype, f.tell()

    def _check_layout(self, name, f, shape, dtype):
        """Check that array ``name`` (open as ``f``) is ``shape`` ``dtype`` and that its zip entry
        unpacks to exactly header + data bytes, so nothing larger is ever decompressed."""
        got_shape, got_dtype, header_bytes = self._read_header(name, f)
        if got_shape != tuple(shape):
            raise self.error(f"array {name!r} has shape {got_shape}, expected {tuple(shape)}")
        if got_dtype != dtype:
            raise self.error(f"array {name!r} has dtype {got_dtype}, expected {dtype}")
        needed = header_bytes + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        claimed = self.members[name].file_size
        if claimed != needed:
            raise self.error(f"array {name!r} unpacks to {claimed:,} bytes, but its header "
                             f"({got_shape} {got_dtype}) needs {needed:,}")

    def _read_checked(self, name, shape, dtype):
        """Array ``name``, read after ``_check_layout`` (so numpy allocates only what we expect)."""
        with self._open(name) as f:
            self._check_layout(name, f, shape, dtype)
        with self._open(name) as f:
            try:
                return np.lib.format.read_array(f, allow_pickle=False)
            except READ_ERRORS as err:
                raise self.error(f"array {name!r} is damaged ({readable_detail(err)})") from None

    def read_text(self, name, max_chars=1_000_000):
        """The string stored as the 0-d unicode array ``name`` (at most ``max_chars`` long)."""
        shape, dtype, _ = self.header(name)
        if shape != () or dtype.kind != "U":
            raise self.error(f"array {name!r} should be a text (0-d unicode array), got {shape} {dtype}")
        if dtype.itemsize // 4 > max_chars:
            raise self.error(f"text {name!r} is {dtype.itemsize // 4:,} characters long, "
                             f"more than the {max_chars:,} allowed")
        return str(self._read_checked(name, shape, dtype))

    def read_arrays(self, expected, also=(), finite=False):
        """{name: array} for ``expected`` = {name: (shape, dtype)}, every array checked first.

        Names missing from the archive, or present but neither expected nor in ``also``,
        are refused before anything is read; with ``finite=True`` so is an array holding
        NaN or infinity."""
        missing = [k for k in expected if k not in self.members]
        unexpected = [k for k in self.names if k not in expected and k not in also]
        if missing or unexpected:
            parts = [f"{label} {', '.join(map(repr, keys[:5]))}{' ...' if len(keys) > 5 else ''}"
                     for label, keys in (("is missing", missing), ("has unexpected", unexpected)) if keys]
            raise self.error("; ".join(parts))
        layout = {name: (tuple(shape), np.dtype(dtype)) for name, (shape, dtype) in expected.items()}
        for name, (shape, dtype) in layout.items():      # every header before any data
            with self._open(name) as f:
                self._check_layout(name, f, shape, dtype)
        arrays = {name: self._read_checked(name, shape, dtype) for name, (shape, dtype) in layout.items()}
        for name, array in arrays.items():
            if finite and array.dtype.kind in "fc" and not np.isfinite(array).all():
                bad = int(np.count_nonzero(~np.isfinite(array)))
                raise self.error(f"array {name!r} holds {bad} NaN or infinite value(s) of {array.size}")
        return arrays


def array_layout(arrays):
    """{name: (shape, dtype)} of a dict of arrays: what ``NpzArchive.read_arrays`` expects."""
    return {name: (np.shape(a), np.asarray(a).dtype) for name, a in arrays.items()}
