"""Prometheus budgets: bytes allocated per scrape, by the encoder
alone and by a whole HTTP scrape through the server, against a naive
encoder that builds the body as one string (same registry, same run)."""

from common import report, run_mp
from peers import free_port  # host_tests/, on the path by common


def main():
    r = run_mp("prom_bench.py", args=[str(free_port())])
    report("Prometheus (Unix port; 200 families, %d B body)" % r["body_bytes"], [
        ("scrape, encoder: bytes allocated", r["scrape_alloc"], "B", "bounded, << body", None),
        ("  naive whole-body encoder, same registry", r["naive_alloc"], "B", "baseline", None),
        ("  ratio naive / streamed", r["naive_alloc"] / max(r["scrape_alloc"], 1), "x", "", None),
        ("scrape over HTTP, server side: bytes allocated", r["http_scrape_alloc"], "B",
         "bounded", None),
        ("response bytes per scrape", r["http_response_bytes"], "B", "", None),
        ("encode time per scrape", r["scrape_us"], "us", "", None),
        ("  naive encoder", r["naive_us"], "us", "baseline", None),
    ])


if __name__ == "__main__":
    main()
