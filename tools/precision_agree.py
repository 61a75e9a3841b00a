# SPDX-License-Identifier: Apache-2.0
"""precision_agree.py - compares `intent predict --top-k <all>` outputs of
one model at several precisions against the fp32 one, text by text.

    precision_agree.py FP32.jsonl OTHER.jsonl [OTHER.jsonl ...]
        [--labels DATA.json] [--min-agree 0.995] [--json]

Prints, per other file: texts, the share whose top intent equals fp32's,
the largest absolute difference of any intent's probability, and with
--labels (the data the texts came from, same order) the accuracy of each
against the labels and the difference from fp32's in points. Exits 1 when
an agreement is below --min-agree.
"""
import json
import sys


def read(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            probs = {t["intent"]: t["confidence"] for t in d["top_k"]}
            rows.append((d["intent"], probs))
    return rows


def labels_of(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("["):
        return [r["intent"] for r in json.loads(text)]
    return [json.loads(line)["intent"] for line in text.splitlines() if line.strip()]


def main(argv):
    files, labels, min_agree, as_json = [], None, 0.995, False
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--labels":
            labels = labels_of(argv[i + 1])
            i += 2
        elif a == "--min-agree":
            min_agree = float(argv[i + 1])
            i += 2
        elif a == "--json":
            as_json = True
            i += 1
        else:
            files.append(a)
            i += 1
    if len(files) < 2:
        sys.exit(__doc__)
    ref = read(files[0])
    acc_ref = None
    if labels is not None:
        assert len(labels) == len(ref), (len(labels), len(ref))
        acc_ref = sum(r[0] == y for r, y in zip(ref, labels)) / len(ref)
    status, out = 0, []
    for path in files[1:]:
        rows = read(path)
        assert len(rows) == len(ref), (path, len(rows), len(ref))
        same = sum(a[0] == b[0] for a, b in zip(ref, rows))
        err = max(abs(pa.get(k, 0.0) - pb.get(k, 0.0))
                  for (_, pa), (_, pb) in zip(ref, rows) for k in set(pa) | set(pb))
        r = {"file": path, "texts": len(rows), "agree": same / len(rows),
             "max_prob_error": err}
        if labels is not None:
            acc = sum(x[0] == y for x, y in zip(rows, labels)) / len(rows)
            r.update(accuracy=acc, accuracy_fp32=acc_ref,
                     accuracy_drop_points=100 * (acc_ref - acc))
        out.append(r)
        if r["agree"] < min_agree:
            status = 1
    for r in out:
        if as_json:
            print(json.dumps(r))
            continue
        line = "%s: %d texts, top intent as fp32 on %.2f%%, max probability error %.4g" % (
            r["file"], r["texts"], 100 * r["agree"], r["max_prob_error"])
        if labels is not None:
            line += ", accuracy %.2f%% (fp32 %.2f%%, drop %.2f points)" % (
                100 * r["accuracy"], 100 * r["accuracy_fp32"], r["accuracy_drop_points"])
        print(line)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
