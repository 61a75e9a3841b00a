/* test_bert.c - BERT forward/backward: smoke checks, determinism, padding
 * invariance, dropout, and golden parity with the PyTorch reference
 * (tests/golden/model, written by tools/gen_golden.py). */
#include <math.h>
#include <string.h>

#include "intent/bert.h"
#include "test.h"

static void tiny_config(struct ic_bert_config *c)
{
    ic_bert_config_default(c);
    c->vocab_size = 50;
    c->hidden_size = 16;
    c->num_layers = 2;
    c->num_heads = 2;
    c->intermediate_size = 24;
    c->max_position = 16;
    c->num_labels = 3;
}

TEST(bert_forward_smoke)
{
    struct ic_bert_config c;
    tiny_config(&c);
    struct ic_bert m;
    struct ic_err err;
    ASSERT_OK_ERR(ic_bert_init(&m, &c, &err), err);
    struct ic_rng rng;
    ic_rng_seed(&rng, 1);
    ic_bert_init_weights(&m, &rng);
    struct ic_bert_state s;
    ASSERT_OK_ERR(ic_bert_state_init(&s, &c, 4, 8, 1, &err), err);
    int32_t ids[2 * 5] = {1, 5, 7, 2, 0, 1, 9, 2, 0, 0};
    int32_t mask[2 * 5] = {1, 1, 1, 1, 0, 1, 1, 1, 0, 0};
    int32_t labels[2] = {2, 0};
    struct ic_batch b = {2, 5, ids, NULL, mask, labels};
    ASSERT_OK(ic_bert_forward(&m, &s, &b, NULL));
    for (int i = 0; i < 2; i++) {
        float sum = 0;
        for (int j = 0; j < 3; j++)
            sum += s.probs[i * 3 + j];
        ASSERT_NEAR(sum, 1.0, 1e-5);
    }
    ASSERT(isfinite(s.loss) && s.loss > 0);
    ic_bert_zero_grad(&s);
    ASSERT_OK(ic_bert_backward(&m, &s, &b));
    double gn = 0;
    for (size_t i = 0; i < m.num_params; i++)
        gn += (double)s.grads[i] * s.grads[i];
    ASSERT(isfinite(gn) && gn > 0);
    ic_bert_state_free(&s);
    ic_bert_free(&m);
}
