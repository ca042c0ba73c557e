"""Clustering side by side (scripts/bench_clustering.sh runs this in the tools venv).

Every method runs in its own child process, so its peak memory is its own (the child's
ru_maxrss; for `igny8` a small wrapper process reports its one child's) and a tool that
runs out of memory fails alone: the Python tools run under an address-space cap
(--mem-gb), never taking the machine down.

Timing: `igny8 cluster` is timed from outside (process start to exit: reading the file,
opening the store, clustering, writing the CSV). The Python tools are timed inside
their process, from the texts in memory to the labels (vectorising included, the
interpreter's start and imports excluded) — the figure most favourable to them.

Data: BANKING77's test split (3,080 queries, 77 intents), whitespace collapsed and cut
at 200 characters (the keyword importer's limit; 30 queries are longer), the same
texts for every method; and a synthetic keyword set made here (our own generator with
a fixed seed, not the Rust example's: keywords are prefix + attribute + topic head +
suffix, the head being the topic label).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# -- data ------------------------------------------------------------------------------


class SplitMix64:
    """A small seeded generator: the same keywords on every machine and Python."""

    def __init__(self, seed: int) -> None:
        self.state = seed & 0xFFFFFFFFFFFFFFFF

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        return self.next() % n

    def unit(self) -> float:
        return (self.next() >> 11) / float(1 << 53)


HEADS = [
    "running shoes", "hiking boots", "yoga mat", "road bike", "mountain bike", "tennis racket",
    "golf clubs", "camping tent", "sleeping bag", "backpack", "rain jacket", "ski goggles",
    "espresso machine", "coffee grinder", "air fryer", "slow cooker", "stand mixer", "blender",
    "chef knife", "cast iron skillet", "rice cooker", "water filter", "dishwasher", "microwave",
    "dog food", "cat litter", "bird feeder", "fish tank", "dog bed", "cat tree",
    "laptop", "gaming mouse", "mechanical keyboard", "monitor", "webcam", "wireless earbuds",
    "smart watch", "phone case", "power bank", "usb hub", "external hard drive", "router",
    "baby stroller", "car seat", "crib mattress", "diaper bag", "baby monitor", "high chair",
    "face serum", "sunscreen", "shampoo", "hair dryer", "electric toothbrush", "beard trimmer",
    "office chair", "standing desk", "bookshelf", "sofa bed", "memory foam pillow", "duvet",
    "garden hose", "lawn mower", "leaf blower", "pressure washer", "pruning shears", "compost bin",
    "resume template", "cover letter", "job interview", "mortgage rates", "credit card",
    "savings account", "stock trading app", "tax software", "solar panels", "heat pump",
    "roof repair", "kitchen remodel", "bathroom tiles", "paint colors", "wood flooring",
]
ATTRS = [
    "", "", "", "waterproof", "lightweight", "cheap", "premium", "organic", "portable", "small",
    "large", "quiet", "budget", "professional", "compact", "eco friendly", "durable", "kids",
    "beginner", "used", "refurbished", "luxury", "simple", "easy", "healthy", "fast", "digital",
    "classic",
]
PREFIXES = [
    "", "", "", "best", "buy", "how to choose", "how to clean", "top", "affordable",
    "what is the best", "where to buy", "cheapest", "review", "compare", "how to use",
    "guide to", "why use",
]
SUFFIXES = [
    "", "", "", "for women", "for men", "near me", "2026", "reviews", "price", "sale", "online",
    "uk", "for beginners", "guide", "ideas", "brands", "vs alternatives", "deals",
    "with warranty", "for home", "for travel", "under 100", "tips", "problems", "comparison",
    "login",
]


def synthetic(n: int, seed: int = 0x5EED_0000) -> tuple[list[str], list[int], list[int]]:
    """n distinct keywords, their topic labels and heavy-tailed volumes."""
    rng = SplitMix64(seed + n)
    texts: list[str] = []
    labels: list[int] = []
    volumes: list[int] = []
    seen: set[str] = set()
    while len(texts) < n:
        h = rng.below(len(HEADS))
        parts = [
            PREFIXES[rng.below(len(PREFIXES))],
            ATTRS[rng.below(len(ATTRS))],
            HEADS[h],
            SUFFIXES[rng.below(len(SUFFIXES))],
        ]
        u = max(rng.unit(), 1e-6)
        text = " ".join(p for p in parts if p)
        if text in seen:
            # The template space (~14 M) is far larger than n: a repeat is rare; a
            # serial suffix keeps the topic and makes the keyword new.
            text = f"{text} {len(texts)}"
        seen.add(text)
        texts.append(text)
        labels.append(h)
        volumes.append(int(min(10.0 / u**0.9, 1_000_000.0)))
    return texts, labels, volumes


def banking(path: Path) -> tuple[list[str], list[int], list[int]]:
    texts, labels, names = [], [], {}
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            text = " ".join(row["text"].split())
            if len(text) > 200:
                text = text[:200].rsplit(" ", 1)[0]
            texts.append(text)
            labels.append(names.setdefault(row["category"], len(names)))
    return texts, labels, [0] * len(texts)


# -- children --------------------------------------------------------------------------


def cap_memory(gb: float):
    limit = int(gb * (1 << 30))

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def child(args: list[str], timeout: float, mem_gb: float | None = None) -> dict:
    """Runs this script as a child (`wrap` or `tool`) and reads its JSON report."""
    cmd = [sys.executable, os.path.abspath(__file__), *args]
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=cap_memory(mem_gb) if mem_gb else None,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        if "MemoryError" in done.stderr or "Unable to allocate" in done.stderr:
            tail = f"out of memory under the {mem_gb:g} GB cap ({tail[:120]})"
        return {"error": tail}
    return json.loads(done.stdout.strip().splitlines()[-1])


def wrap(argv: list[str]) -> None:
    """`wrap CMD…`: runs one command, reports its wall time, peak RSS and stderr."""
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({
        "seconds": seconds,
        "rss_mb": rss_kb / 1024,
        "returncode": done.returncode,
        "stdout": done.stdout,
        "stderr": done.stderr,
    }))


def tool(method: str, texts_file: str, param: str) -> None:
    """`tool METHOD FILE PARAM`: one Python method on the texts (one per line)."""
    texts = Path(texts_file).read_text(encoding="utf-8").split("\n")
    # Imported before the clock starts: the interpreter's and the libraries' start is
    # not counted against them.
    from polyfuzz import PolyFuzz
    from polyfuzz.models import TFIDF
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.feature_extraction.text import TfidfVectorizer

    start = time.perf_counter()
    if method.startswith("sklearn"):
        x = TfidfVectorizer().fit_transform(texts).toarray()
        if method == "sklearn-k":
            model = AgglomerativeClustering(n_clusters=int(param), metric="cosine", linkage="average")
        else:
            model = AgglomerativeClustering(
                n_clusters=None, distance_threshold=float(param), metric="cosine", linkage="average"
            )
        labels = [int(v) for v in model.fit_predict(x)]
    elif method == "polyfuzz":
        model = PolyFuzz(TFIDF(n_gram_range=(3, 3), min_similarity=float(param), cosine_method="knn"))
        model.match(texts)
        model.group(link_min_similarity=float(param))
        groups = model.get_matches()
        by_text = {}
        for frm, group in zip(groups["From"], groups["Group"]):
            if isinstance(group, str) and group:
                by_text[frm] = group
        names: dict[str, int] = {}
        labels = []
        for t in texts:
            key = by_text.get(t, f"\x00{t}")
            labels.append(names.setdefault(key, len(names)))
    else:
        raise SystemExit(f"unknown method {method}")
    seconds = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb, "labels": labels}))


# -- the bench -------------------------------------------------------------------------


def scores(truth: list[int], pred: list[int]) -> dict:
    from sklearn.metrics import adjusted_rand_score, homogeneity_completeness_v_measure

    h, c, v = homogeneity_completeness_v_measure(truth, pred)
    return {"v": v, "h": h, "c": c, "ari": adjusted_rand_score(truth, pred), "k": len(set(pred))}


def ours(binary: str, mode: str, texts: list[str], volumes: list[int], work: Path, data_dir: Path) -> dict:
    """`igny8 cluster` on the texts as a keyword file; labels by keyword."""
    src = work / "in.csv"
    out = work / f"out-{mode}.csv"
    with src.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Keyword", "Volume"])
        w.writerows(zip(texts, volumes))
    cmd = [binary, "--data-dir", str(data_dir), "cluster", "--in", str(src), "--mode", mode,
           "--out", str(out), "--json"]
    r = child(["wrap", *cmd], timeout=3600)
    if "error" in r:
        return r
    if r["returncode"] != 0:
        return {"error": (r["stderr"].strip().splitlines() or ["failed"])[-1]}
    doc = json.loads(r["stdout"])
    cluster_of: dict[str, int] = {}
    with out.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            cluster_of[row["keyword"]] = int(row["cluster_id"]) if row["cluster_id"] else -len(cluster_of) - 1
    labels = [cluster_of[t] for t in texts]
    return {"seconds": r["seconds"], "rss_mb": r["rss_mb"], "labels": labels, "doc": doc}


def python_tool(method: str, param: str, texts: list[str], work: Path, mem_gb: float, timeout: float) -> dict:
    f = work / f"texts-{len(texts)}.txt"
    f.write_text("\n".join(texts), encoding="utf-8")
    return child(["tool", method, str(f), param], timeout=timeout, mem_gb=mem_gb)


class Table:
    def __init__(self) -> None:
        self.rows: list[str] = []
        self.results: dict[tuple[str, str], dict] = {}

    def add(self, data: str, method: str, truth: list[int] | None, r: dict, note: str = "",
            ref: tuple[str, str] | None = None) -> None:
        self.results[(data, method)] = r
        if "error" in r:
            error = r["error"] if len(r["error"]) <= 120 else r["error"][:117] + "..."
            self.rows.append(f"| {data} | {method} | | | | | | | | | {note + '; ' if note else ''}{error} |")
            print(f"{data:<22} {method:<44} ERROR {r['error']}", file=sys.stderr)
            return
        s = scores(truth, r["labels"]) if truth is not None else None
        r["scores"] = s
        ratio = ""
        if ref is not None:
            theirs = self.results.get(ref, {})
            if "seconds" in theirs:
                ratio = f"{r['seconds'] / theirs['seconds']:.3f}"
        cells = [f"{s['v']:.3f}", f"{s['h']:.3f}", f"{s['c']:.3f}", f"{s['ari']:.3f}", f"{s['k']:,}"] if s else [""] * 5
        self.rows.append(
            f"| {data} | {method} | {' | '.join(cells)} | {r['seconds']:.2f} | {r['rss_mb']:,.0f} | {ratio} | {note} |"
        )
        print(f"{data:<22} {method:<44} V={cells[0]} k={cells[4]} {r['seconds']:.2f}s {r['rss_mb']:.0f}MB {note}",
              file=sys.stderr)

    def markdown(self) -> str:
        head = (
            "| data | method | V-measure | homogeneity | completeness | ARI | clusters | seconds | peak MB | ours / theirs | notes |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|"
        )
        return head + "\n" + "\n".join(self.rows)


def bench(a: argparse.Namespace) -> None:
    t = Table()
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="igny8-bench-") as tmp:
        work = Path(tmp)
        # BANKING77.
        texts, truth, volumes = banking(Path(a.banking))
        k = len(set(truth))
        d = "BANKING77 test"
        t.add(d, f"scikit-learn TF-IDF + average/cosine, k={k}", truth,
              python_tool("sklearn-k", str(k), texts, work, a.mem_gb, 1800))
        best = None
        for thr in (0.5, 0.6, 0.7, 0.8, 0.9):
            r = python_tool("sklearn-threshold", str(thr), texts, work, a.mem_gb, 1800)
            if "error" not in r:
                v = scores(truth, r["labels"])["v"]
                if best is None or v > best[0]:
                    best = (v, thr, r)
        thr = best[1] if best else 0.9
        t.add(d, f"scikit-learn, distance_threshold={thr} (best V of 0.5-0.9)", truth,
              best[2] if best else {"error": "every threshold failed"})
        t.add(d, "PolyFuzz TF-IDF (char 3-grams, min_similarity 0.75)", truth,
              python_tool("polyfuzz", "0.75", texts, work, a.mem_gb, 1800))
        sk_k = (d, f"scikit-learn TF-IDF + average/cosine, k={k}")
        t.add(d, "igny8 cluster --mode lexical", truth, ours(a.bin, "lexical", texts, volumes, work, work / "lex"),
              ref=sk_k)
        sem_dir = work / "sem"
        cold = ours(a.bin, "semantic", texts, volumes, work, sem_dir)
        rate = None
        if "error" not in cold:
            rate = len(texts) / cold["seconds"]
            note = f"cold: {cold['doc']['embedded']:,} embedded, {rate:.0f} keywords/s end to end"
        else:
            note = "cold"
        t.add(d, "igny8 cluster --mode semantic (embeds)", truth, cold, note=note, ref=sk_k)
        warm = ours(a.bin, "semantic", texts, volumes, work, sem_dir)
        t.add(d, "igny8 cluster --mode semantic (embeddings cached)", truth, warm,
              note=f"{warm.get('doc', {}).get('cached', 0):,} from the cache", ref=sk_k)

        # Synthetic.
        texts, truth, volumes = synthetic(a.n)
        d = f"synthetic {a.n:,}"
        lex = ours(a.bin, "lexical", texts, volumes, work, work / "lex100k")
        t.add(d, "igny8 cluster --mode lexical", truth, lex)
        if rate is not None and a.n / rate < 600:
            t.add(d, "igny8 cluster --mode semantic", truth, ours(a.bin, "semantic", texts, volumes, work,
                                                                  work / "sem100k"))
        else:
            n_sem = min(10_000, a.n)
            why = f"at {rate:.0f} keywords/s, {a.n:,} would take over 10 min" if rate else "semantic failed above"
            notes.append(f"Semantic on the synthetic set ran on its first {n_sem:,} keywords: {why}.")
            t.add(f"synthetic first {n_sem:,}", "igny8 cluster --mode semantic", truth[:n_sem],
                  ours(a.bin, "semantic", texts[:n_sem], volumes[:n_sem], work, work / "sem10k"))
        pf_n = min(a.pf_n, a.n)
        pf_data = d if pf_n == a.n else f"synthetic first {pf_n:,}"
        pf = python_tool("polyfuzz", "0.75", texts[:pf_n], work, a.mem_gb, 3600)
        t.add(pf_data, "PolyFuzz TF-IDF (char 3-grams, min_similarity 0.75)", truth[:pf_n], pf)
        if pf_n < a.n and "error" not in pf:
            f = (a.n / pf_n) ** 2
            notes.append(
                f"PolyFuzz without sparse_dot_topn matches by brute-force nearest neighbours (all pairs, chunked): "
                f"{a.n:,} keywords would take ≈ {pf['seconds'] * f / 60:,.0f} min extrapolated quadratically from "
                f"its {pf_n:,}-keyword run ({pf['seconds']:.1f} s, {pf['rss_mb']:,.0f} MB); "
                f"IGNY8_BENCH_PF_N={a.n} runs it whole."
            )
        k_syn = len(set(truth))
        largest = None
        for n in a.sk_sizes:
            if n > a.n:
                continue
            sub = f"synthetic first {n:,}"
            r = python_tool("sklearn-k", str(k_syn), texts[:n], work, a.mem_gb, 1800)
            t.add(sub, f"scikit-learn TF-IDF + average/cosine, k={k_syn}", truth[:n], r)
            if "error" in r:
                break
            t.add(sub, f"scikit-learn, distance_threshold={thr}", truth[:n],
                  python_tool("sklearn-threshold", str(thr), texts[:n], work, a.mem_gb, 1800))
            t.add(sub, "igny8 cluster --mode lexical", truth[:n],
                  ours(a.bin, "lexical", texts[:n], volumes[:n], work, work / f"lex{n}"),
                  ref=(sub, f"scikit-learn TF-IDF + average/cosine, k={k_syn}"))
            largest = (n, r)
        if largest:
            n, r = largest
            f = (a.n / n) ** 2
            notes.append(
                f"scikit-learn's average linkage needs the n×n distance matrix: {a.n:,} keywords would need "
                f"≈ {r['rss_mb'] * f / 1024:,.0f} GB and ≈ {r['seconds'] * f / 60:,.0f} min extrapolated "
                f"quadratically from its {n:,}-keyword run ({r['rss_mb']:,.0f} MB, {r['seconds']:.1f} s); it ran "
                f"only on subsets under a {a.mem_gb:g} GB address-space cap."
            )
        if "error" not in lex and largest:
            n, r = largest
            ext = r["seconds"] * (a.n / n) ** 2
            notes.append(f"Ours / scikit-learn at {a.n:,} (theirs extrapolated): {lex['seconds'] / ext:.5f}.")

    uname = platform.uname()
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    header = (
        f"Measured {datetime.date.today().isoformat()} on {uname.system} {uname.machine}, {os.cpu_count()} cores"
        f"{' (' + cpu + ')' if cpu else ''}, load average {load[0]:.1f} at the end; "
        f"Python {platform.python_version()}."
    )
    out = header + "\n\n" + t.markdown() + ("\n\n" + "\n".join(f"- {n}" for n in notes) if notes else "") + "\n"
    print(out)
    if a.out:
        Path(a.out).write_text(out, encoding="utf-8")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "wrap":
        wrap(sys.argv[2:])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "tool":
        tool(*sys.argv[2:5])
        return
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bin", required=True)
    p.add_argument("--banking", required=True)
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--sk-sizes", type=lambda s: [int(x) for x in s.split(",") if x], default=[5000, 10000, 20000])
    p.add_argument("--mem-gb", type=float, default=8.0)
    p.add_argument("--pf-n", type=int, default=20_000)
    p.add_argument("--out")
    bench(p.parse_args())


if __name__ == "__main__":
    main()
