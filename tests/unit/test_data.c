/* SPDX-License-Identifier: Apache-2.0 */
/* test_data.c - dataset formats, errors naming file and record, warnings,
 * label order and the stratified split. */
#include "intent/data.h"
#include "test.h"

static char *golden(const char *name)
{
    char *d = ic_path_join(test_golden_dir(), "data");
    char *p = ic_path_join(d, name);
    ic_free(d);
    return p;
}

TEST(data_json_array)
{
    char *p = golden("small.json");
    struct ic_dataset d;
    struct ic_err err;
    ASSERT_OK_ERR(ic_dataset_load(&d, p, &err), err);
    ASSERT_EQ(d.n, 6);
    ASSERT_EQ(d.n_labels, 3);
    /* sorted by name, byte order */
    ASSERT_STR_EQ(d.labels[0], "get_weather");
    ASSERT_STR_EQ(d.labels[1], "greeting");
    ASSERT_STR_EQ(d.labels[2], "set_alarm");
    ASSERT_STR_EQ(d.ex[0].text, "pon una alarma a las siete");
    ASSERT_EQ(d.ex[0].label, 2);
    ASSERT_STR_EQ(d.ex[5].text, "buenas tardes"); /* trimmed, "label" accepted */
    ASSERT_EQ(d.ex[5].label, 1);
    ASSERT_EQ(d.ex[5].record, 6);
    ASSERT_EQ(d.ex[5].line, 7);
    ASSERT_EQ(d.label_counts[0], 2);
    ic_dataset_free(&d);
    ic_free(p);
}

TEST(data_jsonl_csv_tsv)
{
    struct ic_dataset d;
    struct ic_err err;
    char *p = golden("small.jsonl");
    ASSERT_OK_ERR(ic_dataset_load(&d, p, &err), err);
    ASSERT_EQ(d.n, 3);
    ASSERT_EQ(d.ex[1].line, 3); /* blank line skipped */
    ASSERT_EQ(d.ex[1].record, 2);
    ic_dataset_free(&d);
    ic_free(p);
    p = golden("small.csv");
    ASSERT_OK_ERR(ic_dataset_load(&d, p, &err), err);
    ASSERT_EQ(d.n, 4);
    ASSERT_STR_EQ(d.ex[0].text, "pon una alarma, a las siete");
    ASSERT_STR_EQ(d.ex[1].text, "dijo \"hola\"");
    ASSERT_STR_EQ(d.ex[2].text, "qué tiempo\nhace hoy");
    ASSERT_STR_EQ(d.labels[d.ex[2].label], "get_weather");
    ASSERT_EQ(d.ex[3].line, 6);
    ASSERT_STR_EQ(d.ex[3].text, "va a llover");
    ic_dataset_free(&d);
    ic_free(p);
    p = golden("small.tsv");
    ASSERT_OK_ERR(ic_dataset_load(&d, p, &err), err);
    ASSERT_EQ(d.n, 2);
    ASSERT_STR_EQ(d.labels[d.ex[0].label], "set_alarm");
    ic_dataset_free(&d);
    ic_free(p);
    /* content sniffing: JSON Lines in a .json file, TSV without an extension */
    const char *jl = "{\"text\":\"a\",\"intent\":\"x\"}\n{\"text\":\"b\",\"intent\":\"y\"}\n";
    ASSERT_OK_ERR(ic_dataset_parse(&d, "m.json", jl, strlen(jl), NULL, 0, 2, &err), err);
    ASSERT_EQ(d.n, 2);
    ic_dataset_free(&d);
    const char *ts = "\xEF\xBB\xBFtext\tintent\na\tx\nb\ty\n";
    ASSERT_OK_ERR(ic_dataset_parse(&d, "m.txt", ts, strlen(ts), NULL, 0, 2, &err), err);
    ASSERT_EQ(d.n, 2);
    ASSERT_STR_EQ(d.ex[1].text, "b");
    ic_dataset_free(&d);
}

TEST(data_errors_name_file_and_record)
{
    struct {
        const char *file, *want;
    } cases[] = {
        {"bad_missing_text.json", "bad_missing_text.json: record 2 (line 3): missing field "
                                  "\"text\""},
        {"bad_empty_text.json", "bad_empty_text.json: record 3 (line 4): empty text"},
        {"bad_utf8.json", "bad_utf8.json: line 3: invalid UTF-8"},
        {"bad_one_intent.json", "found 1 intent (\"greeting\"); at least 2"},
        {"bad_wrong_type.json", "record 2 (line 3): field \"intent\" must be a string, got an "
                                "integer"},
        {"bad_syntax.jsonl", "bad_syntax.jsonl: record 2 (line 2): JSON syntax error"},
        {"bad_unterminated.csv", "bad_unterminated.csv: record 2 (line 3): unterminated quoted"},
        {"bad_header.csv", "bad_header.csv: line 1: the header row has no \"text\" column"},
        {"does_not_exist.json", "does_not_exist.json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = golden(cases[i].file);
        struct ic_dataset d;
        struct ic_err err;
        int rc = ic_dataset_load(&d, p, &err);
        ic_free(p);
        if (rc == IC_OK) {
            ic_dataset_free(&d);
            FAIL("%s loaded", cases[i].file);
        }
        ASSERT(d.ex == NULL && d.n == 0);
        ASSERT_CONTAINS(err.msg, cases[i].want);
    }
    struct {
        const char *text, *want;
    } mem[] = {
        {"[{\"text\":\"a\",\"intent\":\"x\"},]", "trailing comma"},
        {"[{\"text\":\"a\",\"intent\":\"x\"} {\"text\":\"b\"}]", "expected \",\" or \"]\""},
        {"[{\"text\":\"a\",\"intent\":\"x\"}", "missing \"]\""},
        {"[\"a\"]", "record 1 (line 1): expected an object"},
        {"[{\"text\":\"a\\u0000b\",\"intent\":\"x\"}]", "NUL"},
        {"[{\"text\":\"a\"}]", "missing field \"intent\" (or \"label\")"},
        {"[{\"text\":1,\"intent\":\"x\"}]", "field \"text\" must be a string"},
        {"[]", "no records"},
        {"", "no records"},
        {"[{\"text\":\"a\",\"intent\":\"\"}]", "empty intent"},
        {"[{\"text\":\"a\",\"intent\":\"x\"}] x", "unexpected data after"},
    };
    for (size_t i = 0; i < sizeof mem / sizeof mem[0]; i++) {
        struct ic_dataset d;
        struct ic_err err;
        int rc = ic_dataset_parse(&d, "m.json", mem[i].text, strlen(mem[i].text), NULL, 0, 2,
                                  &err);
        if (rc == IC_OK) {
            ic_dataset_free(&d);
            FAIL("case %zu parsed", i);
        }
        ASSERT_CONTAINS(err.msg, "m.json");
        ASSERT_CONTAINS(err.msg, mem[i].want);
    }
}

/* A raw NUL byte in any format, before or inside a record, a quoted CSV field
 * or the header: an error naming the line the NUL is on (nothing is cut at
 * the NUL); bytes that are not UTF-8 (a lone surrogate ED A0 80) name their
 * line and their offset in the file (BOM included); a CR inside a field is
 * kept, CR LF ends a record and line numbers stay right after both. */
TEST(data_nul_cr_and_bad_bytes)
{
    static const struct {
        const char *name, *text;
        size_t len;
        const char *want;
    } cases[] = {
#define C(name, lit, want) {name, lit, sizeof lit - 1, want}
        C("a.jsonl", "{\"text\":\"a\",\"intent\":\"x\"}\n{\"text\":\"b\0c\",\"intent\":\"y\"}\n",
          "a.jsonl: line 2: NUL byte (byte offset 36)"),
        C("a.jsonl", "{\"text\":\"a\",\"intent\":\"x\"}\r\n{\"text\":\"b\",\"intent\":\"y\"}\0",
          "a.jsonl: line 2: NUL byte (byte offset 52)"),
        C("a.json", "[{\"text\":\"a\",\"intent\":\"x\"},\n\0{\"text\":\"b\",\"intent\":\"y\"}]",
          "a.json: line 2: NUL byte (byte offset 28)"),
        C("a.csv", "text,intent\na,x\n\"b\nq\0c\",y\n", "a.csv: line 4: NUL byte (byte offset 20)"),
        C("a.csv", "text\0,intent\na,x\nb,y\n", "a.csv: line 1: NUL byte (byte offset 4)"),
        C("a.tsv", "text\tintent\na\tx\n\nb\0c\ty\n", "a.tsv: line 4: NUL byte"),
        C("a.tsv", "\xEF\xBB\xBFtext\tintent\na\tx\nb\xed\xa0\x80\ty\n",
          "a.tsv: line 3: invalid UTF-8 (byte offset 20)"),
        C("a.csv", "text,intent\na,x\n\0b,\xff\n", "a.csv: line 3: NUL byte (byte offset 16)"),
        C("a.csv", "text,intent\na,x\n\xff,\0\n", "a.csv: line 3: invalid UTF-8 (byte offset 16)"),
#undef C
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct ic_dataset d;
        struct ic_err err;
        int rc = ic_dataset_parse(&d, cases[i].name, cases[i].text, cases[i].len, NULL, 0, 2,
                                  &err);
        if (rc == IC_OK) {
            ic_dataset_free(&d);
            FAIL("case %zu parsed", i);
        }
        ASSERT_EQ(rc, IC_ERR_FORMAT);
        ASSERT_CONTAINS(err.msg, cases[i].want);
    }
    static const char crlf[] = "text,intent\r\na,x\r\n\"b\rc\",y\r\n\r\n\"d\r\ne\",x\r\nf,y";
    struct ic_dataset d;
    struct ic_err err;
    ASSERT_OK_ERR(ic_dataset_parse(&d, "c.csv", crlf, sizeof crlf - 1, NULL, 0, 2, &err), err);
    ASSERT_EQ(d.n, 4);
    ASSERT_STR_EQ(d.ex[1].text, "b\rc");
    ASSERT_EQ(d.ex[1].line, 3);
    ASSERT_STR_EQ(d.ex[2].text, "d\r\ne");
    ASSERT_EQ(d.ex[2].line, 5);
    ASSERT_STR_EQ(d.ex[3].text, "f");
    ASSERT_EQ(d.ex[3].line, 7);
    ic_dataset_free(&d);
}

TEST(data_known_labels)
{
    const char *labels[] = {"b", "a"}; /* kept in the given order */
    const char *t = "{\"text\":\"x\",\"intent\":\"a\"}\n{\"text\":\"y\",\"intent\":\"c\"}\n";
    struct ic_dataset d;
    struct ic_err err;
    ASSERT_EQ(ic_dataset_parse(&d, "e.jsonl", t, strlen(t), labels, 2, 0, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "e.jsonl: record 2 (line 2): unknown intent \"c\"");
    const char *t2 = "{\"text\":\"x\",\"intent\":\"a\"}\n";
    ASSERT_OK_ERR(ic_dataset_parse(&d, "e.jsonl", t2, strlen(t2), labels, 2, 0, &err), err);
    ASSERT_EQ(d.n_labels, 2);
    ASSERT_STR_EQ(d.labels[0], "b");
    ASSERT_EQ(d.ex[0].label, 1);
    ic_dataset_free(&d);
}

TEST(data_warnings)
{
    char *p = golden("warnings.json");
    struct ic_dataset d;
    struct ic_err err;
    ASSERT_OK_ERR(ic_dataset_load(&d, p, &err), err);
    ASSERT_EQ(d.n_duplicates, 1);
    ASSERT_EQ(d.n_conflicts, 1);
    ASSERT_EQ(d.n_singletons, 1); /* set_alarm */
    ic_dataset_free(&d);
    ic_free(p);
}

TEST(data_split_stratified_seeded)
{
    /* 3 intents: 10, 5, 2 and 1 examples */
    struct ic_buf b;
    ic_buf_init(&b, 0);
    ASSERT_OK(ic_buf_printf(&b, "["));
    int counts[4] = {10, 5, 2, 1};
    const char *names[4] = {"a", "b", "c", "d"};
    int k = 0;
    for (int l = 0; l < 4; l++)
        for (int i = 0; i < counts[l]; i++)
        {
            ASSERT_OK(ic_buf_printf(&b, "%s{\"text\":\"t%d\",\"intent\":\"%s\"}", k ? "," : "",
                                    k, names[l]));
            k++;
        }
    ASSERT_OK(ic_buf_printf(&b, "]"));
    struct ic_dataset d;
    struct ic_err err;
    ASSERT_OK_ERR(ic_dataset_parse(&d, "s.json", b.data, b.len, NULL, 0, 2, &err), err);
    ic_buf_free(&b);
    uint32_t *tr, *ev, *tr2, *ev2;
    size_t nt, ne, nt2, ne2;
    ASSERT_OK(ic_dataset_split(&d, 0.2, 42, &tr, &nt, &ev, &ne, &err));
    ASSERT_EQ(nt + ne, 18);
    ASSERT_EQ(ne, 4); /* round(0.2 * 18) = 4 */
    int per[4] = {0};
    for (size_t i = 0; i < ne; i++)
        per[d.ex[ev[i]].label]++;
    ASSERT_EQ(per[0], 2);
    ASSERT(per[1] >= 1);
    ASSERT_EQ(per[2], 1); /* every intent with >= 2 examples on both sides */
    ASSERT_EQ(per[3], 0); /* the single example stays in train */
    /* disjoint, ascending */
    for (size_t i = 1; i < ne; i++)
        ASSERT(ev[i] > ev[i - 1]);
    for (size_t i = 0; i < ne; i++)
        for (size_t j = 0; j < nt; j++)
            ASSERT(ev[i] != tr[j]);
    /* same seed, same split; another seed, another split */
    ASSERT_OK(ic_dataset_split(&d, 0.2, 42, &tr2, &nt2, &ev2, &ne2, &err));
    ASSERT_EQ(ne2, ne);
    ASSERT(memcmp(ev, ev2, ne * sizeof *ev) == 0);
    ic_free(tr2);
    ic_free(ev2);
    int differs = 0;
    for (uint64_t s = 1; s < 6 && !differs; s++) {
        ASSERT_OK(ic_dataset_split(&d, 0.2, s, &tr2, &nt2, &ev2, &ne2, &err));
        differs = ne2 != ne || memcmp(ev, ev2, ne * sizeof *ev) != 0;
        ic_free(tr2);
        ic_free(ev2);
    }
    ASSERT(differs);
    ic_free(tr);
    ic_free(ev);
    /* fraction 0: everything in train */
    ASSERT_OK(ic_dataset_split(&d, 0, 42, &tr, &nt, &ev, &ne, &err));
    ASSERT_EQ(nt, 18);
    ASSERT_EQ(ne, 0);
    ic_free(tr);
    ic_free(ev);
    ic_dataset_free(&d);
}
