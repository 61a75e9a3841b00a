/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_vocab.c - `intent vocab`: trains a WordPiece vocabulary (vocab.txt)
 * from a dataset's texts, for training a model without a pretrained
 * checkpoint. Reads the "text" field of a JSON array or JSON Lines file,
 * CSV/TSV through the dataset loader, or plain text (one text per line).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "intent/data.h"
#include "intent/ic.h"
#include "intent/tokenizer.h"

#define MAX_FILE ((size_t)1 << 30)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: intent vocab --data FILE --size N --output PATH [--type T] [--cased]\n"
            "                    [--no-prefix-space]\n\n"
            "Trains a vocabulary from the texts of FILE. The same data always gives the same\n"
            "vocabulary.\n"
            "  wordpiece (default): vocab.txt (one token per line) at PATH: [PAD] [UNK] [CLS]\n"
            "      [SEP] [MASK] first, then the characters seen, then the most frequent\n"
            "      merges, with the same normalisation as the BERT tokenizer;\n"
            "  bpe: a byte-level BPE tokenizer directory at PATH (RoBERTa layout: vocab.json,\n"
            "      merges.txt, tokenizer.json, tokenizer_config.json): <s> <pad> </s> <unk>,\n"
            "      the 256 byte characters, the most frequent merges, <mask>;\n"
            "  unigram: a SentencePiece Unigram tokenizer directory at PATH (XLM-R layout:\n"
            "      tokenizer.json, tokenizer_config.json).\n"
            "Directories load with transformers' AutoTokenizer and `intent tokenize --model`.\n\n"
            "options:\n"
            "  --data FILE     training texts: a JSON array of {\"text\": ..., ...} objects,\n"
            "                  JSON Lines with a \"text\" field, .csv/.tsv with \"text\" and\n"
            "                  \"intent\" columns, or plain text with one text per line\n"
            "  --size N        vocabulary size, specials included (5 to 4194304); fewer\n"
            "                  tokens when the data runs out of merges\n"
            "  --output PATH   vocab.txt (wordpiece) or the tokenizer directory (bpe,\n"
            "                  unigram); files written atomically\n"
            "  --type T        wordpiece (default), bpe or unigram\n"
            "  --no-prefix-space  bpe: no space before the first word (default: one, as\n"
            "                  add_prefix_space=True, so a word looks the same everywhere)\n"
            "  --cased         keep case and accents (default: lower-case, strip accents,\n"
            "                  as bert-base-uncased; use --cased with tokenize --cased)\n"
            "  -h, --help      this help\n\n"
            "Exit status: 0 ok, 1 failure (data, output), 2 usage error.\n\n"
            "example:\n"
            "  intent vocab --data train.json --size 8000 --output model/vocab.txt\n");
}

struct texts {
    char **v;
    size_t n, cap;
};

static void add_text(struct texts *t, const char *s, size_t len)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 1024;
        t->v = ic_xrealloc(t->v, t->cap * sizeof *t->v);
    }
    t->v[t->n++] = ic_xstrndup(s, len);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* JSON array, JSON Lines or plain text from buf. */
static int read_texts(const char *path, const char *buf, size_t len, struct texts *out,
                      struct ic_err *err)
{
    size_t k = 0, bad;
    if (!ic_utf8_valid(buf, len, &bad)) {
        long line = 1;
        for (size_t i = 0; i < bad; i++)
            line += buf[i] == '\n';
        return ic_errf(err, IC_ERR_FORMAT, "%s: line %ld: invalid UTF-8", path, line);
    }
    const char *nul = memchr(buf, 0, len);
    if (nul) { /* texts are kept as C strings: a NUL would cut one short */
        long line = 1;
        for (const char *c = buf; c < nul; c++)
            line += *c == '\n';
        return ic_errf(err, IC_ERR_FORMAT, "%s: line %ld: NUL byte (byte offset %zu); the file "
                       "must be UTF-8 text (not UTF-16)", path, line, (size_t)(nul - buf));
    }
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        k = 3;
    while (k < len && (buf[k] == ' ' || buf[k] == '\t' || buf[k] == '\r' || buf[k] == '\n'))
        k++;
    if (k < len && buf[k] == '[') {
        json_error_t je;
        json_t *root = json_loadb(buf + k, len - k, 0, &je);
        if (!root)
            return ic_errf(err, IC_ERR_FORMAT, "%s: line %d: %s", path, je.line, je.text);
        size_t i;
        json_t *v;
        int rc = IC_OK;
        json_array_foreach(root, i, v)
        {
            json_t *text = json_object_get(v, "text");
            if (!json_is_string(text)) {
                rc = ic_errf(err, IC_ERR_FORMAT, "%s: record %zu: no string field \"text\"", path,
                             i + 1);
                break;
            }
            add_text(out, json_string_value(text), json_string_length(text));
        }
        json_decref(root);
        return rc;
    }
    int jsonl = k < len && buf[k] == '{';
    long lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        size_t l = end - pos;
        lineno++;
        if (l > 0 && buf[pos + l - 1] == '\r')
            l--;
        if (!jsonl) {
            add_text(out, buf + pos, l);
        } else {
            size_t s = pos;
            while (s < pos + l && (buf[s] == ' ' || buf[s] == '\t'))
                s++;
            if (s < pos + l) {
                json_error_t je;
                json_t *j = json_loadb(buf + pos, l, 0, &je);
                json_t *text = j ? json_object_get(j, "text") : NULL;
                if (!json_is_string(text)) {
                    json_decref(j);
                    return ic_errf(err, IC_ERR_FORMAT, "%s: line %ld: %s", path, lineno,
                                   j ? "no string field \"text\"" : je.text);
                }
                add_text(out, json_string_value(text), json_string_length(text));
                json_decref(j);
            }
        }
        pos = end + 1;
    }
    return IC_OK;
}

/* bpe / unigram: trains and writes a tokenizer directory; exit status. */
static int train_dir(const char *type, const struct texts *tx, size_t size, int prefix,
                     const char *data, const char *output)
{
    struct ic_tokenizer t = {0};
    struct ic_err err = {0};
    int rc;
    if (strcmp(type, "bpe") == 0)
        rc = ic_vocab_train_bpe((const char *const *)tx->v, tx->n, size, prefix, &t, &err);
    else
        rc = ic_vocab_train_unigram((const char *const *)tx->v, tx->n, size, &t, &err);
    if (rc != IC_OK) {
        cli_error("vocab", "%s: %s", data, err.msg);
        return 1;
    }
    rc = ic_tokenizer_save_dir(&t, output, &err);
    if (rc == IC_OK)
        fprintf(stderr, "intent vocab: %zu texts -> %zu %s tokens in %s/\n", tx->n,
                ic_tokenizer_vocab_size(&t), type, output);
    else
        cli_error("vocab", "%s", err.msg);
    ic_tokenizer_free(&t);
    return rc == IC_OK ? 0 : 1;
}

int cmd_vocab(int argc, char **argv)
{
    const char *data = NULL, *output = NULL;
    long size = 0;
    int cased = 0, prefix = 1;
    const char *type = "wordpiece";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--data") == 0 && i + 1 < argc) {
            data = argv[++i];
        } else if (strcmp(a, "--output") == 0 && i + 1 < argc) {
            output = argv[++i];
        } else if (strcmp(a, "--size") == 0 && i + 1 < argc) {
            if (cli_parse_int("vocab", a, argv[++i], 5, IC_TOK_MAX_VOCAB, &size))
                return 2;
        } else if (strcmp(a, "--cased") == 0) {
            cased = 1;
        } else if (strcmp(a, "--no-prefix-space") == 0) {
            prefix = 0;
        } else if (strcmp(a, "--type") == 0 && i + 1 < argc) {
            type = argv[++i];
            if (strcmp(type, "wordpiece") != 0 && strcmp(type, "bpe") != 0 &&
                strcmp(type, "unigram") != 0) {
                cli_error("vocab", "--type %s: must be wordpiece, bpe or unigram", type);
                return 2;
            }
        } else {
            cli_error("vocab", "unknown option or missing value: %s (see --help)", a);
            return 2;
        }
    }
    if (!data || !output || !size) {
        cli_error("vocab", "--data, --size and --output are required (see --help)");
        return 2;
    }
    struct texts tx = {0};
    struct ic_err err = {0};
    struct ic_tokenizer t = {0};
    struct ic_buf b;
    char *buf = NULL;
    size_t len = 0;
    int status = 1;
    ic_buf_init(&b, 0);
    if (ends_with(data, ".csv") || ends_with(data, ".tsv")) {
        struct ic_dataset d;
        if (ic_dataset_load(&d, data, &err) != IC_OK) {
            cli_error("vocab", "%s", err.msg);
            goto out;
        }
        for (size_t i = 0; i < d.n; i++)
            add_text(&tx, d.ex[i].text, strlen(d.ex[i].text));
        ic_dataset_free(&d);
    } else {
        if (ic_read_file(data, MAX_FILE, &buf, &len, &err) != IC_OK ||
            read_texts(data, buf, len, &tx, &err) != IC_OK) {
            cli_error("vocab", "%s", err.msg);
            goto out;
        }
    }
    if (tx.n == 0) {
        cli_error("vocab", "%s: no texts", data);
        goto out;
    }
    if (strcmp(type, "wordpiece") != 0) {
        status = train_dir(type, &tx, (size_t)size, prefix, data, output);
        goto out;
    }
    struct ic_tokenizer_opts o;
    ic_tokenizer_default_opts(&o);
    if (cased)
        o.lowercase = 0;
    if (ic_vocab_train((const char *const *)tx.v, tx.n, (size_t)size, &o, &t, &err) != IC_OK) {
        cli_error("vocab", "%s: %s", data, err.msg);
        goto out;
    }
    if (ic_tokenizer_vocab_text(&t, &b) != IC_OK ||
        ic_write_file_atomic(output, b.data, b.len, &err) != IC_OK) {
        cli_error("vocab", "%s", err.msg[0] ? err.msg : "cannot write the vocabulary");
        goto out;
    }
    fprintf(stderr, "intent vocab: %zu texts -> %zu tokens in %s\n", tx.n,
            ic_tokenizer_vocab_size(&t), output);
    status = 0;
out:
    for (size_t i = 0; i < tx.n; i++)
        ic_free(tx.v[i]);
    ic_free(tx.v);
    ic_free(buf);
    ic_buf_free(&b);
    ic_tokenizer_free(&t);
    return status;
}
