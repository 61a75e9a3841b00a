/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_ckpt_corrupt.c - every checkpoint reader refuses corrupt input with
 * the expected status and a message naming the file and the problem, and
 * never crashes or leaks (this suite also runs under ASan+UBSan).
 * Cases are handcrafted per format: safetensors headers and buffers; zip
 * directories and local headers; pickles (unknown opcode, disallowed
 * global, truncation, missing or short data record, absurd sizes); the
 * legacy format. Fuzzer finds are replayed by test_fuzz_regress.c.
 */
#include <stdlib.h>
#include <string.h>

#include "intent/ckpt.h"
#include "intent/model.h"
#include "io/io.h"
#include "test.h"

/* --- safetensors ----------------------------------------------------------- */

static void st_make(struct ic_buf *b, const char *hdr, size_t data_len)
{
    uint8_t n[8];
    ic__wr64(n, strlen(hdr));
    ic_buf_reset(b);
    IC_ASSERT(ic_buf_append(b, n, 8) == 0);
    IC_ASSERT(ic_buf_append(b, hdr, strlen(hdr)) == 0);
    for (size_t i = 0; i < data_len; i++)
        IC_ASSERT(ic_buf_append(b, "\x01", 1) == 0);
}

static int st_case(const char *name, const void *data, size_t len, int want, const char *needle)
{
    struct ic_tensors ts;
    struct ic_err err = {0};
    ic_tensors_init(&ts);
    int rc = ic_safetensors_load_mem(data, len, name, &ts, NULL, NULL, &err);
    int ok = rc == want &&
             (want == IC_OK ? ts.n > 0 : strstr(err.msg, name) && strstr(err.msg, needle) && ts.n == 0);
    if (!ok)
        fprintf(stderr, "  case %s: rc %d (want %d), msg \"%s\" (want \"%s\")\n", name, rc, want,
                err.msg, needle);
    ic_tensors_free(&ts);
    return ok;
}

TEST(corrupt_safetensors)
{
    struct ic_buf b;
    ic_buf_init(&b, 0);
    int bad = 0;
    uint8_t raw[16];

    bad += !st_case("tiny.safetensors", "\x01\x00\x00", 3, IC_ERR_FORMAT, "too small");
    ic__wr64(raw, 1000);
    memcpy(raw + 8, "{}      ", 8);
    bad += !st_case("hdrlen_past_end.safetensors", raw, 16, IC_ERR_FORMAT, "past the end");
    ic__wr64(raw, 200000000ull);
    bad += !st_case("hdr_too_large.safetensors", raw, 16, IC_ERR_RANGE, "over the limit");
    ic__wr64(raw, ~0ull);
    bad += !st_case("hdrlen_huge.safetensors", raw, 16, IC_ERR_RANGE, "over the limit");

    static const struct {
        const char *name, *hdr;
        size_t data;
        int want;
        const char *needle;
    } cases[] = {
        {"bad_json.safetensors", "{\"a\": ", 0, IC_ERR_FORMAT, "not valid JSON"},
        {"not_object.safetensors", "[1, 2, 3]", 0, IC_ERR_FORMAT, "start with '{'"},
        {"bad_utf8.safetensors", "{\"\xff\": 1}", 0, IC_ERR_FORMAT, "UTF-8"},
        {"overlap.safetensors",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, IC_ERR_FORMAT, "overlaps"},
        {"hole.safetensors",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
         12, IC_ERR_FORMAT, "hole"},
        {"out_of_range.safetensors",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,400]}}", 8, IC_ERR_FORMAT,
         "out of range"},
        {"end_before_begin.safetensors",
         "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4, IC_ERR_FORMAT,
         "end before begin"},
        {"unknown_dtype.safetensors", "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}",
         4, IC_ERR_FORMAT, "unknown dtype"},
        {"unsupported_dtype.safetensors",
         "{\"a\":{\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, IC_ERR_UNSUPPORTED,
         "not supported"},
        {"shape_mismatch.safetensors",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, IC_ERR_FORMAT,
         "need 12 bytes"},
        {"dtype_mismatch.safetensors",
         "{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, IC_ERR_FORMAT,
         "need 16 bytes"},
        {"duplicate.safetensors",
         "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
         "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
         2, IC_ERR_FORMAT, "duplicate"},
        {"trailing.safetensors", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 5,
         IC_ERR_FORMAT, "trailing"},
        {"absurd_shape.safetensors",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1000000000000,1000000000000],\"data_offsets\":[0,4]}}",
         4, IC_ERR_RANGE, "more bytes than the file"},
        {"negative_dim.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
         4, IC_ERR_FORMAT, "non-negative"},
        {"too_many_dims.safetensors",
         "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
         IC_ERR_UNSUPPORTED, "dimensions"},
        {"no_offsets.safetensors", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, IC_ERR_FORMAT,
         "data_offsets"},
        {"bad_metadata.safetensors", "{\"__metadata__\":{\"format\":1}}", 0, IC_ERR_FORMAT,
         "__metadata__"},
        {"entry_not_object.safetensors", "{\"a\": 3}", 0, IC_ERR_FORMAT, "not an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        st_make(&b, cases[i].hdr, cases[i].data);
        bad += !st_case(cases[i].name, b.data, b.len, cases[i].want, cases[i].needle);
    }
    /* a valid file cut short */
    st_make(&b, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16);
    bad += !st_case("valid.safetensors", b.data, b.len, IC_OK, "");
    bad += !st_case("truncated.safetensors", b.data, b.len - 5, IC_ERR_FORMAT, "out of range");
    bad += !st_case("truncated_header.safetensors", b.data, 20, IC_ERR_FORMAT, "past the end");
    ic_buf_free(&b);
    ASSERT_EQ(bad, 0);
}

TEST(corrupt_safetensors_from_file)
{
    /* path loader names the path */
    char p[512];
    struct ic_tensors ts;
    struct ic_err err = {0};
    snprintf(p, sizeof p, "%s/short.safetensors", test_tmpdir());
    ASSERT_OK(ic_write_file_atomic(p, "\x10\x00\x00\x00\x00\x00\x00\x00{}", 10, &err));
    ic_tensors_init(&ts);
    ASSERT_EQ(ic_safetensors_load(p, &ts, NULL, NULL, &err), IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, p);
    ASSERT_CONTAINS(err.msg, "past the end");
    snprintf(p, sizeof p, "%s/missing.safetensors", test_tmpdir());
    ASSERT_EQ(ic_safetensors_load(p, &ts, NULL, NULL, &err), IC_ERR_NOTFOUND);
    ASSERT_CONTAINS(err.msg, "missing.safetensors");
}

/* --- torch zip / pickle ---------------------------------------------------- */

/* A pickle of OrderedDict{"w": tensor} whose tensor is given as raw pieces. */
static void app(struct ic_buf *b, const void *p, size_t n) { IC_ASSERT(ic_buf_append(b, p, n) == 0); }
static void app_str(struct ic_buf *b, const char *s)
{
    uint8_t h[5] = {'X'};
    ic__wr32(h + 1, (uint32_t)strlen(s));
    app(b, h, 5);
    app(b, s, strlen(s));
}
static void app_int(struct ic_buf *b, int64_t v)
{
    uint8_t l1[10] = {0x8a, 8};
    ic__wr64(l1 + 2, (uint64_t)v);
    app(b, l1, 10);
}

/* A pickle of OrderedDict{"w": tensor} whose tensor is given as raw pieces. */
static void pk_tensor_dict(struct ic_buf *b, const char *key, const char *storage, long numel,
                           long offset, long size, long stride)
{
    static const char od[] = "ccollections\nOrderedDict\n";
    ic_buf_reset(b);
    app(b, "\x80\x02", 2);
    app(b, od, sizeof od - 1);
    app(b, ")R(", 3);
    app_str(b, "w");
    app(b, "ctorch._utils\n_rebuild_tensor_v2\n((", 35);
    app_str(b, "storage");
    app(b, "ctorch\n", 7);
    app(b, storage, strlen(storage));
    app(b, "\n", 1);
    app_str(b, key);
    app_str(b, "cpu");
    app_int(b, numel);
    app(b, "tQ", 2);
    app_int(b, offset);
    app_int(b, size);
    app(b, "\x85", 1);
    app_int(b, stride);
    app(b, "\x85\x89", 2);
    app(b, od, sizeof od - 1);
    app(b, ")RtRu.", 6);
}

/* Zips data.pkl (+ optional data/0 with nbytes bytes) under folder "a". */
static void mk_zip(struct ic_buf *out, const void *pkl, size_t pkl_len, size_t nbytes,
                   const char *byteorder)
{
    struct ic__zipw w;
    ic__zipw_init(&w);
    IC_ASSERT(ic__zipw_add(&w, "a/data.pkl", pkl, pkl_len, NULL) == 0);
    if (byteorder)
        IC_ASSERT(ic__zipw_add(&w, "a/byteorder", byteorder, strlen(byteorder), NULL) == 0);
    if (nbytes != (size_t)-1) {
        uint8_t *d = ic_xcalloc(nbytes + 1, 1);
        IC_ASSERT(ic__zipw_add(&w, "a/data/0", d, nbytes, NULL) == 0);
        ic_free(d);
    }
    IC_ASSERT(ic__zipw_add(&w, "a/version", "3\n", 2, NULL) == 0);
    IC_ASSERT(ic__zipw_finish(&w, NULL) == 0);
    ic_buf_free(out);
    *out = w.out;
    ic_buf_init(&w.out, 0);
    ic__zipw_free(&w);
}

static int pt_case(const char *name, const void *data, size_t len, int want, const char *needle)
{
    struct ic_tensors ts;
    struct ic_err err = {0};
    ic_tensors_init(&ts);
    int rc = ic_torch_load_mem(data, len, name, &ts, &err);
    int ok = rc == want && (want == IC_OK || (strstr(err.msg, name) && strstr(err.msg, needle))) &&
             (rc != IC_OK || ts.n > 0) && (rc == IC_OK || ts.n == 0);
    if (!ok)
        fprintf(stderr, "  case %s: rc %d (want %d), msg \"%s\" (want \"%s\")\n", name, rc, want,
                err.msg, needle);
    ic_tensors_free(&ts);
    return ok;
}

static size_t find_sig(const struct ic_buf *b, uint32_t sig, int last)
{
    size_t at = (size_t)-1;
    for (size_t i = 0; i + 4 <= b->len; i++)
        if (ic__rd32((const uint8_t *)b->data + i) == sig) {
            at = i;
            if (!last)
                break;
        }
    return at;
}

TEST(corrupt_torch_zip)
{
    struct ic_buf pk, z, m;
    ic_buf_init(&pk, 0);
    ic_buf_init(&z, 0);
    ic_buf_init(&m, 0);
    int bad = 0;
    pk_tensor_dict(&pk, "0", "FloatStorage", 6, 0, 6, 1);
    mk_zip(&z, pk.data, pk.len, 24, "little");
    bad += !pt_case("valid.pt", z.data, z.len, IC_OK, "");

    bad += !pt_case("not_zip.pt", "hello world, not a zip archive at all", 37, IC_ERR_FORMAT,
                    "not a zip");
    bad += !pt_case("truncated_zip.pt", z.data, z.len / 2, IC_ERR_FORMAT, "not a zip");
    bad += !pt_case("legacy.pt", "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15,
                    IC_ERR_FORMAT, "legacy format");
    {
        char lp[512];
        char *ld;
        size_t ll;
        snprintf(lp, sizeof lp, "%s/io/legacy.pt", test_golden_dir());
        IC_ASSERT(ic_read_file(lp, 0, &ld, &ll, NULL) == 0);
        bad += !pt_case("legacy_ok.pt", ld, ll, IC_OK, "");
        bad += !pt_case("legacy_truncated.pt", ld, ll - 1, IC_ERR_FORMAT, "runs past the end");
        bad += !pt_case("legacy_cut_in_pickle.pt", ld, 200, IC_ERR_FORMAT, "truncated pickle");
        ld[18] = 0x7f; /* protocol-version pickle: BININT2 1001 -> 895 */
        bad += !pt_case("legacy_version.pt", ld, ll, IC_ERR_UNSUPPORTED, "legacy protocol version");
        ic_free(ld);
    }
    size_t eocd = find_sig(&z, 0x06054b50u, 1);
    size_t cd = find_sig(&z, 0x02014b50u, 0);
    IC_ASSERT(eocd != (size_t)-1 && cd != (size_t)-1);
#define MUTATE(stmt)                                      \
    do {                                                  \
        ic_buf_reset(&m);                                 \
        IC_ASSERT(ic_buf_append(&m, z.data, z.len) == 0); \
        uint8_t *u = (uint8_t *)m.data;                   \
        (void)u;                                          \
        stmt;                                             \
    } while (0)
    MUTATE(ic__wr32(u + eocd + 16, 0x7fffff00u));
    bad += !pt_case("cd_offset.pt", m.data, m.len, IC_ERR_FORMAT, "central directory");
    MUTATE(ic__wr16(u + eocd + 10, 60000));
    bad += !pt_case("cd_count.pt", m.data, m.len, IC_ERR_FORMAT, "claims");
    MUTATE(u[cd] = 'X');
    bad += !pt_case("cd_signature.pt", m.data, m.len, IC_ERR_FORMAT, "bad central directory entry");
    MUTATE(ic__wr32(u + cd + 42, 0x00ffffffu));
    bad += !pt_case("local_offset.pt", m.data, m.len, IC_ERR_FORMAT, "bad local header");
    MUTATE(u[0] = 'X');
    bad += !pt_case("local_signature.pt", m.data, m.len, IC_ERR_FORMAT, "bad local header");
    MUTATE(u[30] = 'b');
    bad += !pt_case("local_name.pt", m.data, m.len, IC_ERR_FORMAT, "does not match");
    MUTATE(ic__wr32(u + cd + 20, 0x7ffffff0u); ic__wr32(u + cd + 24, 0x7ffffff0u));
    bad += !pt_case("entry_size.pt", m.data, m.len, IC_ERR_FORMAT, "past the end of the file");
    MUTATE(ic__wr16(u + cd + 10, 99));
    bad += !pt_case("method.pt", m.data, m.len, IC_ERR_UNSUPPORTED, "compression method");
    MUTATE(ic__wr16(u + cd + 8, 1));
    bad += !pt_case("encrypted.pt", m.data, m.len, IC_ERR_UNSUPPORTED, "encrypted");
    MUTATE(ic__wr16(u + cd + 10, 8));
    bad += !pt_case("bad_deflate.pt", m.data, m.len, IC_ERR_FORMAT, "deflate");
    MUTATE(ic__wr16(u + eocd + 6, 1));
    bad += !pt_case("multidisk.pt", m.data, m.len, IC_ERR_UNSUPPORTED, "multi-disk");
    MUTATE(ic__wr16(u + eocd + 10, 0xFFFF));
    bad += !pt_case("zip64_locator.pt", m.data, m.len, IC_ERR_FORMAT, "zip64");
    /* flip a byte of the pickle: CRC check */
    MUTATE(u[cd > 200 ? 80 : 70] ^= 0x55);
    bad += !pt_case("crc.pt", m.data, m.len, IC_ERR_FORMAT, "CRC-32");
#undef MUTATE
    ic_buf_free(&pk);
    ic_buf_free(&z);
    ic_buf_free(&m);
    ASSERT_EQ(bad, 0);
}

TEST(corrupt_torch_pickle)
{
    struct ic_buf pk, z;
    ic_buf_init(&pk, 0);
    ic_buf_init(&z, 0);
    int bad = 0;
#define PCASE(name, bytes, want, needle)                                   \
    do {                                                                   \
        mk_zip(&z, bytes, sizeof(bytes) - 1, (size_t)-1, NULL);            \
        bad += !pt_case(name, z.data, z.len, want, needle);                \
    } while (0)
    PCASE("unknown_opcode.pt", "\x80\x02}\xff.", IC_ERR_FORMAT, "unknown or unsupported pickle opcode 0xff");
    PCASE("disallowed_global.pt", "\x80\x02" "cos\nsystem\nX\x02\x00\x00\x00ls\x85R.", IC_ERR_FORMAT,
          "disallowed global os.system");
    PCASE("disallowed_builtin.pt", "\x80\x02" "cbuiltins\neval\n.", IC_ERR_FORMAT,
          "disallowed global builtins.eval");
    PCASE("stack_global.pt", "\x80\x04\x8c\x05posix\x8c\x06system\x93.", IC_ERR_FORMAT,
          "disallowed global posix.system");
    PCASE("truncated_pickle.pt", "\x80\x02}X\x10\x00\x00\x00ab", IC_ERR_FORMAT, "truncated pickle");
    PCASE("no_stop.pt", "\x80\x02}", IC_ERR_FORMAT, "no STOP");
    PCASE("underflow.pt", "\x80\x02.", IC_ERR_FORMAT, "stack underflow");
    PCASE("setitems_underflow.pt", "\x80\x02(u.", IC_ERR_FORMAT, "stack underflow");
    PCASE("memo_missing.pt", "\x80\x02h\x05.", IC_ERR_FORMAT, "memo");
    PCASE("memo_huge.pt", "\x80\x02}r\xff\xff\xff\x7f.", IC_ERR_RANGE, "memo index");
    PCASE("no_mark.pt", "\x80\x02t.", IC_ERR_FORMAT, "MARK");
    PCASE("persid_not_storage.pt", "\x80\x02X\x01\x00\x00\x00xQ.", IC_ERR_FORMAT, "persistent id");
    PCASE("long_too_wide.pt", "\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09.", IC_ERR_RANGE,
          "64 bits");
    PCASE("append_non_list.pt", "\x80\x02}Na.", IC_ERR_FORMAT, "APPEND");
    PCASE("setitem_non_dict.pt", "\x80\x02]NNs.", IC_ERR_FORMAT, "SETITEM");
    PCASE("reduce_non_callable.pt", "\x80\x02N)R.", IC_ERR_FORMAT, "REDUCE");
    PCASE("bad_utf8.pt", "\x80\x02X\x01\x00\x00\x00\xff.", IC_ERR_FORMAT, "UTF-8");
    PCASE("protocol.pt", "\x80\x09}.", IC_ERR_UNSUPPORTED, "protocol");
    PCASE("no_state_dict.pt", "\x80\x02}.", IC_ERR_FORMAT, "no state_dict");
    PCASE("global_no_newline.pt", "\x80\x02" "ctorch", IC_ERR_FORMAT, "truncated");
#undef PCASE
    /* data records */
    pk_tensor_dict(&pk, "0", "FloatStorage", 6, 0, 6, 1);
    mk_zip(&z, pk.data, pk.len, (size_t)-1, NULL);
    bad += !pt_case("missing_record.pt", z.data, z.len, IC_ERR_FORMAT, "missing data record a/data/0");
    mk_zip(&z, pk.data, pk.len, 8, NULL);
    bad += !pt_case("short_record.pt", z.data, z.len, IC_ERR_FORMAT, "holds 8 bytes");
    pk_tensor_dict(&pk, "0", "FloatStorage", 6, 0, 10, 1);
    mk_zip(&z, pk.data, pk.len, 24, NULL);
    bad += !pt_case("view_out_of_range.pt", z.data, z.len, IC_ERR_FORMAT, "out of the storage");
    pk_tensor_dict(&pk, "0", "FloatStorage", 6, 4, 3, 1);
    mk_zip(&z, pk.data, pk.len, 24, NULL);
    bad += !pt_case("offset_out_of_range.pt", z.data, z.len, IC_ERR_FORMAT, "out of the storage");
    pk_tensor_dict(&pk, "0", "FloatStorage", 6, 0, (long)1 << 40, 0);
    mk_zip(&z, pk.data, pk.len, 24, NULL);
    bad += !pt_case("absurd_expand.pt", z.data, z.len, IC_ERR_RANGE, "absurd");
    pk_tensor_dict(&pk, "0", "ComplexFloatStorage", 6, 0, 6, 1);
    mk_zip(&z, pk.data, pk.len, 24, NULL);
    bad += !pt_case("storage_type.pt", z.data, z.len, IC_ERR_FORMAT, "disallowed global torch.ComplexFloatStorage");
    pk_tensor_dict(&pk, "0", "FloatStorage", 6, 0, 6, 1);
    mk_zip(&z, pk.data, pk.len, 24, "big");
    bad += !pt_case("big_endian.pt", z.data, z.len, IC_ERR_UNSUPPORTED, "little-endian");
    /* a zip without data.pkl */
    {
        struct ic__zipw w;
        ic__zipw_init(&w);
        IC_ASSERT(ic__zipw_add(&w, "a/version", "3\n", 2, NULL) == 0);
        IC_ASSERT(ic__zipw_finish(&w, NULL) == 0);
        bad += !pt_case("no_data_pkl.pt", w.out.data, w.out.len, IC_ERR_FORMAT, "missing record a/data.pkl");
        ic__zipw_free(&w);
    }
    /* duplicate tensor names in the state dict */
    {
        static const char dup[] = "\x80\x02}(X\x01\x00\x00\x00w"
                                  "ctorch._utils\n_rebuild_tensor_v2\nq\x00((X\x07\x00\x00\x00storage"
                                  "ctorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x01tQK\x00K\x01\x85K\x01\x85\x89}tRq\x01"
                                  "X\x01\x00\x00\x00wh\x01u.";
        mk_zip(&z, dup, sizeof dup - 1, 4, NULL);
        bad += !pt_case("duplicate_names.pt", z.data, z.len, IC_ERR_FORMAT, "duplicate tensor name");
    }
    ic_buf_free(&pk);
    ic_buf_free(&z);
    ASSERT_EQ(bad, 0);
}

/* A model directory whose config disagrees with its weights. */
TEST(corrupt_model_shape_mismatch)
{
    char dir[512], p[600], src[600];
    struct ic_err err = {0};
    struct ic_model m;
    struct ic_rng rng;
    snprintf(dir, sizeof dir, "%s/mismatch", test_tmpdir());
    ASSERT_OK(ic_mkdirs(dir, &err));
    snprintf(p, sizeof p, "%s/config.json", dir);
    const char *cfg = "{\"hidden_size\": 8, \"num_hidden_layers\": 2, \"num_attention_heads\": 2,"
                      " \"intermediate_size\": 32, \"vocab_size\": 40, \"max_position_embeddings\": 16}";
    ASSERT_OK(ic_write_file_atomic(p, cfg, strlen(cfg), &err));
    const char *files[2] = {"pytorch_model.bin", "vocab.txt"};
    for (int i = 0; i < 2; i++) {
        char *data;
        size_t len;
        snprintf(src, sizeof src, "%s/io/legacy_bert/%s", test_golden_dir(), files[i]);
        ASSERT_OK(ic_read_file(src, 0, &data, &len, &err));
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        int rc = ic_write_file_atomic(p, data, len, &err);
        ic_free(data);
        ASSERT_OK(rc);
    }
    ic_rng_seed(&rng, 1);
    int rc = ic_model_load_pretrained(&m, dir, 2, NULL, &rng, &err);
    ASSERT_EQ(rc, IC_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "pytorch_model.bin");
    ASSERT_CONTAINS(err.msg, "intermediate.dense.weight");
    ASSERT_CONTAINS(err.msg, "[16, 8]");
}
