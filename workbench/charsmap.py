"""Write a SentencePiece ``precompiled_charsmap`` from a table of per-character replacements.

A SentencePiece normaliser (and the ``tokenizers`` library's ``Precompiled``
normaliser, which reads the same bytes) is stored as

* a little-endian ``u32``: the size in bytes of the trie that follows;
* the trie: a double array of ``u32`` units (the darts-clone layout) whose keys
  are UTF-8 byte strings and whose values are offsets into the pool below;
* the pool: the replacement strings, each UTF-8 and ending in a NUL byte.

A unit holds, from the low bits up: the label (the byte that leads to it, 8
bits), a has-leaf flag (bit 8), an offset scale flag (bit 9) and the offset
from its own index to the base of its children (bits 10-31; shifted left by 8
more bits when bit 9 is set).  A node's children sit at ``base ^ byte`` and its
value (when it ends a key) at ``base ^ 0`` as ``(1 << 31) | value``.  Bases are
never shared between two nodes, so a lookup that lands on another node's unit
sees a label that is not its byte and stops.

Example
-------
>>> from tokenizers.normalizers import Precompiled
>>> blob = precompiled_charsmap({"\\uff21": "A", "\\u00a0": " ", "\\u0007": ""})
>>> Precompiled(blob).normalize_str("\\uff21\\u00a0b\\u0007")
'A b'
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

_LEAF = 1 << 31
_HAS_LEAF = 1 << 8
_SCALED = 1 << 9
_BLOCK = 256  # a base XOR a byte stays inside the base's block of 256 units


def precompiled_charsmap(replacements: Mapping[str, str]) -> bytes:
    """The charsmap blob replacing each key (a non-empty string) by its value ("" deletes it).

    Lookups take the shortest key that is a prefix of the text, as both
    SentencePiece and ``tokenizers`` do; with one-character keys that is
    simply the character's own entry.

    Raises
    ------
    ValueError
        A key is empty or contains NUL (which ends every lookup), or a value contains NUL.
    """
    pool = bytearray()
    offsets: dict[str, int] = {}
    keys: dict[bytes, int] = {}
    for key, value in replacements.items():
        if not key or "\0" in key:
            raise ValueError(f"charsmap keys must be non-empty and free of NUL, got {key!r}")
        if "\0" in value:
            raise ValueError(f"charsmap value for {key!r} contains NUL, which would end it early")
        if value not in offsets:  # equal replacements share one pool entry
            offsets[value] = len(pool)
            pool += value.encode("utf-8") + b"\0"
        keys[key.encode("utf-8")] = offsets[value]
    units = _double_array(keys)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(pool)


def _double_array(keys: dict[bytes, int]) -> list[int]:
    """Darts-clone units for ``keys`` (byte string -> value)."""
    # A plain trie first: node -> {byte: child}, plus the value of nodes that end a key.
    children: list[dict[int, int]] = [{}]
    values: dict[int, int] = {}
    for key, value in sorted(keys.items()):
        node = 0
        for byte in key:
            node = children[node].setdefault(byte, len(children))
            if node == len(children):
                children.append({})
        values[node] = value

    units = [0] * _BLOCK
    used = bytearray(_BLOCK)
    used[0] = 1  # the root lives at index 0
    bases: set[int] = set()
    index = {0: 0}
    queue = [0]
    for node in queue:  # breadth first; the queue grows while it is walked
        labels = sorted(children[node])
        if node in values:
            labels.insert(0, 0)
        if not labels:
            continue
        base = _free_base(labels, index[node], used, bases)
        bases.add(base)
        grow = (base | (_BLOCK - 1)) + 1 - len(units)
        if grow > 0:
            units += [0] * grow
            used += bytearray(grow)
        units[index[node]] |= _offset_bits(index[node] ^ base) | (_HAS_LEAF if node in values else 0)
        if node in values:
            units[base] = _LEAF | values[node]
            used[base] = 1
        for byte, child in sorted(children[node].items()):
            index[child] = base ^ byte
            units[base ^ byte] = byte
            used[base ^ byte] = 1
            queue.append(child)
    return units


def _free_base(labels: list[int], at: int, used: bytearray, bases: set[int]) -> int:
    """The first base whose slots for ``labels`` are all free, not taken by another node, and whose offset fits."""
    slot = used.find(0, 1)
    while slot != -1:  # try to put the first label on each free slot in turn
        base = slot ^ labels[0]
        if (
            base
            and base not in bases
            and _fits(at ^ base)
            and all(base ^ label >= len(used) or not used[base ^ label] for label in labels[1:])
        ):
            return base
        slot = used.find(0, slot + 1)
    # A fresh block past the end: every slot in it is free and no base lies there yet.
    fresh = (len(used) + _BLOCK - 1) // _BLOCK * _BLOCK
    while not _fits(at ^ (fresh ^ labels[0])):
        fresh += _BLOCK
    return fresh ^ labels[0]


def _fits(offset: int) -> bool:
    return offset < (1 << 21) or (offset < (1 << 29) and offset & 0xFF == 0)


def _offset_bits(offset: int) -> int:
    if offset < (1 << 21):
        return offset << 10
    return ((offset >> 8) << 10) | _SCALED
