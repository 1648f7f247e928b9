"""TF1's checkpoint state file and the functions that read it (tf.train.get_checkpoint_state,
latest_checkpoint, checkpoint_exists, update_checkpoint_state).

A Saver names each checkpoint by a prefix ("ckpt/model.ckpt-1000") and writes the
variables' values beside it, in `<prefix>.npz` (TF writes `<prefix>.index` and
`.data-*` files; graphjit one data-only .npz). The state file ("checkpoint" in the
checkpoint's directory) is TF's CheckpointState protobuf in text form:

    model_checkpoint_path: "model.ckpt-1000"
    all_model_checkpoint_paths: "model.ckpt-500"
    all_model_checkpoint_paths: "model.ckpt-1000"

written and read here as TF's text format spells it (C-escaped strings), parsed line by
line for those two keys (others, such as TF's timestamps, are skipped): nothing read
from the file is ever evaluated. Paths follow TF's rules: relative to the directory in
the file when the directory is relative, made absolute again (joined to the directory)
when read.
"""

from __future__ import annotations

import codecs
import os
import re
import warnings
from dataclasses import dataclass, field

from codegen.cache import atomic_write
from graphjit.errors import LoadError

STATE_FILENAME = "checkpoint"  # TF's default latest_filename
DATA_SUFFIX = ".npz"

_LINE = re.compile(r"^\s*(\w+)\s*:\s*(.*?)\s*$")
_STRING = re.compile(r'^"((?:[^"\\]|\\.)*)"$')
_KEYS = ("model_checkpoint_path", "all_model_checkpoint_paths")


@dataclass
class CheckpointState:
    """What TF's get_checkpoint_state returns: the newest checkpoint's prefix and the
    prefixes of all checkpoints kept, oldest first."""

    model_checkpoint_path: str = ""
    all_model_checkpoint_paths: list[str] = field(default_factory=list)


def data_path(prefix: str | os.PathLike) -> str:
    """The file holding a checkpoint's values: `<prefix>.npz` (a prefix that names the
    .npz itself, as graphjit's Saver returned before it returned TF's prefixes, is kept)."""
    prefix = os.fspath(prefix)
    return prefix if prefix.endswith(DATA_SUFFIX) else prefix + DATA_SUFFIX


def checkpoint_exists(checkpoint_prefix: str | os.PathLike) -> bool:
    """Whether a checkpoint with this prefix was written (TF1's tf.train.checkpoint_exists)."""
    return os.path.isfile(data_path(checkpoint_prefix))


def _escape(text: str) -> str:
    """A string as TF's text format writes it: printable ASCII as is, other bytes of
    its UTF-8 form in octal, quotes and backslashes escaped."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in "\"'\\":
            out.append("\\" + char)
        elif char in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[char])
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return "".join(out)


def _unescape(text: str, where: str) -> str:
    try:  # codecs' C-escape decoder only decodes escapes: it runs nothing
        return codecs.escape_decode(text.encode("utf-8"))[0].decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{where}: bad string escape ({exc})") from None


def state_file_text(state: CheckpointState) -> str:
    lines = [f'model_checkpoint_path: "{_escape(state.model_checkpoint_path)}"']
    lines += [f'all_model_checkpoint_paths: "{_escape(p)}"'
              for p in state.all_model_checkpoint_paths]
    return "\n".join(lines) + "\n"


def parse_state_file(text: str, filename: str) -> CheckpointState:
    """The two path keys of a state file's text (other keys skipped); ValueError on a
    line that is not `key: value`, or a path that is not a quoted string."""
    state = CheckpointState()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"{filename}:{number}: expected 'key: value', got {line!r}")
        key = match.group(1)
        if key not in _KEYS:
            continue
        quoted = _STRING.match(match.group(2))
        if quoted is None:
            raise ValueError(f"{filename}:{number}: {key} must be a quoted string, got "
                             f"{match.group(2)!r}")
        value = _unescape(quoted.group(1), f"{filename}:{number}")
        if key == "model_checkpoint_path":
            state.model_checkpoint_path = value
        elif key == "all_model_checkpoint_paths":
            state.all_model_checkpoint_paths.append(value)
    return state


def _state_filename(save_dir: str, latest_filename: str | None) -> str:
    return os.path.join(save_dir, latest_filename or STATE_FILENAME)


def update_checkpoint_state(save_dir: str | os.PathLike, model_checkpoint_path: str,
                            all_model_checkpoint_paths: list[str] | None = None,
                            latest_filename: str | None = None,
                            save_relative_paths: bool = False) -> None:
    """Write the state file of `save_dir` (TF1's tf.train.update_checkpoint_state): the
    newest prefix last in the list; paths relative to `save_dir` where it is relative
    (or where `save_relative_paths` asks for it)."""
    save_dir = os.fspath(save_dir)
    paths = list(all_model_checkpoint_paths or [])
    if not paths or paths[-1] != model_checkpoint_path:
        paths.append(model_checkpoint_path)
    relative_dir = not os.path.isabs(save_dir)

    def written(path: str) -> str:
        if os.path.isabs(path):
            return os.path.relpath(path, save_dir) if save_relative_paths else path
        return os.path.relpath(path, save_dir) if relative_dir else path

    state = CheckpointState(written(model_checkpoint_path), [written(p) for p in paths])
    atomic_write(_state_filename(save_dir, latest_filename), state_file_text(state).encode())


def get_checkpoint_state(checkpoint_dir: str | os.PathLike,
                         latest_filename: str | None = None) -> CheckpointState | None:
    """The state file of `checkpoint_dir`, its relative paths joined to the directory;
    None when there is none (TF1's tf.train.get_checkpoint_state). An unreadable file is
    ignored with a warning, as TF ignores it; one naming no checkpoint is a LoadError."""
    checkpoint_dir = os.fspath(checkpoint_dir)
    filename = _state_filename(checkpoint_dir, latest_filename)
    if not os.path.isfile(filename):
        return None
    try:
        with open(filename, encoding="utf-8") as f:
            state = parse_state_file(f.read(), filename)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        warnings.warn(f"{filename}: checkpoint state ignored: {exc}", stacklevel=2)
        return None
    if not state.model_checkpoint_path:
        raise LoadError(f"{filename}: invalid checkpoint state: it names no "
                        "model_checkpoint_path")

    def joined(path: str) -> str:
        return path if os.path.isabs(path) else os.path.join(checkpoint_dir, path)

    return CheckpointState(joined(state.model_checkpoint_path),
                           [joined(p) for p in state.all_model_checkpoint_paths])


def latest_checkpoint(checkpoint_dir: str | os.PathLike,
                      latest_filename: str | None = None) -> str | None:
    """The prefix of the newest checkpoint in `checkpoint_dir`, or None when the state
    file names none or its data file is gone (TF1's tf.train.latest_checkpoint)."""
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state and state.model_checkpoint_path and checkpoint_exists(state.model_checkpoint_path):
        return state.model_checkpoint_path
    return None


__all__ = ["CheckpointState", "get_checkpoint_state", "latest_checkpoint", "checkpoint_exists",
           "update_checkpoint_state"]
