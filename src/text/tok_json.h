/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tok_json.h - tokenizer.json and legacy files of the BPE and Unigram
 * families (tok_json.c, tok_unigram.c). Internal to src/text/.
 */
#ifndef IC_TEXT_TOK_JSON_H
#define IC_TEXT_TOK_JSON_H

#include <jansson.h>

#include "intent/tokenizer.h"

/* 1 if root.model is a WordPiece model (read by tokenizer_io.c). */
int ic__tok_json_is_wordpiece(json_t *root);
/* Builds t from a parsed tokenizer.json (path for messages) whose model is
 * not WordPiece; cfg = tokenizer_config.json (or NULL) for the pad / unk /
 * mask names. On failure t is zeroed. IC_ERR_UNSUPPORTED names the field
 * (model.type, normalizer.type, pre_tokenizer.type, post_processor). */
int ic__tok_from_json(struct ic_tokenizer *t, json_t *root, json_t *cfg, const char *path,
                      long long model_max_length, struct ic_err *err);
/* dir/vocab.json + dir/merges.txt (+ tokenizer_config.json,
 * special_tokens_map.json): RoBERTa's legacy files. */
int ic__bpe_load_legacy(struct ic_tokenizer *t, const char *dir, long long model_max_length,
                        struct ic_err *err);
/* Writes a BPE tokenizer directory (vocab.json, merges.txt,
 * tokenizer.json, tokenizer_config.json, special_tokens_map.json). */
int ic__bpe_save_dir(const struct ic_tokenizer *t, const char *dir, struct ic_err *err);

/* pad / unk / mask ids from cfg's names, else <pad>/[PAD] and so on;
 * model_unk >= 0 wins for unk. */
void ic__tok_pick_specials(struct ic_tokenizer *t, json_t *cfg, int32_t model_unk);
/* bos/eos/unk/sep/pad/cls/mask entries of tokenizer_config.json (AddedToken
 * objects when as_objects) or special_tokens_map.json into obj. */
void ic__tok_config_specials(const struct ic_tokenizer *t, json_t *obj, int as_objects);

/* The parts every family shares after the model: post_processor (start /
 * end token), added_tokens, pad / unk / mask ids. */
int ic__tok_finish_json(struct ic_tokenizer *t, json_t *root, json_t *cfg, const char *path,
                        struct ic_err *err);
/* Reads path (at most max bytes) as one JSON object (duplicate keys refused;
 * flags: extra jansson decoding flags). Errors name the file and line. */
int ic__tok_load_json(const char *path, size_t max, size_t flags, json_t **out,
                      struct ic_err *err);
/* Writes dir/name (indented, keys in insertion order), atomically. */
int ic__tok_put_json(const char *dir, const char *name, json_t *j, struct ic_err *err);

/* Unigram (tok_unigram.c). */
int ic__unigram_from_json(struct ic_tokenizer *t, json_t *root, json_t *cfg, const char *path,
                          struct ic_err *err);
/* dir/sentencepiece.bpe.model (+ tokenizer_config.json) as transformers'
 * XLMRobertaConverter reads it: fairseq ids (<s> <pad> </s> <unk>, pieces
 * from SentencePiece id 3 on shifted by one, <mask> last), the charsmap,
 * space runs collapsed, Metaspace "always". */
int ic__unigram_load_spm(struct ic_tokenizer *t, const char *dir, long long model_max_length,
                         struct ic_err *err);
int ic__unigram_save_dir(const struct ic_tokenizer *t, const char *dir, struct ic_err *err);

#endif
