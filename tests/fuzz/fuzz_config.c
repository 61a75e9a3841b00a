/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_config.c - libFuzzer target for the training configuration
 * (include/intent/config.h): the YAML file (intent.yaml / --config) and the
 * key=value path that environment variables and flags take.
 *
 * Input: byte 0 even -> the rest is a YAML file, loaded with
 * ic_config_load_file; odd -> the rest is lines "key=value", each applied
 * with ic_config_set (as INTENT_<KEY> variables are). An accepted
 * configuration is checked (ic_config_check), printed, and the printed YAML
 * must load back to the same values (--print-config's promise).
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "intent/config.h"

static void ic_fuzz_config_roundtrip(const struct ic_config *c)
{
    struct ic_err err;
    struct ic_buf b;
    ic_buf_init(&b, 0);
    IC_FUZZ_CHECK(ic_config_print(c, &b) == IC_OK);
    const char *path = ic_fuzz_put("printed.yaml", b.data ? b.data : "", b.len);
    struct ic_config c2;
    ic_config_init(&c2);
    memset(&err, 0, sizeof err);
    int rc = ic_config_load_file(&c2, path, &err);
    if (rc != IC_OK)
        fprintf(stderr, "printed configuration refused: %s\n%s\n", err.msg, b.data);
    IC_FUZZ_CHECK(rc == IC_OK);
    size_t n = 0;
    ic_config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        char *a = ic_config_value_str(c, i), *z = ic_config_value_str(&c2, i);
        if (strcmp(a, z) != 0)
            fprintf(stderr, "key %zu: %s != %s\n", i, a, z);
        IC_FUZZ_CHECK(strcmp(a, z) == 0);
        ic_free(a);
        ic_free(z);
    }
    ic_config_free(&c2);
    ic_buf_free(&b);
}

int ic_fuzz_config(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct ic_config c;
    struct ic_err err;
    memset(&err, 0, sizeof err);
    ic_config_init(&c);
    int rc = IC_OK;
    if ((data[0] & 1) == 0) {
        const char *path = ic_fuzz_put("intent.yaml", data + 1, size - 1);
        rc = ic_config_load_file(&c, path, &err);
        /* libyaml refuses a raw NUL byte; a file with one is never read */
        if (rc == IC_OK)
            IC_FUZZ_CHECK(memchr(data + 1, 0, size - 1) == NULL);
    } else {
        /* key=value lines, as the environment would give them */
        size_t i = 1;
        while (rc == IC_OK && i < size) {
            size_t j = i;
            while (j < size && data[j] != '\n')
                j++;
            char *line = ic_xstrndup((const char *)data + i, j - i);
            char *eq = strchr(line, '=');
            if (eq) {
                *eq = 0;
                rc = ic_config_set(&c, line, eq + 1, IC_CONFIG_ENV, "INTENT_FUZZ", &err);
                if (rc == IC_ERR_NOTFOUND)
                    rc = IC_OK; /* unknown keys: the env layer ignores other variables */
            }
            ic_free(line);
            i = j + 1;
        }
    }
    if (rc == IC_OK) {
        struct ic_err e2;
        memset(&e2, 0, sizeof e2);
        if (ic_config_check(&c, &e2) != IC_OK)
            IC_FUZZ_CHECK(e2.msg[0] != 0);
        ic_fuzz_config_roundtrip(&c);
    } else {
        IC_FUZZ_CHECK(err.msg[0] != 0);
    }
    ic_config_free(&c);
    return 0;
}

#ifndef IC_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ic_fuzz_quiet();
    return ic_fuzz_config(data, size);
}
#endif
