/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hub.h - resolving a model reference ("org/name" or a directory) to a local
 * directory the way Hugging Face users expect: a local directory, else the
 * Hugging Face cache (the layout Python's huggingface_hub writes), else a
 * download from the Hub into that cache.
 *
 * Cache layout (shared with huggingface_hub, see docs/hub.md):
 *   <cache>/models--<org>--<name>/blobs/<etag>
 *   <cache>/models--<org>--<name>/refs/<revision>          (holds the commit)
 *   <cache>/models--<org>--<name>/snapshots/<commit>/<file> -> ../../blobs/<etag>
 *   <cache>/models--<org>--<name>/.no_exist/<commit>/<file> (file known absent)
 *
 * Thread-safety: functions touch no global state except through getenv and
 * libcurl's global init (done once by the caller or lazily here); two
 * processes downloading the same model at once do not corrupt the cache
 * (blobs are written to a temporary name and renamed), but may each
 * download it.
 */
#ifndef IC_HUB_H
#define IC_HUB_H

#include "intent/ic.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ic_hub_opts {
    const char *endpoint;  /* NULL: $HF_ENDPOINT or https://huggingface.co */
    const char *revision;  /* NULL: "main" */
    const char *cache_dir; /* NULL: $HF_HUB_CACHE, $HUGGINGFACE_HUB_CACHE, $HF_HOME/hub,
                              $XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub */
    const char *token;     /* NULL: $HF_TOKEN, $HUGGING_FACE_HUB_TOKEN, the file
                              $HF_TOKEN_PATH or $HF_HOME/token (~/.cache/huggingface/token) */
    int offline;           /* -1: from $HF_HUB_OFFLINE / $TRANSFORMERS_OFFLINE; 0 no; 1 yes */
    double timeout_s;      /* <= 0: $HF_HUB_ETAG_TIMEOUT / $HF_HUB_DOWNLOAD_TIMEOUT, else 10 */
    int refresh;           /* 0: a complete cached snapshot is used without any request;
                              1: ask the Hub for the revision's current commit first (as
                              `intent download` does), falling back to the cache when the
                              Hub cannot be reached */
};

/* Fills o with the defaults above (all NULL, offline = -1, timeout_s = 0, refresh = 0). */
void ic_hub_default_opts(struct ic_hub_opts *o);

/* Resolves a model reference to a local directory holding config.json,
 * weights (model.safetensors, else pytorch_model.bin) and the tokenizer files
 * the repository has (vocab.txt, tokenizer.json, tokenizer_config.json,
 * special_tokens_map.json):
 *   - an existing local directory -> itself;
 *   - else "org/name" (or "name") in the cache, refs/<rev> -> snapshots/<commit>/
 *     (or snapshots/<rev>/ for a 40-hex commit), when the snapshot has
 *     config.json and weights -> that snapshot directory, with no request
 *     unless o->refresh (works offline: a model downloaded by Python's
 *     huggingface_hub is found);
 *   - else a download from the Hub into the cache in the same layout,
 *     atomically and resumably -> the snapshot directory.
 * o may be NULL (defaults). Returns IC_OK, IC_ERR_NOTFOUND when the model
 * cannot be had (offline and not cached, repository or required file absent,
 * Hub unreachable and nothing cached), IC_ERR_NET for other network failures
 * (an interrupted transfer, a 5xx with nothing cached), IC_ERR_INVAL for a
 * malformed reference, IC_ERR_IO for cache write failures; err says why in one
 * line. *out_dir: caller frees with ic_free. */
int ic_hub_resolve(const char *model, const struct ic_hub_opts *o, char **out_dir,
                   struct ic_err *err) IC_WUR;

/* The cache directory o selects (see cache_dir above). Caller frees with
 * ic_free. Never fails (falls back to ".cache/huggingface/hub" without HOME). */
char *ic_hub_cache_dir(const struct ic_hub_opts *o);

#ifdef __cplusplus
}
#endif
#endif
