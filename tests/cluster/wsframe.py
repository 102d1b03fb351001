"""RFC 6455 frame pieces shared by the kubelet's WebSocket server and the API server's SPDY
tunnel: the frame header a server writes (never masked) and unmasking what a client sent."""

import struct


def header(op, n):
    """Header of one final, unmasked frame with opcode op and an n-byte payload."""
    if n < 126:
        return struct.pack(">BB", 0x80 | op, n)
    if n < 65536:
        return struct.pack(">BBH", 0x80 | op, 126, n)
    return struct.pack(">BBQ", 0x80 | op, 127, n)


def unmask(data, mask):
    """data XOR the repeated 4-byte mask, as one big-integer operation (a per-byte loop in
    Python costs ~50x more for the 32 KiB frames port-forwarding sends)."""
    n = len(data)
    if n < 64:
        return bytes(b ^ mask[i & 3] for i, b in enumerate(data))
    m = int.from_bytes((mask * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(data, "little") ^ m).to_bytes(n, "little")
