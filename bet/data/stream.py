"""A user's data file as a stream of text chunks of whole lines, never the whole file at once.

:func:`iter_chunks` yields ``(number of the chunk's first line, text)`` pairs, each text a run of
complete lines of about :data:`CHUNK_BYTES`, so a parser holds one chunk (and what it has parsed)
at a time: its peak memory is a small multiple of the file, not of the Python objects a whole
file of strings would make. On the way it

* strips a UTF-8 byte-order mark (``utf-8-sig``), which would otherwise glue itself to the first
  id, and refuses UTF-16 (a byte-order mark ``FF FE``/``FE FF``) with what to do about it;
* refuses bytes that are not UTF-8 and NUL bytes, naming the line where they start;
* reads ``\\r\\n`` and a lone ``\\r`` as line ends, so line numbers match an editor's.

Errors never quote the file's content: a data file may be someone's secrets.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

from bet.data.limits import iter_bytes
from bet.errors import DataError

CHUNK_BYTES = 1 << 20
TEXT = "UTF-8 text, one interaction record per line"
COMPRESSED = {  # the magic bytes of archives and other compressors (gzip is inflated)
    b"BZh91AY&SY": "bzip2",  # block size 9, bzip2's default; other sizes are refused as non-UTF-8 text
    b"\xfd7zXZ\x00": "xz",
    b"PK\x03\x04": "zip",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"7z\xbc\xaf": "7z",
}


def iter_chunks(path: Path, chunk: int = CHUNK_BYTES) -> Iterator[tuple[int, str]]:
    """``(first line number, text)`` for consecutive runs of whole lines of ``path`` (plain or
    gzip), each text ending in ``\\n`` except perhaps the last; a :class:`DataError` for a file
    that is empty, not UTF-8, UTF-16 or binary."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
    line, seen, first = 1, False, True
    carry: list[str] = []  # the text after the last line end so far: one long line is joined once
    for raw in iter_bytes(path, chunk):
        if first:
            _refuse_other_encodings(path, raw)
            first = False
        buffered = len(decoder.getstate()[0])
        try:
            text = decoder.decode(raw)
        except UnicodeDecodeError as exc:
            bad = line + _newlines(raw[: max(exc.start - buffered, 0)].decode("utf-8", "replace"))
            raise DataError(
                path, "is not UTF-8 text (another encoding, or a binary file)", line=bad, expected=TEXT
            ) from None
        if carry and carry[-1].endswith("\r"):  # half a "\r\n", or a lone "\r" line end
            carry[-1], text = carry[-1][:-1], "\r" + text
        text = _lines(text)
        if "\x00" in text:
            raise DataError(
                path,
                "holds NUL bytes: a binary file, not text",
                line=line + text.count("\n", 0, text.index("\x00")),
                expected=TEXT,
            )
        seen = seen or (not text.isspace() and bool(text))
        cut = text.rfind("\n") + 1  # a last lone "\r" stays in the carry: its "\n" may come next
        if not cut:
            carry.append(text)
            continue
        whole = "".join(carry) + text[:cut]
        carry = [text[cut:]]
        yield line, whole
        line += whole.count("\n")
    try:
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise DataError(
            path, "ends inside a UTF-8 character (a cut or non-UTF-8 file)", line=line, expected=TEXT
        ) from None
    last = _lines("".join(carry) + tail).replace("\r", "\n")
    seen = seen or bool(last.strip())
    if not seen:
        raise DataError(path, "is empty", expected="one interaction record per line")
    if last:
        yield line, last


def _refuse_other_encodings(path: Path, raw: bytes) -> None:
    if _utf16(raw):
        raise DataError(path, "is UTF-16 text", expected="UTF-8 text: save or convert it as UTF-8")
    for magic, kind in COMPRESSED.items():
        if raw.startswith(magic):
            raise DataError(path, f"is {kind}-compressed; only gzip is read", expected="text, or text.gz")


def _utf16(raw: bytes) -> bool:
    """Whether ``raw`` opens with a UTF-16 byte-order mark and reads as mostly ASCII UTF-16 text
    (not a binary file that happens to start with those two bytes)."""
    if raw[:2] not in (b"\xff\xfe", b"\xfe\xff"):
        return False
    try:
        text = raw[: 4096 & ~1].decode("utf-16")
    except UnicodeDecodeError:
        return False
    return sum(c.isascii() for c in text) >= 0.9 * len(text)


def _lines(text: str) -> str:
    """``\\r\\n`` and a lone ``\\r`` (not the last character: it may be half a ``\\r\\n``) as ``\\n``."""
    if "\r" not in text:
        return text
    text = text.replace("\r\n", "\n")
    if "\r" in text[:-1]:
        text = text[:-1].replace("\r", "\n") + text[-1]
    return text


def _newlines(text: str) -> int:
    return _lines(text).count("\n")


def iter_data(path: Path, skip: int = 0) -> Iterator[tuple[int, str]]:
    """:func:`iter_chunks` without the file's first ``skip`` lines (comments above the data)."""
    for start, text in iter_chunks(path):
        if start <= skip:
            pos = 0
            while start <= skip and pos < len(text):
                pos = (text.find("\n", pos) + 1) or len(text)
                start += 1
            text = text[pos:]
        if text:
            yield start, text


def data_lines(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Numbered non-blank ``lines`` without the comment lines (``#`` first) at the top."""
    first = next((k for k, (_, ln) in enumerate(lines) if not ln.lstrip().startswith("#")), len(lines))
    return lines[first:]


def head_lines(path: Path, limit_bytes: int = 1 << 20) -> list[tuple[int, str]]:
    """The non-blank lines (with their numbers) of the first chunks of ``path``, up to about
    ``limit_bytes`` of text and always whole lines."""
    out: list[tuple[int, str]] = []
    read = 0
    for start, text in iter_chunks(path, min(limit_bytes, CHUNK_BYTES)):
        out += [(start + k, ln) for k, ln in enumerate(text.split("\n")) if ln.strip()]
        read += len(text)
        if read >= limit_bytes:
            break
    return out
