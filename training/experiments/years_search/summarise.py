"""python summarise.py -> markdown tables of results_nn.jsonl and results_peers.jsonl (val only for nn)."""
import json
import os

from common import RESULTS


def pct(r, k=""):
    return 100 * (1 - r[k or "mae"] / r[f"naive_{k}" if k else "naive"])


def main():
    print("| recipe | params | train s (years+seed) | years val | Q1 | Q2 | Q3 | Q4 | seed val |")
    print("|---|---|---|---|---|---|---|---|---|")
    for line in open(os.path.join(RESULTS, "results_nn.jsonl")):
        d = json.loads(line)
        y, s = d.get("years"), d.get("seed")
        row = [d["cfg"]["name"], str((y or s)["params"]),
               f"{(y or {}).get('secs', 0):.0f}+{(s or {}).get('secs', 0):.0f}"]
        if y:
            v = y["val"]
            row.append(f"{v['mae']:.3f} ({pct(v):+.1f}%)")
            row += [f"{v[f'q{q}']:.3f} ({pct(v, f'q{q}'):+.0f}%)" for q in range(1, 5)]
        else:
            row += ["-"] * 5
        row.append(f"{s['val']['mae']:.3f} ({pct(s['val']):+.1f}%)" if s else "-")
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
