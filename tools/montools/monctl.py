"""monctl: send control commands to a board's control socket.

    monctl HOST[:PORT] [--token TOKEN] [--timeout S] CMD...
    monctl 192.168.1.50 'L*:debug' 'l*' 'M*:disable,memory:enable' 'm'

Sends the commands in order on one connection (with --token, 'auth TOKEN'
first) and prints each reply line on stdout; monctl's own messages go to
stderr and start with 'monctl:'. After an 'error:' reply the next
commands are still sent; after a missing reply they are not.

exit status (the highest that applies):
  0  every reply is ok or ok: ...
  1  the board refused: a reply is error: ... (that command changed nothing),
     error: unauthorized (wrong or missing --token), error: busy (too many
     clients), or --token given to a board that has no token configured
  2  no reply to act on: bad arguments or HOST[:PORT], the board cannot be
     reached, the connection was lost, or a reply did not come within
     --timeout (that command may or may not have taken effect; the rest
     are not sent)
"""

import argparse
import socket
import sys
import time

DEFAULT_PORT = 2323
# exit status, as the module docstring's table says
OK = 0
REFUSED = 1
FAILED = 2
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


class NoReply(Exception):
    """A reply did not come; ``args[0]`` says how."""


class Connection:
    """A line-oriented connection with a deadline per reply."""

    def __init__(self, host, port, timeout):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def ask(self, line, shown=None):
        """Send one command, return its reply line. Raises
        :class:`NoReply` (naming the command as ``shown``, else as itself)
        on EOF or past the timeout, OSError when the connection fails."""
        shown = repr(line) if shown is None else shown
        self.sock.sendall(line.encode() + b"\n")
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise NoReply("no reply to %s within %g s" % (shown, self.timeout))
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            if not data:
                raise NoReply("the board closed the connection before replying to %s" % shown)
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode("utf-8", "replace").rstrip("\r")

    def close(self):
        self.sock.close()


def main(argv=None):
    doc = __doc__.split("\n\n")
    ap = argparse.ArgumentParser(prog="monctl", description=doc[0], epilog=doc[-1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("target", metavar="HOST[:PORT]", help="the board (port %d by default)"
                    % DEFAULT_PORT)
    ap.add_argument("commands", metavar="CMD", nargs="+",
                    help="control commands: L... l... M... m...")
    ap.add_argument("--token", help="send 'auth TOKEN' first")
    ap.add_argument("--timeout", type=float, default=5.0,
                    help="seconds to wait for connecting and for each reply (5)")
    args = ap.parse_args(argv)  # bad arguments: argparse exits 2 (FAILED)
    try:
        host, port = parse_target(args.target)
    except ValueError:
        print("monctl: bad target: %s" % args.target, file=sys.stderr)
        return FAILED
    for c in args.commands:
        if "\n" in c or "\r" in c:
            print("monctl: a command may not contain a line break", file=sys.stderr)
            return FAILED
    where = "%s:%d" % (("[%s]" if ":" in host else "%s") % host, port)
    try:
        conn = Connection(host, port, args.timeout)
    except OSError as e:
        print("monctl: cannot connect to %s: %s" % (where, e), file=sys.stderr)
        return FAILED
    status = OK
    try:
        if args.token is not None:
            reply = conn.ask("auth " + args.token, "'auth ...'")  # the token stays unprinted
            if reply == NO_TOKEN:
                print("monctl: %s: the board has no control token configured: drop --token"
                      % where, file=sys.stderr)
                return REFUSED
            if reply != "ok":
                print(reply)
                return REFUSED
        for c in args.commands:
            reply = conn.ask(c)
            print(reply)
            if not (reply == "ok" or reply.startswith("ok: ")):
                status = REFUSED
            if reply in CLOSING:
                break  # the board closes the connection after these
    except NoReply as e:
        print("monctl: %s: %s" % (where, e.args[0]), file=sys.stderr)
        return FAILED
    except OSError as e:
        print("monctl: %s: connection lost: %s" % (where, e), file=sys.stderr)
        return FAILED
    finally:
        conn.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
