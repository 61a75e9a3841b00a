/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sysmon.c - system metrics with the names and units of MLflow's own
 * monitor (mlflow/system_metrics/metrics/): CPU and memory from
 * /proc/stat and /proc/meminfo, disk from statvfs("/"), network from
 * /proc/net/dev (cumulative since the sampler started), NVIDIA GPUs from
 * NVML loaded with dlopen at run time (no library or no GPU: no GPU metrics,
 * no error). Values are rounded to one decimal as MLflow's aggregate does
 * (network is not rounded, as in MLflow).
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "track/track_int.h"

#define MAX_GPUS 16

/* NVML's public ABI (nvml.h): only what we call. */
struct nvml_memory {
    unsigned long long total, free, used;
};
struct nvml_util {
    unsigned int gpu, memory;
};
typedef int (*nvml_init_fn)(void);
typedef int (*nvml_count_fn)(unsigned int *);
typedef int (*nvml_handle_fn)(unsigned int, void **);
typedef int (*nvml_mem_fn)(void *, struct nvml_memory *);
typedef int (*nvml_util_fn)(void *, struct nvml_util *);
typedef int (*nvml_uint_fn)(void *, unsigned int *);
typedef int (*nvml_shutdown_fn)(void);

struct ic__sysmon {
    unsigned long long cpu_total, cpu_idle; /* last /proc/stat reading */
    int have_cpu;
    double net_rx0, net_tx0; /* bytes at start */
    int have_net;
    void *nvml;
    unsigned int n_gpus;
    void *gpu[MAX_GPUS];
    nvml_mem_fn mem;
    nvml_util_fn util;
    nvml_uint_fn power, power_limit;
    nvml_shutdown_fn shutdown;
    char names[MAX_GPUS][5][48];
};

static int read_cpu(unsigned long long *total, unsigned long long *idle)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    unsigned long long v[10] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    fclose(f);
    if (n < 4)
        return 0;
    /* psutil: busy = total - idle - iowait; guest time is already in user/nice */
    unsigned long long t = 0;
    for (int i = 0; i < 8 && i < n; i++)
        t += v[i];
    *total = t;
    *idle = v[3] + (n > 4 ? v[4] : 0);
    return 1;
}

static int read_net(double *rx, double *tx)
{
    FILE *f = fopen("/proc/net/dev", "r");
    if (!f)
        return 0;
    char line[512];
    double r = 0, t = 0;
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue; /* the two header lines */
        unsigned long long v[9];
        if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]) == 9) {
            r += (double)v[0];
            t += (double)v[8];
            lines++;
        }
    }
    fclose(f);
    *rx = r;
    *tx = t;
    return lines > 0;
}

static int read_mem(double *total, double *used)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    double tot = -1, fre = -1, buffers = 0, cached = 0, sreclaim = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long kb;
        char key[64];
        if (sscanf(line, "%63[^:]: %llu", key, &kb) != 2)
            continue;
        double b = (double)kb * 1024.0;
        if (!strcmp(key, "MemTotal"))
            tot = b;
        else if (!strcmp(key, "MemFree"))
            fre = b;
        else if (!strcmp(key, "Buffers"))
            buffers = b;
        else if (!strcmp(key, "Cached"))
            cached = b;
        else if (!strcmp(key, "SReclaimable"))
            sreclaim = b;
    }
    fclose(f);
    if (tot <= 0 || fre < 0)
        return 0;
    /* psutil.virtual_memory().used on Linux: total - free - buffers - cached
     * (cached includes SReclaimable); falls back to total - free. */
    double u = tot - fre - buffers - cached - sreclaim;
    if (u < 0)
        u = tot - fre;
    *total = tot;
    *used = u;
    return 1;
}

static void nvml_open(struct ic__sysmon *s)
{
    void *h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return;
    /* the _v2 entry points exist since driver 325; older ones only have v1 */
    nvml_init_fn init = (nvml_init_fn)dlsym(h, "nvmlInit_v2");
    if (!init)
        init = (nvml_init_fn)dlsym(h, "nvmlInit");
    nvml_count_fn count = (nvml_count_fn)dlsym(h, "nvmlDeviceGetCount_v2");
    if (!count)
        count = (nvml_count_fn)dlsym(h, "nvmlDeviceGetCount");
    nvml_handle_fn handle = (nvml_handle_fn)dlsym(h, "nvmlDeviceGetHandleByIndex_v2");
    if (!handle)
        handle = (nvml_handle_fn)dlsym(h, "nvmlDeviceGetHandleByIndex");
    s->mem = (nvml_mem_fn)dlsym(h, "nvmlDeviceGetMemoryInfo");
    s->util = (nvml_util_fn)dlsym(h, "nvmlDeviceGetUtilizationRates");
    s->power = (nvml_uint_fn)dlsym(h, "nvmlDeviceGetPowerUsage");
    s->power_limit = (nvml_uint_fn)dlsym(h, "nvmlDeviceGetEnforcedPowerLimit");
    s->shutdown = (nvml_shutdown_fn)dlsym(h, "nvmlShutdown");
    unsigned int n = 0;
    if (!init || !count || !handle || !s->mem || !s->util || init() != 0) {
        dlclose(h);
        return;
    }
    if (count(&n) != 0)
        n = 0;
    if (n > MAX_GPUS)
        n = MAX_GPUS;
    s->nvml = h;
    for (unsigned int i = 0; i < n; i++) {
        if (handle(i, &s->gpu[s->n_gpus]) != 0)
            break;
        static const char *const what[5] = {"utilization_percentage", "memory_usage_megabytes",
                                            "memory_usage_percentage", "power_usage_watts",
                                            "power_usage_percentage"};
        for (int k = 0; k < 5; k++)
            snprintf(s->names[i][k], sizeof s->names[i][k], "system/gpu_%u_%s", i, what[k]);
        s->n_gpus++;
    }
}

struct ic__sysmon *ic__sysmon_new(void)
{
    struct ic__sysmon *s = ic_xcalloc(1, sizeof *s);
    s->have_cpu = read_cpu(&s->cpu_total, &s->cpu_idle);
    s->have_net = read_net(&s->net_rx0, &s->net_tx0);
    nvml_open(s);
    return s;
}

void ic__sysmon_free(struct ic__sysmon *s)
{
    if (!s)
        return;
    if (s->nvml) {
        if (s->shutdown)
            s->shutdown();
        dlclose(s->nvml);
    }
    ic_free(s);
}

static double round1(double v)
{
    return round(v * 10.0) / 10.0;
}

#define PUT(name, v)                    \
    do {                                \
        if (n < cap) {                  \
            names[n] = (name);          \
            values[n] = (v);            \
            n++;                        \
        }                               \
    } while (0)

size_t ic__sysmon_sample(struct ic__sysmon *s, const char **names, double *values, size_t cap)
{
    size_t n = 0;
    unsigned long long tot, idle;
    if (read_cpu(&tot, &idle)) {
        double pct = 0.0;
        if (s->have_cpu && tot > s->cpu_total) {
            double dt = (double)(tot - s->cpu_total);
            double di = idle >= s->cpu_idle ? (double)(idle - s->cpu_idle) : 0.0;
            pct = 100.0 * (dt - di) / dt;
            if (pct < 0)
                pct = 0;
        }
        s->cpu_total = tot;
        s->cpu_idle = idle;
        s->have_cpu = 1;
        PUT("system/cpu_utilization_percentage", round1(pct));
    }
    double mt, mu;
    if (read_mem(&mt, &mu)) {
        PUT("system/system_memory_usage_megabytes", round1(mu / 1e6));
        PUT("system/system_memory_usage_percentage", round1(mu / mt * 100.0));
    }
    struct statvfs vfs;
    if (statvfs("/", &vfs) == 0 && vfs.f_blocks > 0) {
        double fr = (double)vfs.f_frsize;
        double used = (double)(vfs.f_blocks - vfs.f_bfree) * fr;
        double avail = (double)vfs.f_bavail * fr;
        double pct = used + avail > 0 ? used / (used + avail) * 100.0 : 0.0;
        PUT("system/disk_usage_percentage", round1(pct));
        PUT("system/disk_usage_megabytes", round1(used / 1e6));
        PUT("system/disk_available_megabytes", round1(avail / 1e6));
    }
    double rx, tx;
    if (read_net(&rx, &tx)) {
        if (!s->have_net) {
            s->net_rx0 = rx;
            s->net_tx0 = tx;
            s->have_net = 1;
        }
        PUT("system/network_receive_megabytes", rx / 1e6 - s->net_rx0 / 1e6);
        PUT("system/network_transmit_megabytes", tx / 1e6 - s->net_tx0 / 1e6);
    }
    for (unsigned int i = 0; i < s->n_gpus; i++) {
        struct nvml_memory m;
        struct nvml_util u;
        unsigned int mw, lim;
        if (s->util(s->gpu[i], &u) == 0)
            PUT(s->names[i][0], round1((double)u.gpu));
        if (s->mem(s->gpu[i], &m) == 0 && m.total > 0) {
            PUT(s->names[i][1], round1((double)m.used / 1e6));
            PUT(s->names[i][2], round1((double)m.used / (double)m.total * 100.0));
        }
        if (s->power && s->power(s->gpu[i], &mw) == 0) {
            PUT(s->names[i][3], round1(mw / 1000.0));
            if (s->power_limit && s->power_limit(s->gpu[i], &lim) == 0 && lim > 0)
                PUT(s->names[i][4], round1((double)mw / (double)lim * 100.0));
        }
    }
    return n;
}
