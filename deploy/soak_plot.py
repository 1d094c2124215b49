"""Plots a soak's samples (deploy/soak.sh): one panel per measure, time
in minutes across. Usage: soak_plot.py samples.csv soak.png"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = [
    ("requests/s", ["rps"]),
    ("latency (ms)", ["p50_ms", "p99_ms"]),
    ("errors, refused", ["errors", "refused"]),
    ("memory (MiB)", ["api_rss_kb", "syncd_rss_kb", "redis_memory_bytes"]),
    ("open files; api sockets", ["api_fds", "syncd_fds", "api_redis_conns", "api_client_conns"]),
    ("write-behind", ["pending_rows", "lag_s"]),
    ("change log entries", ["change_log"]),
    ("live-feed events / sample", ["feed_events"]),
]
SCALE = {"api_rss_kb": 1 / 1024, "syncd_rss_kb": 1 / 1024, "redis_memory_bytes": 1 / 2**20}


def main(src, dst):
    with open(src, newline="") as f:
        rows = list(csv.DictReader(f))
    minutes = [int(r["t_s"]) / 60 for r in rows]
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(10, 2.2 * len(PANELS)), sharex=True)
    for ax, (title, columns) in zip(axes, PANELS):
        for c in columns:
            ax.plot(minutes, [float(r[c]) * SCALE.get(c, 1) for r in rows], label=c, linewidth=1)
        ax.set_ylabel(title, fontsize=8)
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("minutes")
    fig.suptitle("taskmaster soak")
    fig.tight_layout()
    fig.savefig(dst, dpi=100)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
