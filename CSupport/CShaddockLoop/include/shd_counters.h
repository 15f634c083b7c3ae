// Counters written by one loop thread and read from any thread. Relaxed
// atomics: the writer pays a plain load and store, readers never see a torn
// value, and the race detector knows the access is intended.
#ifndef SHD_COUNTERS_H
#define SHD_COUNTERS_H

#include <stdint.h>

static inline void shd_counter_add(uint64_t *counter, uint64_t n) {
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline uint64_t shd_counter_load(const uint64_t *counter) {
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

#endif
