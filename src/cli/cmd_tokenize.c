/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_tokenize.c - `intent tokenize`: runs the BERT WordPiece tokenizer over
 * stdin, one text per line (or one JSON object per line with a "text"
 * field), printing one JSON object per text with tokens, ids and
 * attention_mask, as Hugging Face's tokenizer(text) would give them.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/lines.h"
#include "intent/ic.h"
#include "intent/tokenizer.h"

#define MAX_LINE ((size_t)16 << 20)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: intent tokenize (--vocab FILE | --model DIR) [--cased] [--max-length N]\n"
            "                       [--json-input]\n\n"
            "Reads texts from stdin, one per line, and prints one JSON object per text:\n"
            "  {\"tokens\": [...], \"ids\": [...], \"attention_mask\": [...]}\n"
            "with the start and end tokens included ([CLS] ... [SEP], <s> ... </s>), exactly\n"
            "as Hugging Face's tokenizer (AutoTokenizer, the Rust `tokenizers`) encodes the\n"
            "text: BERT WordPiece, byte-level BPE (RoBERTa) or SentencePiece Unigram (XLM-R).\n\n"
            "options:\n"
            "  --vocab FILE     WordPiece vocabulary (vocab.txt, one token per line);\n"
            "                   uncased (bert-base-uncased) behaviour unless --cased\n"
            "  --model DIR      load the tokenizer of a model directory instead: tokenizer.json\n"
            "                   (any of the three), else vocab.txt (WordPiece) or vocab.json +\n"
            "                   merges.txt (RoBERTa), plus tokenizer_config.json\n"
            "  --cased          no lower-casing and no accent stripping (with --vocab)\n"
            "  --max-length N   truncate to N ids (N >= 2, the end token kept) and pad with\n"
            "                   the pad token ([PAD], <pad>) to exactly N,\n"
            "                   as padding=\"max_length\", truncation=True; attention_mask is 1\n"
            "                   for real tokens and 0 for padding\n"
            "  --json-input     each line is a JSON object with a \"text\" field (so texts\n"
            "                   may hold newlines or any character); blank lines are skipped\n"
            "  -h, --help       this help\n\n"
            "Without --json-input every line is a text, empty ones included, so output line\n"
            "i answers input line i. Lines end at LF (a CR before it is dropped); any other\n"
            "byte is text, and bytes that are not UTF-8 are read as U+FFFD. Invalid JSON on\n"
            "a line, or a line over 16 MiB, is an error naming the line; output stops\n"
            "there (exit 1).\n"
            "Exit status: 0 ok, 1 failure (vocabulary, input), 2 usage error.\n\n"
            "example:\n"
            "  echo '¿Dónde está?' | intent tokenize --vocab vocab.txt\n"
            "  {\"tokens\": [\"[CLS]\", \"¿\", \"donde\", \"esta\", \"?\", \"[SEP]\"], ...}\n"
            "  echo 'Hola <mask>' | intent tokenize --model roberta-base-bne\n");
}

static int emit(const struct ic_tokenizer *t, struct ic_tok_work *w, const char *text,
                size_t len, long max_len, struct ic_buf *out, struct ic_err *err)
{
    int rc = ic_tokenizer_pieces(t, w, text, len, err);
    if (rc != IC_OK)
        return rc;
    size_t k = w->n_ids;
    size_t total = k + 2;
    if (max_len > 0) {
        if (k > (size_t)max_len - 2)
            k = (size_t)max_len - 2;
        total = (size_t)max_len;
    }
    ic_buf_reset(out);
    for (int pass = 0; pass < 3 && rc == IC_OK; pass++) {
        static const char *const key[] = {"{\"tokens\": [", "], \"ids\": [",
                                          "], \"attention_mask\": ["};
        rc = ic_buf_append(out, key[pass], strlen(key[pass]));
        for (size_t i = 0; rc == IC_OK && i < total; i++) {
            int32_t id = i == 0 ? t->cls_id : i <= k ? w->ids[i - 1] : i == k + 1 ? t->sep_id
                                                                                   : t->pad_id;
            if (i > 0)
                rc = ic_buf_append(out, ", ", 2);
            if (rc != IC_OK)
                break;
            if (pass == 0) {
                const char *s = ic_tokenizer_token(t, id);
                rc = ic_buf_json_str(out, s, strlen(s));
            } else if (pass == 1) {
                rc = ic_buf_printf(out, "%d", (int)id);
            } else {
                rc = ic_buf_append(out, i <= k + 1 ? "1" : "0", 1);
            }
        }
    }
    if (rc == IC_OK)
        rc = ic_buf_append(out, "]}\n", 3);
    if (rc != IC_OK)
        return ic_errf(err, rc, "output too large");
    fwrite(out->data, 1, out->len, stdout);
    return IC_OK;
}

/* Tokenizes one stdin line: the line itself (bytes that are not UTF-8 read
 * as U+FFFD, into scratch), or with json_input the "text" of the JSON
 * object on it (a blank line is skipped). */
static int tokenize_line(const struct ic_tokenizer *t, struct ic_tok_work *w, const char *line,
                         size_t len, int json_input, long max_len, struct ic_buf *scratch,
                         struct ic_buf *out, struct ic_err *err)
{
    if (!json_input) {
        if (ic_utf8_valid(line, len, NULL))
            return emit(t, w, line, len, max_len, out, err);
        ic_buf_reset(scratch);
        if (ic__utf8_replace(scratch, line, len, NULL) != IC_OK)
            return ic_errf(err, IC_ERR_RANGE, "line too long");
        return emit(t, w, scratch->data, scratch->len, max_len, out, err);
    }
    size_t k = 0;
    while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
        k++;
    if (k == len)
        return IC_OK;
    const char *nul = memchr(line, 0, len);
    if (nul)
        return ic_errf(err, IC_ERR_FORMAT, "a NUL byte (at byte %zu) cannot be in JSON text "
                       "(write it as \\u0000)", (size_t)(nul - line));
    json_error_t je;
    json_t *j = json_loadb(line, len, JSON_ALLOW_NUL, &je);
    json_t *text = j ? json_object_get(j, "text") : NULL;
    int rc;
    if (!j)
        rc = ic_errf(err, IC_ERR_FORMAT, "invalid JSON: %s", je.text);
    else if (!json_is_string(text))
        rc = ic_errf(err, IC_ERR_FORMAT, "no string field \"text\"");
    else
        rc = emit(t, w, json_string_value(text), json_string_length(text), max_len, out, err);
    json_decref(j);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *vocab = NULL, *model = NULL;
    int cased = 0, json_input = 0;
    long max_len = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--vocab") == 0 && i + 1 < argc) {
            vocab = argv[++i];
        } else if (strcmp(a, "--model") == 0 && i + 1 < argc) {
            model = argv[++i];
        } else if (strcmp(a, "--cased") == 0) {
            cased = 1;
        } else if (strcmp(a, "--json-input") == 0) {
            json_input = 1;
        } else if (strcmp(a, "--max-length") == 0 && i + 1 < argc) {
            if (cli_parse_int("tokenize", a, argv[++i], 2, 1 << 30, &max_len))
                return 2;
        } else {
            cli_error("tokenize", "unknown option or missing value: %s (see --help)", a);
            return 2;
        }
    }
    if (!vocab == !model) {
        cli_error("tokenize", "give exactly one of --vocab FILE or --model DIR (see --help)");
        return 2;
    }
    if (cased && model) {
        cli_error("tokenize", "--cased applies to --vocab; a model directory sets its own casing");
        return 2;
    }

    struct ic_tokenizer t;
    struct ic_tok_work w;
    struct ic_err err = {0};
    struct ic_buf out;
    int status = 0;
    int rc;
    if (vocab) {
        struct ic_tokenizer_opts o;
        ic_tokenizer_default_opts(&o);
        if (cased)
            o.lowercase = 0;
        rc = ic_tokenizer_load_vocab(&t, vocab, &o, &err);
    } else {
        rc = ic_tokenizer_load_dir(&t, model, &err);
    }
    if (rc != IC_OK) {
        cli_error("tokenize", "%s", err.msg);
        return 1;
    }
    if (max_len > 0 && t.pad_id < 0) {
        cli_error("tokenize", "--max-length needs a [PAD] token in the vocabulary");
        ic_tokenizer_free(&t);
        return 1;
    }
    ic_tok_work_init(&w);
    ic_buf_init(&out, 0);
    static char obuf[1 << 16];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    struct ic__line_reader rd;
    struct ic_buf line, scratch;
    ic_buf_init(&line, 0);
    ic_buf_init(&scratch, 0);
    ic__line_reader_init(&rd, stdin, "stdin", MAX_LINE);
    for (;;) {
        int got = 0;
        rc = ic__line_next(&rd, &line, &got, &err);
        if (rc == IC_OK && !got)
            break;
        if (rc == IC_OK)
            rc = tokenize_line(&t, &w, line.data, line.len, json_input, max_len, &scratch, &out,
                               &err);
        if (rc != IC_OK) {
            fflush(stdout);
            if (rc == IC_ERR_IO || rc == IC_ERR_RANGE)
                cli_error("tokenize", "%s", err.msg);
            else
                cli_error("tokenize", "stdin: line %ld: %s", rd.line_no, err.msg);
            status = 1;
            break;
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("tokenize", "cannot write the output");
        status = 1;
    }
    ic_buf_free(&line);
    ic_buf_free(&scratch);
    ic_buf_free(&out);
    ic_tok_work_free(&w);
    ic_tokenizer_free(&t);
    return status;
}
