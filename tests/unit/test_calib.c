/* SPDX-License-Identifier: Apache-2.0 */
/* test_calib.c - temperature scaling, ECE, energy, Mahalanobis, thresholds,
 * out-of-scope metrics and the fallback decision against the references in
 * tests/golden/calib/calib.json (tools/gen_calib_golden.py: PyTorch LBFGS,
 * numpy), plus hand-checked edge cases. */
#include <jansson.h>
#include <stdlib.h>

#include "intent/calib.h"
#include "test.h"

static json_t *load_golden(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/calib/calib.json", test_golden_dir());
    json_error_t je;
    return json_load_file(path, 0, &je);
}

static float *floats(json_t *a, size_t *n)
{
    *n = json_array_size(a);
    float *v = ic_xmalloc((*n ? *n : 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++)
        v[i] = (float)json_number_value(json_array_get(a, i));
    return v;
}

static double *doubles(json_t *a, size_t *n)
{
    *n = json_array_size(a);
    double *v = ic_xmalloc((*n ? *n : 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++)
        v[i] = json_number_value(json_array_get(a, i));
    return v;
}

static int32_t *ints(json_t *a, size_t *n)
{
    *n = json_array_size(a);
    int32_t *v = ic_xmalloc((*n ? *n : 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++)
        v[i] = (int32_t)json_integer_value(json_array_get(a, i));
    return v;
}

static double num(json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

TEST(calib_temperature_matches_torch_lbfgs)
{
    json_t *g = load_golden();
    ASSERT(g);
    json_t *t = json_object_get(g, "temperature");
    size_t nz, n;
    float *z = floats(json_object_get(t, "logits"), &nz);
    int32_t *y = ints(json_object_get(t, "labels"), &n);
    int L = (int)json_integer_value(json_object_get(t, "labels_n"));
    double T = 0;
    struct ic_err err;
    int rc = ic_temp_fit(z, y, n, L, &T, &err);
    double nll = ic_temp_nll(z, y, n, L, T), nll1 = ic_temp_nll(z, y, n, L, 1.0);
    double nll_lo = ic_temp_nll(z, y, n, L, T * 0.999), nll_hi = ic_temp_nll(z, y, n, L, T * 1.001);
    ic_free(z);
    ic_free(y);
    double T_ref = num(t, "T"), nll_ref = num(t, "nll"), nll1_ref = num(t, "nll_T1");
    json_decref(g);
    ASSERT_OK_ERR(rc, err);
    ASSERT_NEAR(T, T_ref, 1e-6 * T_ref);
    ASSERT_NEAR(nll, nll_ref, 1e-9);
    ASSERT_NEAR(nll1, nll1_ref, 1e-9);
    ASSERT(nll < nll1);                     /* scaling helped this over-confident set */
    ASSERT(nll <= nll_lo && nll <= nll_hi); /* a minimum, not just a stationary point */
}

TEST(calib_temperature_edges)
{
    struct ic_err err;
    double T = 0;
    /* separable: NLL keeps falling as T -> 0, clamped */
    float z[] = {5, 0, 0, 5, 4, 1};
    int32_t y[] = {0, 1, 0};
    ASSERT_OK_ERR(ic_temp_fit(z, y, 3, 2, &T, &err), err);
    ASSERT_NEAR(T, IC_TEMP_MIN, 1e-12);
    /* wrong on purpose: the best temperature is the largest */
    int32_t bad[] = {1, 0, 1};
    ASSERT_OK_ERR(ic_temp_fit(z, bad, 3, 2, &T, &err), err);
    ASSERT_NEAR(T, IC_TEMP_MAX, 1e-12);
    /* bad input names the example */
    int32_t oob[] = {0, 2, 0};
    ASSERT_EQ(ic_temp_fit(z, oob, 3, 2, &T, &err), IC_ERR_INVAL);
    ASSERT_CONTAINS(err.msg, "example 1: label 2");
    float zn[] = {5, 0, NAN, 5};
    ASSERT_EQ(ic_temp_fit(zn, y, 2, 2, &T, &err), IC_ERR_INVAL);
    ASSERT_CONTAINS(err.msg, "example 1: logit 0");
    ASSERT_EQ(ic_temp_fit(z, y, 0, 2, &T, &err), IC_ERR_INVAL);
    ASSERT_EQ(ic_temp_fit(z, y, 3, 1, &T, &err), IC_ERR_INVAL);
    /* softmax at T: T -> larger flattens */
    float p[2], q[2];
    ic_softmax_temp(p, z, 2, 1.0);
    ic_softmax_temp(q, z, 2, 5.0);
    ASSERT_NEAR(p[0], 1.0 / (1.0 + exp(-5.0)), 1e-7);
    ASSERT_NEAR(q[0], 1.0 / (1.0 + exp(-1.0)), 1e-7);
}

static void check_ece_case(json_t *c, const float *z, const int32_t *y, size_t n, int L,
                           int *failed)
{
    double T = num(c, "T");
    float *conf = ic_xmalloc(n * sizeof *conf), *p = ic_xmalloc((size_t)L * sizeof *p);
    uint8_t *ok = ic_xmalloc(n);
    for (size_t i = 0; i < n; i++) {
        ic_softmax_temp(p, z + i * (size_t)L, L, T);
        int a = 0;
        for (int j = 1; j < L; j++)
            if (p[j] > p[a])
                a = j;
        conf[i] = p[a];
        ok[i] = a == y[i];
    }
    struct ic_reliability r;
    double e = ic_ece(conf, ok, n, &r);
    json_t *bins = json_object_get(c, "bins");
    *failed = fabs(e - num(c, "ece")) > 1e-6 || r.n != (int64_t)n;
    for (int b = 0; b < IC_ECE_BINS; b++) {
        json_t *jb = json_array_get(bins, (size_t)b);
        if (r.count[b] != json_integer_value(json_object_get(jb, "count")) ||
            fabs(r.confidence[b] - num(jb, "confidence")) > 1e-6 ||
            fabs(r.accuracy[b] - num(jb, "accuracy")) > 1e-12) {
            fprintf(stderr, "ece bin %d (T %g): count %lld conf %.9g acc %.9g\n", b, T,
                    (long long)r.count[b], r.confidence[b], r.accuracy[b]);
            *failed = 1;
        }
    }
    ic_free(conf);
    ic_free(p);
    ic_free(ok);
}

TEST(calib_ece_matches_numpy)
{
    json_t *g = load_golden();
    ASSERT(g);
    json_t *t = json_object_get(g, "temperature");
    size_t nz, n;
    float *z = floats(json_object_get(t, "logits"), &nz);
    int32_t *y = ints(json_object_get(t, "labels"), &n);
    int L = (int)json_integer_value(json_object_get(t, "labels_n"));
    int f0 = 1, f1 = 1;
    check_ece_case(json_array_get(json_object_get(g, "ece"), 0), z, y, n, L, &f0);
    check_ece_case(json_array_get(json_object_get(g, "ece"), 1), z, y, n, L, &f1);
    double e0 = num(json_array_get(json_object_get(g, "ece"), 0), "ece");
    double e1 = num(json_array_get(json_object_get(g, "ece"), 1), "ece");
    ic_free(z);
    ic_free(y);
    json_decref(g);
    ASSERT(!f0);
    ASSERT(!f1);
    ASSERT(e1 < e0 / 3); /* the fixture is over-confident: scaling fixes most of it */

    /* boundaries: 1/15 belongs to bin 0, 1.0 to bin 14, 0 to bin 0 */
    float c[] = {1.0f / 15, 1.0f, 0.0f, 0.5f};
    uint8_t ok[] = {1, 1, 0, 0};
    struct ic_reliability r;
    ic_ece(c, ok, 4, &r);
    ASSERT_EQ(r.count[0] + r.count[1], 2);
    ASSERT_EQ(r.count[14], 1);
    ASSERT_EQ(r.count[7], 1);
    ASSERT_NEAR(ic_ece(c, ok, 0, &r), 0, 0);
}

TEST(calib_energy_matches_torch)
{
    json_t *g = load_golden();
    ASSERT(g);
    json_t *t = json_object_get(g, "temperature"), *e = json_object_get(g, "energy");
    size_t nz, n1, nT;
    float *z = floats(json_object_get(t, "logits"), &nz);
    double *r1 = doubles(json_object_get(e, "T1"), &n1);
    double *rT = doubles(json_object_get(e, "T"), &nT);
    int L = (int)json_integer_value(json_object_get(t, "labels_n"));
    double T = num(t, "T");
    json_decref(g);
    double worst = 0;
    for (size_t i = 0; i < n1 && i < nT; i++) {
        double a = fabs(ic_energy_score(z + i * (size_t)L, L, 1.0) - r1[i]);
        double b = fabs(ic_energy_score(z + i * (size_t)L, L, T) - rT[i]);
        worst = fmax(worst, fmax(a, b));
    }
    ic_free(z);
    ic_free(r1);
    ic_free(rT);
    ASSERT(n1 == 20 && nT == 20);
    ASSERT_NEAR(worst, 0, 1e-9);
    float big[] = {1000, 999, -1000}; /* no overflow */
    ASSERT_NEAR(ic_energy_score(big, 3, 1.0), 1000 + log(1 + exp(-1.0)), 1e-9);
}

TEST(calib_mahalanobis_matches_numpy)
{
    json_t *g = load_golden();
    ASSERT(g);
    json_t *m = json_object_get(g, "maha");
    size_t nf, n, nq, nd, nm, np_, nn;
    float *x = floats(json_object_get(m, "feats"), &nf);
    int32_t *y = ints(json_object_get(m, "labels"), &n);
    float *q = floats(json_object_get(m, "queries"), &nq);
    double *dref = doubles(json_object_get(m, "distance"), &nd);
    double *mref = doubles(json_object_get(m, "means"), &nm);
    double *pref = doubles(json_object_get(m, "precision"), &np_);
    int32_t *near = ints(json_object_get(m, "nearest"), &nn);
    int D = (int)json_integer_value(json_object_get(m, "dim"));
    int C = (int)json_integer_value(json_object_get(m, "classes"));
    double shrink = num(m, "shrinkage");
    json_decref(g);
    struct ic_maha mh, again;
    struct ic_err err;
    int rc = ic_maha_fit(&mh, x, y, n, C, D, shrink, &err);
    double wd = 0, wm = 0, wp = 0, pscale = 0;
    int wrong_near = 0, empty_ok = 0, rc2 = -1;
    double *scratch = ic_xmalloc((size_t)D * sizeof *scratch);
    if (rc == IC_OK) {
        for (size_t i = 0; i < nm; i++)
            wm = fmax(wm, fabs(mh.means[i] - mref[i]));
        for (size_t i = 0; i < np_; i++) {
            wp = fmax(wp, fabs(mh.precision[i] - pref[i]));
            pscale = fmax(pscale, fabs(pref[i]));
        }
        empty_ok = isnan(mh.means[(size_t)(C - 1) * (size_t)D]); /* class C-1 has no example */
        for (size_t i = 0; i < nd; i++) {
            int c = -1;
            double d = ic_maha_distance(&mh, q + i * (size_t)D, scratch, &c);
            wd = fmax(wd, fabs(d - dref[i]) / fmax(1.0, dref[i]));
            wrong_near += c != near[i];
        }
        /* round trip through storage: same distances */
        rc2 = ic_maha_set(&again, mh.means, mh.precision, C, D, &err);
        if (rc2 == IC_OK) {
            double a = ic_maha_distance(&mh, q, scratch, NULL);
            double b = ic_maha_distance(&again, q, scratch, NULL);
            if (a != b)
                rc2 = -2;
            ic_maha_free(&again);
        }
    }
    ic_maha_free(&mh);
    ic_free(scratch);
    ic_free(x);
    ic_free(y);
    ic_free(q);
    ic_free(dref);
    ic_free(mref);
    ic_free(pref);
    ic_free(near);
    ASSERT_OK_ERR(rc, err);
    ASSERT(nd == 25 && nm == (size_t)(C - 1) * (size_t)D);
    ASSERT_NEAR(wm, 0, 1e-5);
    ASSERT_NEAR(wp, 0, 1e-6 * pscale);
    ASSERT_NEAR(wd, 0, 1e-5);
    ASSERT_EQ(wrong_near, 0);
    ASSERT(empty_ok);
    ASSERT_EQ(rc2, 0);
}

TEST(calib_mahalanobis_bad_input)
{
    struct ic_maha m;
    struct ic_err err;
    /* one constant feature: singular without shrinkage, fine with it */
    float x[] = {1, 0, 2, 0, 3, 0, 5, 0};
    int32_t y[] = {0, 0, 1, 1};
    ASSERT_EQ(ic_maha_fit(&m, x, y, 4, 2, 2, 0.0, &err), IC_ERR_RANGE);
    ASSERT_CONTAINS(err.msg, "not positive definite");
    ASSERT(m.means == NULL);
    ASSERT_OK_ERR(ic_maha_fit(&m, x, y, 4, 2, 2, 0.1, &err), err);
    double s[2];
    float at_mean[] = {1.5f, 0};
    ASSERT_NEAR(ic_maha_distance(&m, at_mean, s, NULL), 0, 1e-6);
    ic_maha_free(&m);
    ic_maha_free(&m); /* twice is fine */
    int32_t yb[] = {0, 0, 3, 1};
    ASSERT_EQ(ic_maha_fit(&m, x, yb, 4, 2, 2, 0.1, &err), IC_ERR_INVAL);
    ASSERT_CONTAINS(err.msg, "example 2: label 3");
    ASSERT_EQ(ic_maha_fit(&m, x, y, 4, 2, 2, 1.5, &err), IC_ERR_INVAL);
    float xn[] = {1, 0, 2, INFINITY, 3, 0, 5, 0};
    ASSERT_EQ(ic_maha_fit(&m, xn, y, 4, 2, 2, 0.1, &err), IC_ERR_INVAL);
    ASSERT_CONTAINS(err.msg, "example 1: feature 1");
    float pn[] = {1, NAN, 0, 1}, mu[] = {0, 0};
    ASSERT_EQ(ic_maha_set(&m, mu, pn, 1, 2, &err), IC_ERR_INVAL);
}

TEST(calib_oos_thresholds_match_reference)
{
    json_t *g = load_golden();
    ASSERT(g);
    json_t *o = json_object_get(g, "oos");
    size_t n, no;
    double *s = doubles(json_object_get(o, "scores"), &n);
    int32_t *flag = ints(json_object_get(o, "is_oos"), &no);
    uint8_t *is_oos = ic_xmalloc(n);
    double *in = ic_xmalloc(n * sizeof *in);
    size_t n_in = 0;
    for (size_t i = 0; i < n; i++) {
        is_oos[i] = flag[i] != 0;
        if (!is_oos[i])
            in[n_in++] = s[i];
    }
    double f1 = 0;
    double thr = ic_oos_threshold_f1(s, is_oos, n, &f1);
    double auroc = ic_oos_auroc(s, is_oos, n);
    double keep = ic_oos_threshold_keep(in, n_in, 0.95);
    double fpr = ic_oos_fpr_at_tpr(s, is_oos, n, 0.95);
    double r_thr = num(o, "f1_threshold"), r_f1 = num(o, "best_f1"), r_auroc = num(o, "auroc");
    double r_keep = num(o, "keep95_threshold"), r_fpr = num(o, "fpr95");
    json_decref(g);
    ic_free(s);
    ic_free(flag);
    ic_free(is_oos);
    ic_free(in);
    ASSERT_NEAR(auroc, r_auroc, 1e-12);
    ASSERT_NEAR(f1, r_f1, 1e-12);
    ASSERT_NEAR(thr, r_thr, 1e-12);
    ASSERT_NEAR(keep, r_keep, 0);
    ASSERT_NEAR(fpr, r_fpr, 1e-12);
}

TEST(calib_oos_metrics_and_edges)
{
    /* labels: 0, 1 in scope, 2 = oos class */
    double sc[] = {0.9, 0.8, 0.2, 0.7, 0.1, 0.95};
    int32_t pred[] = {0, 1, 0, 2, 1, 1}, truth[] = {0, 0, 1, 2, 2, 1};
    struct ic_oos_metrics m;
    ic_oos_metrics_at(sc, pred, truth, 6, 2, 0.5, &m);
    /* in scope: #0 right, #1 wrong, #2 rejected, #5 right -> 2/4; kept 3/4.
     * oos: #3 (oos class), #4 (score) both caught; answers oos: #2 #3 #4 -> 2/3 */
    ASSERT_EQ(m.n_in, 4);
    ASSERT_EQ(m.n_oos, 2);
    ASSERT_NEAR(m.in_accuracy, 0.5, 1e-12);
    ASSERT_NEAR(m.in_kept, 0.75, 1e-12);
    ASSERT_NEAR(m.oos_recall, 1.0, 1e-12);
    ASSERT_NEAR(m.oos_precision, 2.0 / 3, 1e-12);
    ASSERT_NEAR(m.oos_f1, 0.8, 1e-12);
    uint8_t none[] = {0, 0, 0};
    ASSERT(isnan(ic_oos_auroc(sc, none, 3)));
    ASSERT(isnan(ic_oos_fpr_at_tpr(sc, none, 3, 0.95)));
    double one = 0.4;
    ASSERT_NEAR(ic_oos_threshold_keep(&one, 1, 0.95), 0.4, 0);
    ASSERT_NEAR(ic_oos_threshold_keep(sc, 6, 1.0), 0.1, 0);
    ASSERT_NEAR(ic_oos_threshold_keep(sc, 6, 0.5), 0.8, 0); /* keeps 0.8 0.9 0.95 */

    /* quantile CDF: reference 0..100 */
    double ref[101], scratch[101];
    for (int i = 0; i < 101; i++)
        ref[100 - i] = i; /* unsorted on purpose */
    float q[11];
    ic_oos_quantiles(ref, 101, scratch, q, 11);
    ASSERT_NEAR(q[0], 0, 0);
    ASSERT_NEAR(q[5], 50, 0);
    ASSERT_NEAR(ic_oos_cdf(q, 11, 25), 0.25, 1e-12);
    ASSERT_NEAR(ic_oos_cdf(q, 11, -3), 0, 0);
    ASSERT_NEAR(ic_oos_cdf(q, 11, 1000), 1, 0);
    ASSERT_NEAR(ic_oos_cdf(q, 11, NAN), 0, 0);
}

TEST(calib_fallback_rasa_semantics)
{
    /* threshold 0.3, ambiguity 0.1 (Rasa's defaults) */
    ASSERT_EQ(ic_fallback_decide(0.29, 0.29, 0.2, 0.3, 0.1), IC_FALLBACK_LOW_SCORE);
    ASSERT_EQ(ic_fallback_decide(0.3, 0.3, 0.1, 0.3, 0.1), IC_FALLBACK_NONE); /* not below */
    ASSERT_EQ(ic_fallback_decide(0.5, 0.5, 0.45, 0.3, 0.1), IC_FALLBACK_AMBIGUOUS);
    ASSERT_EQ(ic_fallback_decide(0.5, 0.5, 0.45, 0.3, 0), IC_FALLBACK_NONE);  /* disabled */
    ASSERT_EQ(ic_fallback_decide(0.1, 0.1, 0.05, 0, 0), IC_FALLBACK_NONE);
    ASSERT_EQ(ic_fallback_decide(0.9, 0.9, -1, 0.3, 0.1), IC_FALLBACK_NONE);  /* one intent */
    ASSERT_EQ(ic_fallback_decide(NAN, 0.9, 0.0, 0.3, 0.1), IC_FALLBACK_LOW_SCORE);
    ASSERT_STR_EQ(ic_fallback_reason_name(IC_FALLBACK_AMBIGUOUS), "ambiguous");

    double v = -1;
    struct ic_err err;
    ASSERT_OK_ERR(ic_parse_threshold("0.25", "--fallback-threshold", &v, &err), err);
    ASSERT_NEAR(v, 0.25, 0);
    ASSERT_OK_ERR(ic_parse_threshold("1", "x", &v, &err), err);
    ASSERT_EQ(ic_parse_threshold("1.5", "--fallback-threshold", &v, &err), IC_ERR_INVAL);
    ASSERT_CONTAINS(err.msg, "--fallback-threshold: 1.5 is outside [0, 1]");
    ASSERT_EQ(ic_parse_threshold("-0.1", "x", &v, &err), IC_ERR_INVAL);
    ASSERT_EQ(ic_parse_threshold("abc", "ambiguity_threshold", &v, &err), IC_ERR_INVAL);
    ASSERT_CONTAINS(err.msg, "ambiguity_threshold: \"abc\" is not a number");
    ASSERT_EQ(ic_parse_threshold("nan", "x", &v, &err), IC_ERR_INVAL);
    ASSERT_EQ(ic_parse_threshold("0.3x", "x", &v, &err), IC_ERR_INVAL);
    ASSERT_EQ(ic_parse_threshold("", "x", &v, &err), IC_ERR_INVAL);
    ASSERT_NEAR(v, 1, 0); /* untouched by the failures */
}

TEST(calib_model_keys_roundtrip_and_bad_fields)
{
    struct ic_calibration c, back;
    struct ic_err err;
    ASSERT_OK_ERR(ic_calibration_from_json(&c, NULL, "x", &err), err);
    ASSERT(!c.has_temperature && c.temperature == 1.0 && !c.has_oos);
    ASSERT(ic_calibration_to_json(&c) == NULL); /* nothing stored, nothing written */
    c.has_temperature = 1;
    c.temperature = 1.75;
    c.has_oos = 1;
    c.score = IC_OOS_ENERGY;
    c.threshold[IC_OOS_ENERGY] = 0.05;
    c.threshold[IC_OOS_SOFTMAX] = 0.4;
    c.has_quantiles[IC_OOS_ENERGY] = 1;
    for (int k = 0; k < IC_OOS_QUANTILES; k++)
        c.quantiles[IC_OOS_ENERGY][k] = 2.0f + 0.013f * (float)k;
    c.oos_label = ic_xstrdup("oos");
    char *js = ic_calibration_to_json(&c);
    ASSERT(js);
    int rc = ic_calibration_from_json(&back, js, "config.json", &err);
    ic_free(js);
    int same = rc == IC_OK && back.temperature == 1.75 && back.score == IC_OOS_ENERGY &&
               back.threshold[IC_OOS_SOFTMAX] == 0.4 && back.has_quantiles[IC_OOS_ENERGY] &&
               !back.has_quantiles[IC_OOS_MAHALANOBIS] && back.oos_label &&
               !strcmp(back.oos_label, "oos") &&
               !memcmp(back.quantiles[IC_OOS_ENERGY], c.quantiles[IC_OOS_ENERGY],
                       sizeof c.quantiles[IC_OOS_ENERGY]);
    ic_calibration_free(&back);
    ic_calibration_free(&c);
    ASSERT_OK_ERR(rc, err);
    ASSERT(same);
    const char *bad[][2] = {
        {"{\"intent_temperature\": 0}", "\"intent_temperature\" must be a number in [0.01, 100]"},
        {"{\"intent_temperature\": \"1\"}", "\"intent_temperature\" must be a number"},
        {"{\"intent_oos\": []}", "\"intent_oos\" must be an object"},
        {"{\"intent_oos\": {\"score\": \"magic\"}}", "\"intent_oos.score\" must be"},
        {"{\"intent_oos\": {\"threshold\": 1.5}}", "\"intent_oos.threshold\" must be a number in [0, 1]"},
        {"{\"intent_oos\": {\"ambiguity_threshold\": -0.1}}", "intent_oos.ambiguity_threshold"},
        {"{\"intent_oos\": {\"score\": \"energy\"}}", "\"intent_oos.quantiles.energy\" is missing"},
        {"{\"intent_oos\": {\"quantiles\": {\"energy\": [1, 2]}}}", "array of 101 numbers"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rc = ic_calibration_from_json(&c, bad[i][0], "m/config.json", &err);
        ic_calibration_free(&c);
        if (rc != IC_ERR_FORMAT || !strstr(err.msg, bad[i][1]) || !strstr(err.msg, "m/config.json"))
            FAIL("case %zu: rc %d, message \"%s\"", i, rc, err.msg);
    }
}
