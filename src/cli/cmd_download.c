/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_download.c - `intent download MODEL`: fetch a model from the Hugging
 * Face Hub into the cache (or find it there) and print its directory. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "intent/hub.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: intent download MODEL [--revision REV] [--cache-dir DIR] [--endpoint URL]\n"
            "                             [--offline] [--timeout SECONDS]\n"
            "\n"
            "Fetches the Hugging Face model MODEL (org/name) into the Hugging Face cache, in the\n"
            "layout Python's huggingface_hub uses, and prints the snapshot directory, which\n"
            "`intent train --model-name DIR` accepts. A MODEL that is a local directory is\n"
            "printed as it is. Fetched: config.json, model.safetensors (else pytorch_model.bin)\n"
            "and the tokenizer files the repository has. The Hub is asked for the revision's\n"
            "current commit; files already cached are not downloaded again, an interrupted\n"
            "download resumes, and when the Hub cannot be reached the cached snapshot is used.\n"
            "\n"
            "options:\n"
            "  --revision REV     branch, tag or commit (default: main)\n"
            "  --cache-dir DIR    cache directory (default: $HF_HUB_CACHE, else $HF_HOME/hub,\n"
            "                     else ~/.cache/huggingface/hub)\n"
            "  --endpoint URL     Hub address (default: $HF_ENDPOINT, else https://huggingface.co)\n"
            "  --offline          use the cache only (as HF_HUB_OFFLINE=1 does)\n"
            "  --timeout SECONDS  network timeout (default: $HF_HUB_ETAG_TIMEOUT and\n"
            "                     $HF_HUB_DOWNLOAD_TIMEOUT, else 10)\n"
            "  -h, --help         show this help\n"
            "\n"
            "environment: HF_TOKEN (or HUGGING_FACE_HUB_TOKEN, or the file $HF_TOKEN_PATH,\n"
            "default $HF_HOME/token) for private and gated models; HF_HUB_OFFLINE=1. See\n"
            "docs/hub.md.\n"
            "\n"
            "exit status: 0 done, 1 the model cannot be had (the message says why), 2 usage.\n");
}

int cmd_download(int argc, char **argv)
{
    struct ic_hub_opts o;
    ic_hub_default_opts(&o);
    o.refresh = 1;
    const char *model = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *need = NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--offline") == 0) {
            o.offline = 1;
        } else if (strcmp(a, "--revision") == 0 || strcmp(a, "--cache-dir") == 0 ||
                   strcmp(a, "--endpoint") == 0 || strcmp(a, "--timeout") == 0) {
            need = a;
        } else if (a[0] == '-' && a[1] != 0) {
            cli_error("download", "unknown option \"%s\" (see intent download --help)", a);
            return 2;
        } else if (!model) {
            model = a;
        } else {
            cli_error("download", "one MODEL only (got \"%s\" and \"%s\")", model, a);
            return 2;
        }
        if (need) {
            if (i + 1 >= argc) {
                cli_error("download", "%s needs a value", need);
                return 2;
            }
            const char *v = argv[++i];
            if (strcmp(need, "--revision") == 0) {
                o.revision = v;
            } else if (strcmp(need, "--cache-dir") == 0) {
                o.cache_dir = v;
            } else if (strcmp(need, "--endpoint") == 0) {
                o.endpoint = v;
            } else {
                double t;
                if (cli_parse_float("download", "--timeout", v, &t) != 0)
                    return 2;
                if (!(t > 0) || t > 86400) {
                    cli_error("download", "--timeout: expected seconds in (0, 86400], got \"%s\"",
                              v);
                    return 2;
                }
                o.timeout_s = t;
            }
        }
    }
    if (!model) {
        cli_error("download", "MODEL missing (see intent download --help)");
        return 2;
    }
    struct ic_err err = {0};
    char *dir = NULL;
    int rc = ic_hub_resolve(model, &o, &dir, &err);
    if (rc != IC_OK) {
        cli_error("download", "%s", err.msg);
        return rc == IC_ERR_INVAL ? 2 : 1;
    }
    printf("%s\n", dir);
    ic_free(dir);
    return fflush(stdout) == 0 ? 0 : 1;
}
