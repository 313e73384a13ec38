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
    end = len(chunk)
    seen: dict[bytes, list[int]] = {}
    body = bytearray()
    position = 0

    def remember(start: int, stop: int) -> None:
        for index in range(start, min(stop, end - 2)):
            seen.setdefault(chunk[index : index + 3], []).append(index)

    while position < end:
        flag_at = len(body)
        body.append(0)
        flags = 0
        for bit in range(8):
            if position >= end:
                break
            best_length, best_candidate = 0, 0
            limit = end - position
            for candidate in reversed(seen.get(chunk[position : position + 3], ())):
                length = 3
                while length < limit and chunk[candidate + length] == chunk[position + length]:
                    length += 1
                if length > best_length:
                    best_length, best_candidate = length, candidate
                    if length == limit:
                        break
            if best_length >= 3:
                bit_count, maximum = _copy_token_help(position)
                length = min(best_length, maximum)
                offset = position - best_candidate
                token = ((offset - 1) << (16 - bit_count)) | (length - 3)
                body += token.to_bytes(2, "little")
                flags |= 1 << bit
                remember(position, position + length)
                position += length
            else:
                body.append(chunk[position])
                remember(position, position + 1)
                position += 1
        body[flag_at] = flags
    if len(body) > CHUNK_SIZE:
        if end < CHUNK_SIZE:
            # A raw chunk always holds 4096 bytes: the spec pads it with zeros, which would
            # change the data. Module source never gets here; refuse rather than corrupt.
            raise ValueError("a final chunk that does not compress cannot be stored exactly")
        return (0x3000 | (CHUNK_SIZE - 1)).to_bytes(2, "little") + chunk
    header = 0xB000 | (len(body) + 2 - 3)
    return header.to_bytes(2, "little") + bytes(body)


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
        if position + 2 > len(container):
            raise CompressionError("truncated chunk header")
        header = int.from_bytes(container[position : position + 2], "little")
        size = (header & 0x0FFF) + 3
        if (header >> 12) & 0b111 != 0b011:
            raise CompressionError("bad chunk signature")
        chunk_end = min(position + size, len(container))
        position += 2
        chunk_start = len(out)
        if not header & 0x8000:
            out += container[position : position + CHUNK_SIZE]
            position += CHUNK_SIZE
            continue
        while position < chunk_end:
            flags = container[position]
            position += 1
            for bit in range(8):
                if position >= chunk_end:
                    break
                if not flags & (1 << bit):
                    out.append(container[position])
                    position += 1
                    continue
                if position + 2 > chunk_end:
                    raise CompressionError("truncated copy token")
                token = int.from_bytes(container[position : position + 2], "little")
                position += 2
                bit_count, _ = _copy_token_help(len(out) - chunk_start)
                length = (token & (0xFFFF >> bit_count)) + 3
                offset = (token >> (16 - bit_count)) + 1
                source = len(out) - offset
                if source < chunk_start:
                    raise CompressionError("copy token points before its chunk")
                for index in range(length):
                    out.append(out[source + index])
    return bytes(out)
