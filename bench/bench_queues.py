"""Queue budgets: the cost of a record while the queue is full (the server
down: every record drops older ones) and of each RELP acknowledgement of a
backlog, for queues of 1 KB to 256 KB, on the Unix port from .mpy. Flat
figures are linear paths; the bytes moved are what a board's memmove pays."""

from common import report, run_mp

SIZES = (1, 16, 64, 256)


def main():
    res = run_mp("queue_bench.py", heapsize="2m")
    rows = []
    for kb in SIZES:
        rows += [
            ("record into a full %d KB syslog queue, us" % kb, res["full_log_%dk_us_per_rec" % kb],
             "us", "flat", None),
            ("  bytes allocated per record", res["full_log_%dk_alloc_per_rec" % kb], "B",
             "the formatter's 32 B", None),
            ("  every record counted (queued = dropped + left)",
             res["full_log_%dk_counted" % kb], "", "", res["full_log_%dk_counted" % kb] == 1),
            ("50 B line into a full %d KB LineQueue, us" % kb,
             res["full_append_%dk_us_per_line" % kb], "us", "flat", None),
            ("  bytes moved or written per line", res["full_append_%dk_moved_per_line" % kb],
             "B", "goal about 8 x 50", res["full_append_%dk_moved_per_line" % kb] <= 412),
            ("  bytes allocated per line", res["full_append_%dk_alloc_per_line" % kb], "B",
             "a memoryview per drop", None),
        ]
    for kb in SIZES:
        rows += [
            ("RELP answer of a %d KB backlog, us per message" % kb,
             res["relp_ack_%dk_us_per_msg" % kb], "us", "%d messages; flat"
             % res["relp_ack_%dk_msgs" % kb], res["relp_ack_%dk_ok" % kb] == 1),
            ("  bytes moved per message", res["relp_ack_%dk_moved_per_msg" % kb], "B",
             "flat", None),
        ]
    report("Queues (Unix port, .mpy)", rows)


if __name__ == "__main__":
    main()
