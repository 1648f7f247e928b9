"""Reading TensorBoard event files back without the writer's code: the TFRecord framing
and its masked CRC32C, computed here from the Castagnoli polynomial."""

from __future__ import annotations

import glob
import os
import struct


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's mask: rotate right by 15, add a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_records(path: str) -> list[bytes]:
    """The records of a TFRecord file; asserts the framing and both CRCs of each."""
    with open(path, "rb") as f:
        data = f.read()
    records, i = [], 0
    while i < len(data):
        assert i + 12 <= len(data), f"{path}: a record header is cut off at byte {i}"
        header = data[i:i + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack_from("<I", data, i + 8)
        assert length_crc == masked_crc32c(header), f"{path}: bad length CRC at byte {i}"
        payload = data[i + 12:i + 12 + length]
        assert len(payload) == length and i + 16 + length <= len(data), f"{path}: cut off"
        (data_crc,) = struct.unpack_from("<I", data, i + 12 + length)
        assert data_crc == masked_crc32c(payload), f"{path}: bad data CRC at byte {i}"
        records.append(payload)
        i += 16 + length
    return records


def event_files(logdir: str) -> list[str]:
    return sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*")))


def read_events(logdir: str) -> list:
    """The Event protobufs of the one event file in `logdir` (tensorboard's event_pb2)."""
    from tensorboard.compat.proto import event_pb2
    (path,) = event_files(logdir)
    return [event_pb2.Event.FromString(r) for r in read_records(path)]
