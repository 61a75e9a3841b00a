/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rng.c - explicit-state xoshiro256** generator seeded with splitmix64.
 * Deterministic across platforms; used for init, shuffles, splits, dropout.
 */
#include <math.h>

#include "intent/ic.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void ic_rng_seed(struct ic_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t ic_rng_u64(struct ic_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint32_t ic_rng_below(struct ic_rng *r, uint32_t n)
{
    if (n <= 1)
        return 0;
    /* Lemire's multiply-shift with rejection: unbiased. */
    uint64_t m = (uint64_t)(uint32_t)(ic_rng_u64(r) >> 32) * n;
    uint32_t l = (uint32_t)m;
    if (l < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (l < t) {
            m = (uint64_t)(uint32_t)(ic_rng_u64(r) >> 32) * n;
            l = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

float ic_rng_uniform(struct ic_rng *r)
{
    return (float)(ic_rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}

float ic_rng_normal(struct ic_rng *r)
{
    /* Box-Muller on doubles; one value per call keeps the state simple. */
    double u1 = ((double)(ic_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(ic_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void ic_rng_shuffle_u32(struct ic_rng *r, uint32_t *v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        uint32_t j = ic_rng_below(r, (uint32_t)i);
        uint32_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}
