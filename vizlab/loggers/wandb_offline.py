"""Read back what an offline W&B run recorded (history and summary keys), without a server.

An offline run is a ``run-*.wandb`` file in W&B's LevelDB-log format: a 7-byte file header,
then 32 KiB blocks of records, each with a 7-byte header (CRC32C, length, type) and a
serialized ``wandb_internal_pb2.Record``. wandb >= 0.19 no longer exposes a reader in Python,
so this is a small one (checksums are not verified; it is for inspection and tests).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

_BLOCK = 32768
_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def _records(data: bytes):
    pos, pending = _HEADER, b""
    while pos + _HEADER <= len(data):
        left_in_block = _BLOCK - (pos % _BLOCK)
        if left_in_block < _HEADER:  # block trailer padding
            pos += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + _HEADER])
        payload = data[pos + _HEADER : pos + _HEADER + length]
        pos += _HEADER + length
        if kind == _FULL:
            yield payload
        elif kind == _FIRST:
            pending = payload
        elif kind == _MIDDLE:
            pending += payload
        elif kind == _LAST:
            yield pending + payload
            pending = b""
        elif length == 0 and kind == 0:
            pos += _BLOCK - (pos % _BLOCK)  # zero padding to the end of a block


def parsed_records(run_file: str | Path):
    """``(kind, record)`` for each ``wandb_internal_pb2.Record`` of an offline run file."""
    from wandb.proto import wandb_internal_pb2 as pb

    for raw in _records(Path(run_file).read_bytes()):
        record = pb.Record()
        try:
            record.ParseFromString(raw)
        except Exception:  # noqa: BLE001 - skip a torn record
            continue
        yield record.WhichOneof("record_type"), record


def read_offline_run(run_file: str | Path) -> dict[str, Any]:
    """``{"history": {key: [json values]}, "summary": {key: json}, "config": {...}}``."""
    import json

    out: dict[str, Any] = {"history": {}, "summary": {}, "config": {}, "complete": False}
    for kind, record in parsed_records(run_file):
        if kind == "history":
            for item in record.history.item:
                key = item.key or "/".join(item.nested_key)
                out["history"].setdefault(key, []).append(json.loads(item.value_json))
        elif kind == "summary":
            for item in record.summary.update:
                key = item.key or "/".join(item.nested_key)
                out["summary"][key] = json.loads(item.value_json)
        elif kind == "config":
            for item in record.config.update:
                key = item.key or "/".join(item.nested_key)
                out["config"][key] = json.loads(item.value_json)
        elif kind == "exit":
            out["complete"] = True
        elif kind == "run":
            out["group"] = record.run.run_group
            out["name"] = record.run.display_name
            out["project"] = record.run.project
            out["id"] = record.run.run_id
            out["job_type"] = record.run.job_type
            for item in record.run.config.update:  # the config given to wandb.init
                key = item.key or "/".join(item.nested_key)
                out["config"][key] = json.loads(item.value_json)
    return out


def read_artifacts(run_file: str | Path) -> list[dict[str, Any]]:
    """The artifacts an offline run recorded: ``{"type", "name", "files": {path: local
    file}}``. A logged ``wandb.Table`` is a ``run_table`` artifact holding the table and its
    images; W&B stages those files until ``wandb sync`` uploads them."""
    out = []
    for kind, record in parsed_records(run_file):
        if kind == "artifact":
            art = record.artifact
            files = {e.path: e.local_path for e in art.manifest.contents}
            out.append({"type": art.type, "name": art.name, "files": files})
    return out


def read_table(run_file: str | Path, key: str) -> dict[str, Any]:
    """The last ``wandb.Table`` logged under ``key``, as W&B stores it in the run's table
    artifact: ``{"columns", "data", ...}`` with image cells as ``{"_type": "image-file",
    "path": ...}`` (``path`` is a file of the same artifact, see :func:`read_artifacts`)."""
    import json

    for art in reversed(read_artifacts(run_file)):
        if art["type"] == "run_table" and f"{key}.table.json" in art["files"]:
            table = json.loads(Path(art["files"][f"{key}.table.json"]).read_text())
            table["files"] = art["files"]
            return table
    raise KeyError(f"no table {key!r} in {run_file}")


def wait_for_run_file(run_file: str | Path, timeout: float = 60.0) -> Path:
    """``run_file`` once W&B has written its exit record. ``run.finish()`` returns before W&B's
    service has flushed an offline run to disk (the service writes it moments later, and at
    the latest when the process exits), so a reader in the same process waits here."""
    import time

    deadline = time.monotonic() + timeout
    while not read_offline_run(run_file)["complete"]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{run_file} has no exit record after {timeout:g} s")
        time.sleep(0.1)
    return Path(run_file)


def find_run_files(run_dir: str | Path) -> list[Path]:
    """The offline run files under ``run_dir/wandb`` (one per start of a run), oldest first."""
    return sorted(Path(run_dir).glob("wandb/offline-run-*/run-*.wandb"))
