/* SPDX-License-Identifier: Apache-2.0 */
/*
 * data.h - labelled intent datasets: loading, validation, label ids and the
 * stratified train/eval split.
 *
 * Formats (detected from the extension, then from the content):
 *   .json   a JSON array of objects {"text": "...", "intent": "..."}
 *           ("label" is accepted for "intent"; other fields are ignored);
 *           a .json file whose content is one object per line is JSON Lines
 *   .jsonl / .ndjson   one such object per line (blank lines skipped)
 *   .csv / .tsv        a header row naming the "text" and "intent" (or
 *           "label") columns, RFC 4180 quoting ("" inside quotes, newlines
 *           allowed in quoted fields); other columns ignored
 * A UTF-8 byte-order mark is skipped. Texts and intents are trimmed of
 * surrounding white space.
 *
 * Errors (status + one line naming the file and the record and line):
 * unreadable file, syntax error, invalid UTF-8, a record that is not an
 * object, a missing field, a field of the wrong type, an empty text or
 * intent, and, for training data, fewer than two intents. Warnings (ic_log):
 * duplicate texts, the same text with different intents, intents with a
 * single example.
 *
 * Label ids: the intents sorted by name in byte order (strcmp), so the same
 * set of intents always gets the same ids, whatever the file order.
 *
 * Limits: files up to 1 GiB, 10 million records, texts up to 64 KiB, intent
 * names up to 256 bytes, 10000 intents.
 */
#ifndef IC_DATA_H
#define IC_DATA_H

#include "intent/ic.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IC_DATA_MAX_FILE ((size_t)1 << 30)
#define IC_DATA_MAX_RECORDS 10000000
#define IC_DATA_MAX_TEXT 65536
#define IC_DATA_MAX_LABEL 256
#define IC_DATA_MAX_LABELS 10000

struct ic_example {
    char *text;     /* trimmed, valid UTF-8, owned */
    int label;      /* index into labels */
    int record;     /* 1-based record number in the file */
    int line;       /* 1-based line where the record starts */
};

struct ic_dataset {
    char *path;                 /* as given, owned */
    struct ic_example *ex;      /* n examples, file order */
    size_t n;
    char **labels;              /* n_labels names, sorted (byte order), owned */
    int n_labels;
    int *label_counts;          /* n_labels: examples per label */
    /* Facts reported as warnings at load time. */
    size_t n_duplicates;        /* records whose text (and intent) repeat an earlier one */
    size_t n_conflicts;         /* records whose text repeats an earlier one with another intent */
    int n_singletons;           /* intents with one example */
};

/* Loads training data: label set = the intents found (sorted), at least two
 * of them. d is overwritten (call ic_dataset_free after, also on failure:
 * it is left freed). */
int ic_dataset_load(struct ic_dataset *d, const char *path, struct ic_err *err) IC_WUR;

/* Loads data whose intents must all be among labels[0..n_labels) (a trained
 * model's, or the training set's): d->labels becomes a copy of labels in
 * that order, and an unknown intent is an error naming the record and the
 * intent. No minimum number of intents. */
int ic_dataset_load_with_labels(struct ic_dataset *d, const char *path,
                                const char *const *labels, int n_labels,
                                struct ic_err *err) IC_WUR;

/* Parses data from memory (name is used in messages and for format
 * detection by extension). Same rules as the loaders; labels may be NULL
 * (training) or the known label set. Used by the loaders and the fuzzers.
 * min_labels IC_DATA_UNLABELLED reads texts only (unlabelled corpora): the
 * intent field or column is optional and ignored, every example gets label
 * 0 of one empty-named label, and no duplicate warnings are given. */
#define IC_DATA_UNLABELLED (-1)
int ic_dataset_parse(struct ic_dataset *d, const char *name, const char *buf, size_t len,
                     const char *const *labels, int n_labels, int min_labels,
                     struct ic_err *err) IC_WUR;

void ic_dataset_free(struct ic_dataset *d);

/* Appends the texts of an unlabelled corpus (masked-LM pretraining) to d
 * (zeroed before the first call; every example has label 0): plain text,
 * one utterance per line (blank lines skipped); or JSON / JSON Lines /
 * CSV / TSV with a "text" field or column, intents ignored. "FILE.gz" is
 * gunzipped first; the format comes from the name without ".gz" (.txt is
 * plain text, .json/.jsonl/.ndjson/.csv/.tsv as ic_dataset_parse) or, for
 * other names, from the content (JSON when it starts with '[' or '{').
 * IC_ERR_FORMAT naming the file for a corpus with no text. A line over
 * IC_DATA_MAX_TEXT bytes is refused naming the line. */
int ic_corpus_load(struct ic_dataset *d, const char *path, struct ic_err *err) IC_WUR;

/* Index of label name, or -1. */
int ic_dataset_label_id(const struct ic_dataset *d, const char *name);

/* Stratified, seeded split of d into train and eval indices (ascending).
 * Per intent, examples are shuffled with a generator seeded by `seed`; an
 * intent with c examples gives round-to-total(eval_fraction * c) to eval,
 * and at least one to each side when c >= 2 (an intent with one example
 * stays in train). eval_fraction 0 puts everything in train. The totals are
 * allotted by largest remainder so n_eval is round(eval_fraction * n) as far
 * as the per-intent minimums allow. Caller frees both arrays with ic_free. */
int ic_dataset_split(const struct ic_dataset *d, double eval_fraction, uint64_t seed,
                     uint32_t **train_idx, size_t *n_train, uint32_t **eval_idx, size_t *n_eval,
                     struct ic_err *err) IC_WUR;

#ifdef __cplusplus
}
#endif
#endif
