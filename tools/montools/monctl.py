"""monctl: send control commands to a board's control socket.

    monctl HOST[:PORT] 'L*:debug' 'l*' 'M*:disable,memory:enable' 'm'

Sends each command on one connection, prints each reply line. Exit status:
0 when every reply is ``ok``/``ok: ...``, 1 when any reply is ``error:``
(or missing), 2 when the board cannot be reached.
"""

import argparse
import socket
import sys
import time

DEFAULT_PORT = 2323
# replies after which the board closes the connection
CLOSING = ("error: busy", "error: unauthorized")
# what a board without a token answers to "auth TOKEN": any unknown command
NO_TOKEN = "error: unknown command"


def parse_target(target):
    """``HOST[:PORT]`` (``[v6]:PORT`` too) -> (host, port); ValueError
    when PORT is not a number from 1 to 65535."""
    host, port = target, DEFAULT_PORT
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif target.count(":") == 1:
        host, port = target.split(":")
        port = int(port)
    if not 0 < port < 65536:
        raise ValueError("bad port: %d" % port)
    return host, port


class Connection:
    """A line-oriented connection with a deadline per reply."""

    def __init__(self, host, port, timeout):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def ask(self, line):
        """Send one command, return its reply line (None on EOF/timeout)."""
        self.sock.sendall(line.encode() + b"\n")
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                return None
            if not data:
                return None
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode("utf-8", "replace").rstrip("\r")

    def close(self):
        self.sock.close()


def main(argv=None):
    ap = argparse.ArgumentParser(prog="monctl", description=__doc__.split("\n\n")[0])
    ap.add_argument("target", metavar="HOST[:PORT]", help="the board (port %d by default)"
                    % DEFAULT_PORT)
    ap.add_argument("commands", metavar="CMD", nargs="+",
                    help="control commands: L... l... M... m...")
    ap.add_argument("--token", help="send 'auth TOKEN' first")
    ap.add_argument("--timeout", type=float, default=5.0,
                    help="seconds to wait for connecting and for each reply (5)")
    args = ap.parse_args(argv)
    try:
        host, port = parse_target(args.target)
    except ValueError:
        print("monctl: bad target: %s" % args.target, file=sys.stderr)
        return 2
    for c in args.commands:
        if "\n" in c or "\r" in c:
            print("monctl: a command may not contain a line break", file=sys.stderr)
            return 2
    where = "%s:%d" % (("[%s]" if ":" in host else "%s") % host, port)
    try:
        conn = Connection(host, port, args.timeout)
    except OSError as e:
        print("monctl: cannot connect to %s: %s" % (where, e), file=sys.stderr)
        return 2
    status = 0
    try:
        todo = list(args.commands)
        if args.token is not None:
            todo.insert(0, "auth " + args.token)
        for i, c in enumerate(todo):
            try:
                reply = conn.ask(c)
            except OSError as e:
                print("monctl: connection lost: %s" % e, file=sys.stderr)
                return 2
            if reply is None:
                print("monctl: no reply to %r" % ("auth ..." if args.token and i == 0 else c),
                      file=sys.stderr)
                return 2
            if args.token is not None and i == 0:
                if reply == NO_TOKEN:
                    print("monctl: %s: the board has no control token configured: drop --token"
                          % where, file=sys.stderr)
                    return 1
                if reply != "ok":
                    print(reply)
                    return 1
                continue
            print(reply)
            if not (reply == "ok" or reply.startswith("ok: ")):
                status = 1
            if reply in CLOSING:
                break  # the board closes the connection after these
    finally:
        conn.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
