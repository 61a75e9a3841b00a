/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_dataset.c - libFuzzer target for the dataset parser (JSON array, JSON
 * Lines, CSV, TSV; include/intent/data.h).
 *
 * Input: byte 0 picks the file name (and so the format detection) and whether
 * the label set is free (training) or fixed (eval data for a trained model);
 * the rest is the file content. An accepted dataset is checked for internal
 * consistency (no raw NUL byte in the input, label ids in range, counts
 * adding up, valid non-empty UTF-8 texts) and split, and the split is
 * checked to be a partition.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "intent/data.h"

static const char *const ic_fuzz_dataset_names[8] = {
    "d.json", "d.jsonl", "d.csv", "d.tsv", "d.ndjson", "d.txt", "d.tab", "d.JSON",
};
static const char *const ic_fuzz_dataset_labels[4] = {"a", "b", "greeting", "get_weather"};

static void ic_fuzz_dataset_check(const struct ic_dataset *d, size_t len)
{
    IC_FUZZ_CHECK(d->n >= 1);
    IC_FUZZ_CHECK(d->n <= len); /* every record takes at least a byte */
    IC_FUZZ_CHECK(d->n_labels >= 1);
    size_t total = 0;
    for (int k = 0; k < d->n_labels; k++) {
        IC_FUZZ_CHECK(d->labels[k] != NULL && d->labels[k][0] != 0);
        IC_FUZZ_CHECK(d->label_counts[k] >= 0);
        total += (size_t)d->label_counts[k];
    }
    IC_FUZZ_CHECK(total == d->n);
    for (size_t i = 0; i < d->n; i++) {
        const struct ic_example *e = &d->ex[i];
        IC_FUZZ_CHECK(e->label >= 0 && e->label < d->n_labels);
        IC_FUZZ_CHECK(e->text != NULL);
        size_t n = strlen(e->text), bad;
        IC_FUZZ_CHECK(n > 0 && n <= IC_DATA_MAX_TEXT);
        IC_FUZZ_CHECK(ic_utf8_valid(e->text, n, &bad));
        IC_FUZZ_CHECK(e->record >= 1 && e->line >= 1);
        IC_FUZZ_CHECK(ic_dataset_label_id(d, d->labels[e->label]) == e->label);
    }
}

static void ic_fuzz_dataset_split_check(const struct ic_dataset *d, double frac, uint64_t seed)
{
    uint32_t *tr = NULL, *ev = NULL;
    size_t ntr = 0, nev = 0;
    struct ic_err err;
    if (ic_dataset_split(d, frac, seed, &tr, &ntr, &ev, &nev, &err) == IC_OK) {
        IC_FUZZ_CHECK(ntr + nev == d->n);
        unsigned char *seen = calloc(d->n ? d->n : 1, 1);
        IC_FUZZ_CHECK(seen != NULL);
        for (size_t i = 0; i < ntr; i++) {
            IC_FUZZ_CHECK(tr[i] < d->n && !seen[tr[i]]);
            IC_FUZZ_CHECK(i == 0 || tr[i] > tr[i - 1]);
            seen[tr[i]] = 1;
        }
        for (size_t i = 0; i < nev; i++) {
            IC_FUZZ_CHECK(ev[i] < d->n && !seen[ev[i]]);
            IC_FUZZ_CHECK(i == 0 || ev[i] > ev[i - 1]);
            seen[ev[i]] = 1;
        }
        free(seen);
    }
    ic_free(tr);
    ic_free(ev);
}

int ic_fuzz_dataset(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    const char *name = ic_fuzz_dataset_names[sel & 7];
    int fixed = (sel >> 3) & 1;
    const uint8_t *body = data + 1;
    size_t len = size - 1;

    struct ic_dataset d;
    struct ic_err err;
    memset(&d, 0, sizeof d);
    memset(&err, 0, sizeof err);
    int rc = ic_dataset_parse(&d, name, (const char *)body, len,
                              fixed ? ic_fuzz_dataset_labels : NULL, fixed ? 4 : 0,
                              fixed ? 0 : 2, &err);
    if (rc == IC_OK) {
        /* a raw NUL byte is refused in every format (texts are C strings) */
        IC_FUZZ_CHECK(memchr(body, 0, len) == NULL);
        ic_fuzz_dataset_check(&d, len);
        if (fixed)
            IC_FUZZ_CHECK(d.n_labels == 4);
        else
            IC_FUZZ_CHECK(d.n_labels >= 2);
        ic_fuzz_dataset_split_check(&d, (sel >> 4) / 15.0, sel);
    } else {
        IC_FUZZ_CHECK(err.msg[0] != 0); /* every refusal says why */
    }
    ic_dataset_free(&d);
    return 0;
}

#ifndef IC_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ic_fuzz_quiet();
    return ic_fuzz_dataset(data, size);
}
#endif
