#!/usr/bin/env python3
"""Pomelo clients over TLS with Python's ssl module, for the TLS tests.

    tls_client.py pomelo PORT CAFILE [N]   Pomelo over TLS: handshake, N entry requests
    tls_client.py wss PORT CAFILE [N]      the same over wss (HTTP upgrade, binary frames)
    tls_client.py hold PORT CAFILE SECONDS Pomelo over TLS, a request every 50 ms until
                                           SECONDS have passed (across a reload)
    tls_client.py alert PORT CAFILE        a ClientHello, then a fatal alert
    tls_client.py truncated PORT CAFILE    half a ClientHello, then FIN
    tls_client.py records PORT CAFILE N SIZE [tls12]
                                           log in to the chat, send N messages of SIZE
                                           bytes with the ciphertext dribbled in small
                                           pieces, read each one's push and answer
    tls_client.py whoami PORT CAFILE HEX   HEX (a PROXY header) in plaintext, then Pomelo over
                                           TLS asking connector.testHandler.whoami
    tls_client.py corrupt PORT CAFILE      a request record with a damaged tag
    tls_client.py overflow PORT CAFILE     a record header longer than TLS allows

Each prints one JSON object: the TLS version, the ALPN protocol, the
certificate's common name, and the answers (or the error)."""
import json
import os
import random
import socket
import ssl
import struct
import sys
import time

ROUTE = b"connector.entryHandler.entry"


def context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def package(kind, body=b""):
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def request(i):
    # flag: request (type 0), route as a string
    return package(4, bytes([0]) + varint(i) + bytes([len(ROUTE)]) + ROUTE + b"{}")


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


class Packages:
    """Reads Pomelo packages from a byte source (TLS socket or WebSocket)."""

    def __init__(self, read):
        self.read = read
        self.buf = b""

    def next(self):
        while len(self.buf) < 4 or len(self.buf) < 4 + int.from_bytes(self.buf[1:4], "big"):
            chunk = self.read()
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk
        n = int.from_bytes(self.buf[1:4], "big")
        kind, body = self.buf[0], self.buf[4:4 + n]
        self.buf = self.buf[4 + n:]
        return kind, body


def response_body(body):
    # type 2 (response), then the id's varint, then JSON
    i = 1
    while body[i] & 0x80:
        i += 1
    return json.loads(body[i + 1:])


def websocket(sock):
    """Upgrades `sock`; returns (send, read) over binary frames."""
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    sock.sendall(("GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise EOFError("closed during the upgrade")
        head += chunk
    status, rest = head.split(b"\r\n", 1)[0], head.split(b"\r\n\r\n", 1)[1]
    if b" 101 " not in status:
        raise RuntimeError(status.decode())
    pending = [rest]

    def send(data):
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x82]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
        sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    frames = b""

    def read():
        nonlocal frames
        if pending:
            frames += pending.pop()
        while True:
            if len(frames) >= 2:
                n = frames[1] & 0x7F
                at = 2
                if n == 126:
                    n, at = struct.unpack(">H", frames[2:4])[0], 4
                elif n == 127:
                    n, at = struct.unpack(">Q", frames[2:10])[0], 10
                if len(frames) >= at + n:
                    payload, frames = frames[at:at + n], frames[at + n:]
                    return payload
            chunk = sock.recv(65536)
            if not chunk:
                return b""
            frames += chunk

    return send, read


def session(transport, port, cafile, before=b""):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(before)
    tls = context(cafile).wrap_socket(sock, server_hostname="localhost")
    info = {"version": tls.version(), "alpn": tls.selected_alpn_protocol(),
            "cn": dict(x[0] for x in tls.getpeercert()["subject"])["commonName"]}
    if transport == "wss":
        send, read = websocket(tls)
    else:
        send, read = tls.sendall, lambda: tls.recv(65536)
    packages = Packages(read)
    send(package(1, json.dumps({"sys": {"type": "tls-test", "version": "0.1"}, "user": {}}).encode()))
    kind, body = packages.next()
    info["handshake"] = json.loads(body)["code"] if kind == 1 else None
    send(package(2))
    return tls, send, packages, info


def answer(send, packages, i):
    send(request(i))
    while True:
        kind, body = packages.next()
        if kind == 4:
            return response_body(body)


def client_hello(cafile):
    """The bytes of a real ClientHello (Python's, through memory BIOs)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context(cafile).wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


class BioTLS:
    """TLS through memory BIOs, so that the test decides how the ciphertext
    reaches the socket (in dribbles, damaged)."""

    def __init__(self, port, cafile, tls12=False):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ctx = context(cafile)
        if tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.sock.sendall(self.outgoing.read())
                self.fill()
        self.sock.sendall(self.outgoing.read())
        self.rng = random.Random(7)

    def fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("closed")
        self.incoming.write(chunk)

    def ciphertext(self, data):
        self.tls.write(data)
        return self.outgoing.read()

    def send(self, data, dribble=False):
        out = self.ciphertext(data)
        if not dribble:
            self.sock.sendall(out)
            return
        # Pieces of 1 to 1400 bytes, apart: the server's reads end inside
        # record headers and bodies.
        while out:
            n = self.rng.randint(1, 1400)
            self.sock.sendall(out[:n])
            out = out[n:]
            time.sleep(0.0005)

    def read(self):
        while True:
            try:
                return self.tls.read(65536)
            except ssl.SSLWantReadError:
                self.fill()


def message(body):
    """A Pomelo message's type, route (None for a response) and JSON body."""
    flag = body[0]
    kind, at = (flag >> 1) & 7, 1
    route = None
    if kind == 2:
        while body[at] & 0x80:
            at += 1
        at += 1
    elif kind == 3:
        if flag & 1:
            route, at = body[at:at + 2], at + 2
        else:
            n = body[at]
            route, at = body[at + 1:at + 1 + n].decode(), at + 1 + n
    return kind, route, json.loads(body[at:])


def records(port, cafile, count, size, tls12):
    conn = BioTLS(port, cafile, tls12)
    result = {"version": conn.tls.version(), "cipher": conn.tls.cipher()[0]}
    packages = Packages(conn.read)
    conn.send(package(1, json.dumps({"sys": {"type": "tls-test", "version": "0.1"}, "user": {}}).encode()))
    packages.next()
    conn.send(package(2))
    login = json.dumps({"uid": "dribbler", "rid": "records"}).encode()
    route = b"connector.entryHandler.login"
    conn.send(package(4, bytes([0]) + varint(1) + bytes([len(route)]) + route + login))
    answers, echoed = [], 0
    while not answers:
        kind, body = packages.next()
        if kind == 4 and message(body)[0] == 2:
            answers.append(message(body)[2].get("code"))
    route = b"chat.chatHandler.send"
    for i in range(count):
        content = "".join(random.Random(i).choice("abcdefghij") for _ in range(size))
        body = json.dumps({"content": content, "target": "*"}).encode()
        conn.send(package(4, bytes([0]) + varint(i + 2) + bytes([len(route)]) + route + body), dribble=True)
        got_answer = got_push = False
        while not (got_answer and got_push):
            kind, body = packages.next()
            if kind != 4:
                continue
            kind, _, value = message(body)
            if kind == 2:
                answers.append(value.get("code"))
                got_answer = True
            elif kind == 3 and value.get("from") == "dribbler":
                echoed += value.get("msg") == content
                got_push = True
    result["answers"], result["echoed"] = answers, echoed
    conn.sock.close()
    return result


def damaged(port, cafile, mode):
    conn = BioTLS(port, cafile)
    out = bytearray(conn.ciphertext(request(1)))
    if mode == "corrupt":
        out[-1] ^= 0x01
    else:
        out = bytearray([0x17, 0x03, 0x03, 0xFF, 0xFF]) + bytes(64)
    conn.sock.sendall(out)
    try:
        while conn.read():
            pass
        return {"closed": True}
    except (ssl.SSLError, EOFError) as e:
        return {"closed": True, "alert": str(e)}


def main():
    mode, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    result = {}
    try:
        if mode in ("pomelo", "wss"):
            n = int(sys.argv[4]) if len(sys.argv) > 4 else 1
            tls, send, packages, result = session(mode, port, cafile)
            result["answers"] = [answer(send, packages, i + 1) for i in range(n)]
            tls.close()
        elif mode == "hold":
            seconds = float(sys.argv[4])
            tls, send, packages, result = session("pomelo", port, cafile)
            ok, i, end = 0, 0, time.time() + seconds
            while time.time() < end:
                i += 1
                if answer(send, packages, i).get("code") == 200:
                    ok += 1
                time.sleep(0.05)
            result["answered"], result["sent"] = ok, i
            tls.close()
        elif mode == "whoami":
            tls, send, packages, result = session("pomelo", port, cafile, bytes.fromhex(sys.argv[4]))
            route = b"connector.testHandler.whoami"
            send(package(4, bytes([0]) + varint(1) + bytes([len(route)]) + route + b"{}"))
            while True:
                kind, body = packages.next()
                if kind == 4:
                    result["answer"] = response_body(body)
                    break
            tls.close()
        elif mode == "records":
            result = records(port, cafile, int(sys.argv[4]), int(sys.argv[5]), "tls12" in sys.argv[6:])
        elif mode in ("corrupt", "overflow"):
            result = damaged(port, cafile, mode)
        elif mode in ("alert", "truncated"):
            hello = client_hello(cafile)
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if mode == "alert":
                sock.sendall(hello + bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]))
            else:
                sock.sendall(hello[:len(hello) // 2])
                sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
            result["closed"] = True
    except Exception as e:  # reported, the test decides
        result["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
