# SPDX-License-Identifier: Apache-2.0
"""SPOP 2.0 codec for the tests (SPOE.txt section 3), Python 3 stdlib only.

An independent implementation of the wire format, so the tests do not check
the C codec against itself. Used by tests/golden/capture.py, the
integration tests and the end-to-end tests.
"""
import socket
import struct

# --------------------------------------------------------------------------
# SPOP codec (SPOE.txt section 3)
# --------------------------------------------------------------------------

FRAME_TYPES = {
    0: "UNSET",
    1: "HAPROXY-HELLO",
    2: "HAPROXY-DISCONNECT",
    3: "NOTIFY",
    101: "AGENT-HELLO",
    102: "AGENT-DISCONNECT",
    103: "ACK",
}
T_HAPROXY_HELLO, T_HAPROXY_DISCONNECT, T_NOTIFY = 1, 2, 3
T_AGENT_HELLO, T_AGENT_DISCONNECT, T_ACK = 101, 102, 103

FL_FIN, FL_ABORT = 0x1, 0x2

DATA_TYPES = {
    0: "NULL", 1: "BOOL", 2: "INT32", 3: "UINT32", 4: "INT64", 5: "UINT64",
    6: "IPV4", 7: "IPV6", 8: "STRING", 9: "BINARY",
}
D_NULL, D_BOOL, D_INT32, D_UINT32, D_INT64, D_UINT64 = 0, 1, 2, 3, 4, 5
D_IPV4, D_IPV6, D_STRING, D_BINARY = 6, 7, 8, 9
D_FL_TRUE = 0x10  # boolean value lives in the FLAGS nibble (high 4 bits)

ACTIONS = {1: "set-var", 2: "unset-var"}
SCOPES = {0: "proc", 1: "sess", 2: "txn", 3: "req", 4: "res"}
SCOPE_TXN = 2


class DecodeError(Exception):
    pass


def enc_varint(i):
    """Peers/SPOP varint of an unsigned 64-bit value."""
    if i < 0:
        i &= (1 << 64) - 1
    if i < 240:
        return bytes([i])
    out = bytearray([(i & 0xFF) | 0xF0])
    i = (i - 240) >> 4
    while i >= 128:
        out.append((i & 0xFF) | 0x80)
        i = (i - 128) >> 7
    out.append(i)
    return bytes(out)


def dec_varint(buf, pos):
    """Returns (value, new_pos). Mirrors HAProxy's decode_varint()."""
    if pos >= len(buf):
        raise DecodeError("varint: truncated at %d" % pos)
    i = buf[pos]
    pos += 1
    if i < 240:
        return i, pos
    r = 4
    while True:
        if pos >= len(buf):
            raise DecodeError("varint: truncated at %d" % pos)
        b = buf[pos]
        pos += 1
        i += b << r
        r += 7
        if b < 128:
            break
        if r > 70:
            raise DecodeError("varint: too long")
    return i, pos


def enc_str(s):
    """<LENGTH:varint><BYTES> (used for KV names, message names, var names)."""
    if isinstance(s, str):
        s = s.encode()
    return enc_varint(len(s)) + s


def dec_str(buf, pos):
    n, pos = dec_varint(buf, pos)
    if pos + n > len(buf):
        raise DecodeError("string of %d bytes overruns buffer at %d" % (n, pos))
    return bytes(buf[pos:pos + n]), pos + n


def enc_typed(tname, value):
    if tname == "NULL":
        return bytes([D_NULL])
    if tname == "BOOL":
        return bytes([D_BOOL | (D_FL_TRUE if value else 0)])
    if tname in ("INT32", "UINT32", "INT64", "UINT64"):
        code = {"INT32": D_INT32, "UINT32": D_UINT32, "INT64": D_INT64, "UINT64": D_UINT64}[tname]
        return bytes([code]) + enc_varint(value & 0xFFFFFFFFFFFFFFFF)
    if tname == "IPV4":
        return bytes([D_IPV4]) + socket.inet_pton(socket.AF_INET, value)
    if tname == "IPV6":
        return bytes([D_IPV6]) + socket.inet_pton(socket.AF_INET6, value)
    if tname == "STRING":
        return bytes([D_STRING]) + enc_str(value)
    if tname == "BINARY":
        return bytes([D_BINARY]) + enc_str(value)
    raise ValueError(tname)


def dec_typed(buf, pos):
    """Returns ((type_name, flags, value), new_pos)."""
    if pos >= len(buf):
        raise DecodeError("typed data: truncated at %d" % pos)
    b = buf[pos]
    pos += 1
    t, fl = b & 0x0F, b >> 4
    if t == D_NULL:
        return ("NULL", fl, None), pos
    if t == D_BOOL:
        return ("BOOL", fl, bool(fl & 0x1)), pos
    if t in (D_INT32, D_UINT32, D_INT64, D_UINT64):
        v, pos = dec_varint(buf, pos)
        if t in (D_INT32, D_INT64) and v >= (1 << 63):
            v -= 1 << 64  # HAProxy casts the signed value to uint64 before encoding
        return (DATA_TYPES[t], fl, v), pos
    if t == D_IPV4:
        if pos + 4 > len(buf):
            raise DecodeError("ipv4 truncated")
        return ("IPV4", fl, socket.inet_ntop(socket.AF_INET, bytes(buf[pos:pos + 4]))), pos + 4
    if t == D_IPV6:
        if pos + 16 > len(buf):
            raise DecodeError("ipv6 truncated")
        return ("IPV6", fl, socket.inet_ntop(socket.AF_INET6, bytes(buf[pos:pos + 16]))), pos + 16
    if t in (D_STRING, D_BINARY):
        s, pos = dec_str(buf, pos)
        return (DATA_TYPES[t], fl, s), pos
    raise DecodeError("unknown data type %d at %d" % (t, pos - 1))


def frame(ftype, payload, stream_id=0, frame_id=0, flags=FL_FIN):
    body = bytes([ftype]) + struct.pack(">I", flags) + enc_varint(stream_id) + enc_varint(frame_id) + payload
    return struct.pack(">I", len(body)) + body


def kv(name, tname, value):
    return enc_str(name) + enc_typed(tname, value)


def agent_hello(max_frame_size):
    return frame(T_AGENT_HELLO,
                 kv("version", "STRING", "2.0")
                 + kv("max-frame-size", "UINT32", max_frame_size)
                 + kv("capabilities", "STRING", "pipelining"))


def agent_disconnect(code=0, message="ok"):
    return frame(T_AGENT_DISCONNECT,
                 kv("status-code", "UINT32", code) + kv("message", "STRING", message))


def ack_set_var(stream_id, frame_id, name, value, scope=SCOPE_TXN):
    action = bytes([1, 3, scope]) + enc_str(name) + enc_typed("STRING", value)
    return frame(T_ACK, action, stream_id, frame_id)


def decode_frame(raw):
    """Decode one frame *with* its 4-byte length prefix. Returns a dict; each
    decoded item carries (start, end) offsets into the frame body for hex."""
    if len(raw) < 4:
        raise DecodeError("shorter than the length prefix")
    (length,) = struct.unpack(">I", raw[:4])
    body = raw[4:]
    if length != len(body):
        raise DecodeError("length prefix says %d, have %d bytes" % (length, len(body)))
    if len(body) < 5:
        raise DecodeError("frame shorter than type+flags")
    ftype = body[0]
    (flags,) = struct.unpack(">I", body[1:5])
    sid, pos = dec_varint(body, 5)
    fid, pos = dec_varint(body, pos)
    d = {"length": length, "type": ftype, "type_name": FRAME_TYPES.get(ftype, "?"),
         "flags": flags, "stream_id": sid, "frame_id": fid, "meta_end": pos, "body": body}
    if ftype in (T_HAPROXY_HELLO, T_HAPROXY_DISCONNECT, T_AGENT_HELLO, T_AGENT_DISCONNECT):
        d["payload_kind"] = "KV-LIST"
        items = []
        while pos < len(body):
            start = pos
            name, pos = dec_str(body, pos)
            val, pos = dec_typed(body, pos)
            items.append((name, val, start, pos))
        d["kv"] = items
    elif ftype == T_NOTIFY:
        d["payload_kind"] = "LIST-OF-MESSAGES"
        msgs = []
        while pos < len(body):
            start = pos
            mname, pos = dec_str(body, pos)
            nargs = body[pos]
            pos += 1
            hdr_end = pos
            args = []
            for _ in range(nargs):
                astart = pos
                aname, pos = dec_str(body, pos)
                val, pos = dec_typed(body, pos)
                args.append((aname, val, astart, pos))
            msgs.append({"name": mname, "nargs": nargs, "args": args,
                         "start": start, "hdr_end": hdr_end, "end": pos})
        d["messages"] = msgs
    elif ftype == T_ACK:
        d["payload_kind"] = "LIST-OF-ACTIONS"
        acts = []
        while pos < len(body):
            start = pos
            atype, nargs = body[pos], body[pos + 1]
            pos += 2
            a = {"type": atype, "type_name": ACTIONS.get(atype, "?"), "nargs": nargs, "start": start}
            if atype in (1, 2):
                a["scope"] = body[pos]
                pos += 1
                a["name"], pos = dec_str(body, pos)
                if atype == 1:
                    a["value"], pos = dec_typed(body, pos)
            else:
                a["unparsed"] = bytes(body[pos:])
                pos = len(body)
            a["end"] = pos
            acts.append(a)
        d["actions"] = acts
    else:
        d["payload_kind"] = "unknown"
        d["unparsed"] = bytes(body[pos:])
    return d
