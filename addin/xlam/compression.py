"""The MS-OVBA compression algorithm (MS-OVBA 2.4.1), used for module source and the dir stream.

``compress`` follows the published pseudocode: 4096-byte chunks, token sequences of a flag byte
and up to eight literal bytes or copy tokens, the longest match in the chunk so far (the nearest
one when several are as long), and a raw chunk when compressing would not save space. A hash of
three-byte prefixes finds the candidates; it changes the speed, never the output. Office's
own compressor picks matches differently, so the bytes differ from Office's while the data
they decompress to is the same.
"""

CHUNK_SIZE = 4096
_SIGNATURE = 0x01


class CompressionError(ValueError):
    """A compressed container that does not follow MS-OVBA 2.4.1."""


def _copy_token_help(difference: int) -> tuple[int, int]:
    """(bit count of the offset, maximum length) for a position ``difference`` into a chunk."""
    bit_count = max((difference - 1).bit_length(), 4)
    return bit_count, (0xFFFF >> bit_count) + 3


def _compress_chunk(chunk: bytes) -> bytes:
    return _with_chunk_header(chunk, _token_sequences(chunk))


def _token_sequences(chunk: bytes) -> bytearray:
    """The compressed body of one chunk: token sequences until the chunk is used up."""
    seen: dict[bytes, list[int]] = {}
    body = bytearray()
    position = 0
    while position < len(chunk):
        position = _token_sequence(chunk, position, seen, body)
    return body


def _token_sequence(
    chunk: bytes, position: int, seen: dict[bytes, list[int]], body: bytearray
) -> int:
    """A flag byte and up to eight tokens appended to ``body``; returns the position after them."""
    flag_at = len(body)
    body.append(0)
    flags = 0
    for bit in range(8):
        if position >= len(chunk):
            break
        token, step, is_copy = _next_token(chunk, position, seen)
        if is_copy:
            flags |= 1 << bit
        body += token
        _remember(chunk, position, position + step, seen)
        position += step
    body[flag_at] = flags
    return position


def _remember(chunk: bytes, start: int, stop: int, seen: dict[bytes, list[int]]) -> None:
    """Index the three-byte prefixes starting in ``start:stop`` as later match candidates."""
    for index in range(start, min(stop, len(chunk) - 2)):
        seen.setdefault(chunk[index : index + 3], []).append(index)


def _next_token(
    chunk: bytes, position: int, seen: dict[bytes, list[int]]
) -> tuple[bytes, int, bool]:
    """(token, bytes it stands for, whether it is a copy token) for the data at ``position``.

    A copy token when an earlier match of three bytes or more exists, else a literal byte.
    """
    candidates = seen.get(chunk[position : position + 3], [])
    best_length, best_candidate = _longest_match(chunk, position, candidates)
    if best_length < 3:
        return chunk[position : position + 1], 1, False
    bit_count, maximum = _copy_token_help(position)
    length = min(best_length, maximum)
    offset = position - best_candidate
    token = ((offset - 1) << (16 - bit_count)) | (length - 3)
    return token.to_bytes(2, "little"), length, True


def _longest_match(chunk: bytes, position: int, candidates: list[int]) -> tuple[int, int]:
    """(length, start) of the longest candidate match, the nearest one among equals."""
    best_length, best_candidate = 0, 0
    limit = len(chunk) - position
    for candidate in reversed(candidates):
        length = 3  # candidates share the three-byte prefix
        while length < limit and chunk[candidate + length] == chunk[position + length]:
            length += 1
        if length > best_length:
            best_length, best_candidate = length, candidate
            if length == limit:
                break
    return best_length, best_candidate


def _with_chunk_header(chunk: bytes, body: bytearray) -> bytes:
    """The compressed chunk, or the raw chunk when compressing does not save space."""
    if len(body) <= CHUNK_SIZE:
        header = 0xB000 | (len(body) + 2 - 3)
        return header.to_bytes(2, "little") + bytes(body)
    if len(chunk) < CHUNK_SIZE:
        # A raw chunk always holds 4096 bytes: the spec pads it with zeros, which would
        # change the data. Module source never gets here; refuse rather than corrupt.
        raise ValueError("a final chunk that does not compress cannot be stored exactly")
    return (0x3000 | (CHUNK_SIZE - 1)).to_bytes(2, "little") + chunk


def compress(data: bytes) -> bytes:
    """``data`` as an MS-OVBA compressed container."""
    out = bytearray([_SIGNATURE])
    for start in range(0, len(data), CHUNK_SIZE):
        out += _compress_chunk(data[start : start + CHUNK_SIZE])
    return bytes(out)


def decompress(container: bytes) -> bytes:
    """The bytes an MS-OVBA compressed container holds."""
    if not container or container[0] != _SIGNATURE:
        raise CompressionError("a compressed container starts with 0x01")
    out = bytearray()
    position = 1
    while position < len(container):
        size, compressed = _chunk_header(container, position)
        chunk_end = min(position + size, len(container))
        position += 2
        if compressed:
            _decompress_chunk(container[position:chunk_end], out)
            position = chunk_end
        else:
            out += container[position : position + CHUNK_SIZE]
            position += CHUNK_SIZE
    return bytes(out)


def _chunk_header(container: bytes, position: int) -> tuple[int, bool]:
    """(size with the header, whether compressed) of the chunk at ``position``."""
    if position + 2 > len(container):
        raise CompressionError("truncated chunk header")
    header = int.from_bytes(container[position : position + 2], "little")
    if (header >> 12) & 0b111 != 0b011:
        raise CompressionError("bad chunk signature")
    return (header & 0x0FFF) + 3, bool(header & 0x8000)


def _decompress_chunk(body: bytes, out: bytearray) -> None:
    """Append the data of one compressed chunk's token sequences to ``out``."""
    chunk_start = len(out)
    position = 0
    while position < len(body):
        flags = body[position]
        position += 1
        for bit in range(8):
            if position >= len(body):
                break
            if not flags & (1 << bit):
                out.append(body[position])
                position += 1
                continue
            if position + 2 > len(body):
                raise CompressionError("truncated copy token")
            _copy(int.from_bytes(body[position : position + 2], "little"), out, chunk_start)
            position += 2


def _copy(token: int, out: bytearray, chunk_start: int) -> None:
    """Append the earlier bytes of this chunk that a copy token stands for."""
    bit_count, _ = _copy_token_help(len(out) - chunk_start)
    length = (token & (0xFFFF >> bit_count)) + 3
    offset = (token >> (16 - bit_count)) + 1
    source = len(out) - offset
    if source < chunk_start:
        raise CompressionError("copy token points before its chunk")
    for index in range(length):
        out.append(out[source + index])
