/* SPDX-License-Identifier: Apache-2.0 */
/*
 * calib.c - temperature scaling, expected calibration error, energy and
 * Mahalanobis out-of-scope scores, threshold choice and out-of-scope
 * metrics, and the fallback decision (include/intent/calib.h).
 *
 * All sums run in double; features, logits and stored statistics are float.
 * Only ic_maha_fit and the threshold helpers allocate (sorted copies).
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "intent/calib.h"

/* LAPACK (shipped inside OpenBLAS), Fortran calling convention: everything
 * by pointer, the hidden length of the character argument last. */
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t ul);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t ul);

// --- temperature scaling ----------------------------------------------------

static double row_max(const float *z, int L)
{
    double mx = z[0];
    for (int j = 1; j < L; j++)
        if (z[j] > mx)
            mx = z[j];
    return mx;
}

void ic_softmax_temp(float *probs, const float *logits, int L, double T)
{
    double mx = row_max(logits, L), sum = 0;
    for (int j = 0; j < L; j++)
        sum += exp((logits[j] - mx) / T);
    for (int j = 0; j < L; j++)
        probs[j] = (float)(exp((logits[j] - mx) / T) / sum);
}

/* logsumexp(beta * z) of one row. */
static double row_lse(const float *z, int L, double beta)
{
    double mx = row_max(z, L), sum = 0;
    for (int j = 0; j < L; j++)
        sum += exp(beta * (z[j] - mx));
    return beta * mx + log(sum);
}

double ic_temp_nll(const float *logits, const int32_t *labels, size_t n, int L, double T)
{
    double beta = 1.0 / T, s = 0;
    for (size_t i = 0; i < n; i++) {
        const float *z = logits + i * (size_t)L;
        s += row_lse(z, L, beta) - beta * z[labels[i]];
    }
    return n ? s / (double)n : 0.0;
}

/* First and second derivatives of the mean NLL in beta = 1/T:
 *   f'(beta)  = mean_i (E_p[z_i] - z_i,y_i)
 *   f''(beta) = mean_i Var_p[z_i]          with p = softmax(beta z_i). */
static void nll_derivs(const float *logits, const int32_t *labels, size_t n, int L, double beta,
                       double *g, double *h)
{
    double sg = 0, sh = 0;
    for (size_t i = 0; i < n; i++) {
        const float *z = logits + i * (size_t)L;
        double mx = row_max(z, L), sum = 0, m1 = 0, m2 = 0;
        for (int j = 0; j < L; j++) {
            double e = exp(beta * (z[j] - mx)), d = z[j] - mx;
            sum += e;
            m1 += e * d;
            m2 += e * d * d;
        }
        m1 /= sum;
        m2 /= sum;
        sg += m1 - (z[labels[i]] - mx);
        sh += m2 - m1 * m1;
    }
    *g = sg / (double)n;
    *h = sh / (double)n;
}

static int check_logits(const float *logits, const int32_t *labels, size_t n, int L,
                        struct ic_err *err)
{
    if (n == 0)
        return ic_errf(err, IC_ERR_INVAL, "temperature fit: no examples");
    if (L < 2)
        return ic_errf(err, IC_ERR_INVAL, "temperature fit: %d label(s), need at least 2", L);
    for (size_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= L)
            return ic_errf(err, IC_ERR_INVAL, "temperature fit: example %zu: label %d not in [0, %d)",
                           i, (int)labels[i], L);
        for (int j = 0; j < L; j++)
            if (!isfinite(logits[i * (size_t)L + j]))
                return ic_errf(err, IC_ERR_INVAL, "temperature fit: example %zu: logit %d is not finite",
                               i, j);
    }
    return IC_OK;
}

int ic_temp_fit(const float *logits, const int32_t *labels, size_t n, int L, double *T_out,
                struct ic_err *err)
{
    int rc = check_logits(logits, labels, n, L, err);
    if (rc)
        return rc;
    double lo = 1.0 / IC_TEMP_MAX, hi = 1.0 / IC_TEMP_MIN, g, h;
    nll_derivs(logits, labels, n, L, lo, &g, &h);
    if (g >= 0) { /* NLL rises from the smallest beta on: T as large as allowed */
        *T_out = IC_TEMP_MAX;
        return IC_OK;
    }
    nll_derivs(logits, labels, n, L, hi, &g, &h);
    if (g <= 0) { /* still falling at the largest beta (near-separable data) */
        *T_out = IC_TEMP_MIN;
        return IC_OK;
    }
    /* f' is monotone: keep the bracket [lo, hi] around its root, take Newton
     * steps inside it and geometric bisection (the range spans 4 decades)
     * when Newton would leave it. */
    double beta = 1.0;
    for (int it = 0; it < 200 && hi - lo > 1e-13 * hi; it++) {
        nll_derivs(logits, labels, n, L, beta, &g, &h);
        if (g == 0)
            break;
        if (g > 0)
            hi = beta;
        else
            lo = beta;
        double next = h > 0 ? beta - g / h : -1;
        if (!(next > lo && next < hi))
            next = sqrt(lo * hi);
        if (fabs(next - beta) <= 1e-15 * beta)
            break;
        beta = next;
    }
    *T_out = 1.0 / beta;
    return IC_OK;
}

// --- expected calibration error ---------------------------------------------

/* Bin b holds (b/15, (b+1)/15]; the boundaries are computed as b / 15.0 so
 * a confidence on a boundary lands in the lower bin. */
static int ece_bin(double c)
{
    int b = (int)(c * IC_ECE_BINS);
    if (b > IC_ECE_BINS - 1)
        b = IC_ECE_BINS - 1;
    if (b < 0)
        b = 0;
    while (b > 0 && c <= (double)b / IC_ECE_BINS)
        b--;
    while (b < IC_ECE_BINS - 1 && c > (double)(b + 1) / IC_ECE_BINS)
        b++;
    return b;
}

double ic_ece(const float *confidence, const uint8_t *correct, size_t n, struct ic_reliability *r)
{
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < n; i++) {
        int b = ece_bin(confidence[i]);
        r->count[b]++;
        r->confidence[b] += confidence[i];
        r->accuracy[b] += correct[i] ? 1.0 : 0.0;
    }
    r->n = (int64_t)n;
    for (int b = 0; b < IC_ECE_BINS; b++) {
        if (!r->count[b])
            continue;
        r->confidence[b] /= (double)r->count[b];
        r->accuracy[b] /= (double)r->count[b];
        r->ece += (double)r->count[b] / (double)n * fabs(r->accuracy[b] - r->confidence[b]);
    }
    return r->ece;
}

// --- energy -----------------------------------------------------------------

double ic_energy_score(const float *logits, int L, double T)
{
    return T * row_lse(logits, L, 1.0 / T);
}

// --- Mahalanobis ------------------------------------------------------------

void ic_maha_free(struct ic_maha *m)
{
    if (!m)
        return;
    ic_free(m->means);
    ic_free(m->precision);
    ic_free(m->pm);
    ic_free(m->mpm);
    memset(m, 0, sizeof *m);
}

/* pm = P mu_c and mpm = mu_c' P mu_c, from the stored float values. */
static void maha_derive(struct ic_maha *m)
{
    size_t C = (size_t)m->n_classes, D = (size_t)m->dim;
    m->pm = ic_xcalloc(C * D, sizeof *m->pm);
    m->mpm = ic_xcalloc(C, sizeof *m->mpm);
    for (size_t c = 0; c < C; c++) {
        const float *mu = m->means + c * D;
        double q = 0;
        for (size_t i = 0; i < D; i++) {
            double s = 0;
            for (size_t j = 0; j < D; j++)
                s += (double)m->precision[i * D + j] * mu[j];
            m->pm[c * D + i] = s;
            q += s * mu[i];
        }
        m->mpm[c] = q;
    }
}

static int maha_check_input(const float *feats, const int32_t *labels, size_t n, int C, int D,
                            double shrinkage, struct ic_err *err)
{
    if (n == 0 || C < 1 || D < 1 || D > 65536)
        return ic_errf(err, IC_ERR_INVAL, "Mahalanobis fit: bad sizes (n %zu, classes %d, dim %d)", n,
                       C, D);
    if (!(shrinkage >= 0 && shrinkage <= 1))
        return ic_errf(err, IC_ERR_INVAL, "Mahalanobis fit: shrinkage %g not in [0, 1]", shrinkage);
    for (size_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= C)
            return ic_errf(err, IC_ERR_INVAL, "Mahalanobis fit: example %zu: label %d not in [0, %d)",
                           i, (int)labels[i], C);
        for (int j = 0; j < D; j++)
            if (!isfinite(feats[i * (size_t)D + j]))
                return ic_errf(err, IC_ERR_INVAL,
                               "Mahalanobis fit: example %zu: feature %d is not finite", i, j);
    }
    return IC_OK;
}

/* Class means (C, D) in double; counts (C). */
static void maha_means(const float *feats, const int32_t *labels, size_t n, size_t C, size_t D,
                       double *mean, int64_t *count)
{
    for (size_t i = 0; i < n; i++) {
        size_t c = (size_t)labels[i];
        count[c]++;
        for (size_t j = 0; j < D; j++)
            mean[c * D + j] += feats[i * D + j];
    }
    for (size_t c = 0; c < C; c++)
        for (size_t j = 0; j < D; j++)
            mean[c * D + j] = count[c] ? mean[c * D + j] / (double)count[c] : 0.0;
}

/* S = 1/n sum (x - mu_y)(x - mu_y)', accumulated by dsyrk over chunks of
 * centred rows; the full symmetric matrix is returned (D, D). */
static void maha_cov(const float *feats, const int32_t *labels, size_t n, size_t D,
                     const double *mean, double *S)
{
    const size_t chunk = 512;
    double *X = ic_xmalloc(chunk * D * sizeof *X);
    for (size_t i0 = 0; i0 < n; i0 += chunk) {
        size_t rows = n - i0 < chunk ? n - i0 : chunk;
        for (size_t r = 0; r < rows; r++) {
            const double *mu = mean + (size_t)labels[i0 + r] * D;
            for (size_t j = 0; j < D; j++)
                X[r * D + j] = feats[(i0 + r) * D + j] - mu[j];
        }
        /* row-major upper triangle of X'X */
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)D, (int)rows, 1.0, X, (int)D,
                    1.0, S, (int)D);
    }
    ic_free(X);
    for (size_t i = 0; i < D; i++)
        for (size_t j = i; j < D; j++) {
            S[i * D + j] /= (double)n;
            S[j * D + i] = S[i * D + j];
        }
}

/* In-place inverse of the symmetric positive definite A (D, D). A is
 * symmetric, so row- and column-major agree; LAPACK fills one triangle,
 * mirrored afterwards. Returns the LAPACK info (0 = done). */
static int spd_inverse(double *A, int D)
{
    int info = 0;
    dpotrf_("L", &D, A, &D, &info, 1);
    if (info == 0)
        dpotri_("L", &D, A, &D, &info, 1);
    if (info != 0)
        return info;
    size_t n = (size_t)D;
    for (size_t c = 0; c < n; c++)         /* column-major lower: (r, c) at r + c*n, r >= c */
        for (size_t r = c + 1; r < n; r++)
            A[c + r * n] = A[r + c * n];
    return 0;
}

int ic_maha_fit(struct ic_maha *m, const float *feats, const int32_t *labels, size_t n, int C,
                int D, double shrinkage, struct ic_err *err)
{
    memset(m, 0, sizeof *m);
    int rc = maha_check_input(feats, labels, n, C, D, shrinkage, err);
    if (rc)
        return rc;
    size_t Cz = (size_t)C, Dz = (size_t)D;
    double *mean = ic_xcalloc(Cz * Dz, sizeof *mean);
    int64_t *count = ic_xcalloc(Cz, sizeof *count);
    double *S = ic_xcalloc(Dz * Dz, sizeof *S);
    maha_means(feats, labels, n, Cz, Dz, mean, count);
    maha_cov(feats, labels, n, Dz, mean, S);
    double tr = 0;
    for (size_t i = 0; i < Dz; i++)
        tr += S[i * Dz + i];
    for (size_t i = 0; i < Dz * Dz; i++)
        S[i] *= 1 - shrinkage;
    for (size_t i = 0; i < Dz; i++)
        S[i * Dz + i] += shrinkage * tr / (double)D;
    int info = spd_inverse(S, D);
    if (info != 0) {
        rc = ic_errf(err, IC_ERR_RANGE,
                     "Mahalanobis fit: the shared covariance (%d x %d) is not positive definite "
                     "(LAPACK info %d); use a shrinkage above %g", D, D, info, shrinkage);
        goto out;
    }
    m->n_classes = C;
    m->dim = D;
    m->means = ic_xmalloc(Cz * Dz * sizeof *m->means);
    m->precision = ic_xmalloc(Dz * Dz * sizeof *m->precision);
    for (size_t i = 0; i < Cz * Dz; i++)
        m->means[i] = count[i / Dz] ? (float)mean[i] : NAN; /* NaN marks an empty class */
    for (size_t i = 0; i < Dz * Dz; i++)
        m->precision[i] = (float)S[i];
    maha_derive(m);
out:
    ic_free(mean);
    ic_free(count);
    ic_free(S);
    return rc;
}

int ic_maha_set(struct ic_maha *m, const float *means, const float *precision, int C, int D,
                struct ic_err *err)
{
    memset(m, 0, sizeof *m);
    if (C < 1 || D < 1 || D > 65536)
        return ic_errf(err, IC_ERR_INVAL, "Mahalanobis statistics: bad sizes (%d classes, dim %d)",
                       C, D);
    size_t Cz = (size_t)C, Dz = (size_t)D;
    for (size_t i = 0; i < Dz * Dz; i++)
        if (!isfinite(precision[i]))
            return ic_errf(err, IC_ERR_INVAL, "Mahalanobis statistics: precision[%zu] is not finite",
                           i);
    for (size_t i = 0; i < Cz * Dz; i++)
        if (isinf(means[i]))
            return ic_errf(err, IC_ERR_INVAL, "Mahalanobis statistics: means[%zu] is infinite", i);
    m->n_classes = C;
    m->dim = D;
    m->means = ic_xmalloc(Cz * Dz * sizeof *m->means);
    m->precision = ic_xmalloc(Dz * Dz * sizeof *m->precision);
    memcpy(m->means, means, Cz * Dz * sizeof *m->means);
    memcpy(m->precision, precision, Dz * Dz * sizeof *m->precision);
    maha_derive(m);
    return IC_OK;
}

double ic_maha_distance(const struct ic_maha *m, const float *x, double *scratch, int *nearest)
{
    size_t D = (size_t)m->dim;
    double xpx = 0;
    for (size_t i = 0; i < D; i++) {
        double s = 0;
        for (size_t j = 0; j < D; j++)
            s += (double)m->precision[i * D + j] * x[j];
        scratch[i] = s;
        xpx += s * x[i];
    }
    double best = INFINITY;
    int arg = -1;
    for (int c = 0; c < m->n_classes; c++) {
        if (isnan(m->means[(size_t)c * D]))
            continue; /* no training example of this class */
        const double *pm = m->pm + (size_t)c * D;
        double dot = 0;
        for (size_t j = 0; j < D; j++)
            dot += pm[j] * x[j];
        double d = xpx - 2 * dot + m->mpm[c];
        if (d < best) {
            best = d;
            arg = c;
        }
    }
    if (nearest)
        *nearest = arg;
    return best < 0 ? 0 : best; /* rounding can dip a hair below zero */
}

// --- thresholds and metrics -------------------------------------------------

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double ic_oos_threshold_keep(const double *in_scores, size_t n, double keep)
{
    IC_ASSERT(n > 0);
    double *s = ic_xmalloc(n * sizeof *s);
    memcpy(s, in_scores, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    /* s[k] keeps n - k scores (more with ties); the largest k with
     * n - k >= keep * n. The small slack absorbs keep * n rounding. */
    double drop = (1.0 - keep) * (double)n + 1e-9;
    size_t k = drop <= 0 ? 0 : (size_t)floor(drop);
    if (k > n - 1)
        k = n - 1;
    double t = s[k];
    ic_free(s);
    return t;
}

struct scored {
    double s;
    uint8_t oos;
};

static int cmp_scored(const void *a, const void *b)
{
    const struct scored *x = a, *y = b;
    return (x->s > y->s) - (x->s < y->s);
}

static struct scored *sorted_scored(const double *scores, const uint8_t *is_oos, size_t n)
{
    struct scored *v = ic_xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i].s = scores[i];
        v[i].oos = is_oos[i] ? 1 : 0;
    }
    qsort(v, n, sizeof *v, cmp_scored);
    return v;
}

double ic_oos_threshold_f1(const double *scores, const uint8_t *is_oos, size_t n, double *best_f1)
{
    IC_ASSERT(n > 0);
    struct scored *v = sorted_scored(scores, is_oos, n);
    size_t n_oos = 0;
    for (size_t i = 0; i < n; i++)
        n_oos += v[i].oos;
    /* Cut k: the k lowest scores are called out-of-scope; F1 = 2 TP / (k + n_oos). */
    double best = -1, thr = v[0].s;
    size_t tp = 0;
    for (size_t k = 0; k <= n; k++) {
        if (k > 0)
            tp += v[k - 1].oos;
        if (k > 0 && k < n && v[k - 1].s == v[k].s)
            continue; /* not a cut between distinct scores */
        double f1 = (k + n_oos) ? 2.0 * (double)tp / (double)(k + n_oos) : 0.0;
        if (f1 >= best) {
            best = f1;
            if (k == 0)
                thr = v[0].s;
            else if (k == n)
                thr = nextafter(v[n - 1].s, INFINITY);
            else
                thr = v[k - 1].s + (v[k].s - v[k - 1].s) / 2;
        }
    }
    ic_free(v);
    if (best_f1)
        *best_f1 = best;
    return thr;
}

double ic_oos_auroc(const double *scores, const uint8_t *is_oos, size_t n)
{
    struct scored *v = sorted_scored(scores, is_oos, n);
    double rank_in = 0;
    size_t n_in = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j].s == v[i].s)
            j++;
        double avg = (double)(i + 1 + j) / 2.0; /* mean of ranks i+1 .. j */
        for (size_t k = i; k < j; k++)
            if (!v[k].oos) {
                rank_in += avg;
                n_in++;
            }
        i = j;
    }
    ic_free(v);
    size_t n_oos = n - n_in;
    if (!n_in || !n_oos)
        return NAN;
    return (rank_in - (double)n_in * (double)(n_in + 1) / 2.0) / ((double)n_in * (double)n_oos);
}

double ic_oos_fpr_at_tpr(const double *scores, const uint8_t *is_oos, size_t n, double tpr)
{
    size_t n_in = 0;
    for (size_t i = 0; i < n; i++)
        n_in += !is_oos[i];
    if (!n_in || n_in == n)
        return NAN;
    double *in = ic_xmalloc(n_in * sizeof *in);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_oos[i])
            in[k++] = scores[i];
    double t = ic_oos_threshold_keep(in, n_in, tpr);
    ic_free(in);
    size_t accepted = 0;
    for (size_t i = 0; i < n; i++)
        accepted += is_oos[i] && scores[i] >= t;
    return (double)accepted / (double)(n - n_in);
}

void ic_oos_metrics_at(const double *scores, const int32_t *pred, const int32_t *truth, size_t n,
                       int oos_label, double threshold, struct ic_oos_metrics *out)
{
    memset(out, 0, sizeof *out);
    int64_t in_ok = 0, in_kept = 0, tp = 0, said_oos = 0;
    for (size_t i = 0; i < n; i++) {
        int reject = (oos_label >= 0 && pred[i] == oos_label) || scores[i] < threshold;
        int oos = oos_label >= 0 && truth[i] == oos_label;
        said_oos += reject;
        if (oos) {
            out->n_oos++;
            tp += reject;
        } else {
            out->n_in++;
            in_kept += !reject;
            in_ok += !reject && pred[i] == truth[i];
        }
    }
    out->in_accuracy = out->n_in ? (double)in_ok / (double)out->n_in : 0.0;
    out->in_kept = out->n_in ? (double)in_kept / (double)out->n_in : 0.0;
    out->oos_recall = out->n_oos ? (double)tp / (double)out->n_oos : 0.0;
    out->oos_precision = said_oos ? (double)tp / (double)said_oos : 0.0;
    double d = out->oos_precision + out->oos_recall;
    out->oos_f1 = d > 0 ? 2 * out->oos_precision * out->oos_recall / d : 0.0;
}

void ic_oos_quantiles(const double *scores, size_t n, double *scratch, float *q, int K)
{
    IC_ASSERT(n > 0 && K >= 2);
    memcpy(scratch, scores, n * sizeof *scratch);
    qsort(scratch, n, sizeof *scratch, cmp_double);
    for (int k = 0; k < K; k++) {
        double pos = (double)k / (K - 1) * (double)(n - 1); /* numpy's "linear" */
        size_t lo = (size_t)floor(pos);
        size_t hi = lo + 1 < n ? lo + 1 : lo;
        double f = pos - (double)lo;
        q[k] = (float)(scratch[lo] + (scratch[hi] - scratch[lo]) * f);
    }
}

double ic_oos_cdf(const float *q, int K, double score)
{
    if (!(score > q[0]))
        return 0.0; /* also NaN */
    if (score >= q[K - 1])
        return 1.0;
    int lo = 0, hi = K - 1; /* invariant: q[lo] < score <= q[hi] */
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        if (q[mid] < score)
            lo = mid;
        else
            hi = mid;
    }
    double f = (score - q[lo]) / ((double)q[hi] - q[lo]);
    return ((double)lo + f) / (double)(K - 1);
}

// --- fallback ---------------------------------------------------------------

enum ic_fallback_reason ic_fallback_decide(double score, double p1, double p2, double threshold,
                                           double ambiguity_threshold)
{
    if (threshold > 0 && !(score >= threshold))
        return IC_FALLBACK_LOW_SCORE;
    if (ambiguity_threshold > 0 && p2 >= 0 && p1 - p2 < ambiguity_threshold)
        return IC_FALLBACK_AMBIGUOUS;
    return IC_FALLBACK_NONE;
}

const char *ic_fallback_reason_name(enum ic_fallback_reason r)
{
    switch (r) {
    case IC_FALLBACK_LOW_SCORE:
        return "low_score";
    case IC_FALLBACK_AMBIGUOUS:
        return "ambiguous";
    case IC_FALLBACK_OOS_CLASS:
        return "oos_class";
    default:
        return "none";
    }
}

int ic_parse_threshold(const char *s, const char *what, double *out, struct ic_err *err)
{
    if (!s || !*s)
        return ic_errf(err, IC_ERR_INVAL, "%s: empty value; expected a number in [0, 1]", what);
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    while (end && (*end == ' ' || *end == '\t'))
        end++;
    if (end == s || (end && *end) || errno == ERANGE)
        return ic_errf(err, IC_ERR_INVAL, "%s: \"%s\" is not a number; expected a number in [0, 1]",
                       what, s);
    if (!(v >= 0 && v <= 1))
        return ic_errf(err, IC_ERR_INVAL, "%s: %s is outside [0, 1]", what, s);
    *out = v;
    return IC_OK;
}
