// The allocator replacements behind shd_malloc_counter.h.
//
// Defining malloc and its relatives in the executable is glibc's supported way
// to replace the allocator: the executable's symbols come first in the
// dynamic linker's search, so libswiftCore, Foundation, libuv and libc itself
// call these. Each one forwards to glibc's own entry point (__libc_malloc and
// friends), so the heap is glibc's and glibc's free releases what they return;
// free is therefore left alone.
//
// A counted call costs one thread-local load more than a plain one, so every
// test in the executable runs at its usual speed.
#define _GNU_SOURCE
#include "shd_malloc_counter.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifndef __has_feature
#define __has_feature(x) 0
#endif

// AddressSanitizer, ThreadSanitizer and MemorySanitizer supply their own
// malloc; defining another would clash with theirs. There the counter is
// inactive and the tests relying on it are skipped.
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) \
    && !__has_feature(address_sanitizer) && !__has_feature(thread_sanitizer) \
    && !__has_feature(memory_sanitizer)
#define SHD_REPLACE_MALLOC 1
#else
#define SHD_REPLACE_MALLOC 0
#endif

enum { NOT_COUNTING = 0, COUNTING = 1, PROBING = 2 };

static _Atomic uint64_t counted;
// The executable's own thread-locals live in static TLS: reading them never
// allocates, so they are safe inside malloc, even on a thread's first call.
// Volatile because the self-check sets them around a call into libc that the
// compiler cannot see reaching malloc here.
static __thread volatile int counting;
// The self-check's hits, kept apart so it never disturbs another thread's count.
static __thread volatile uint64_t probed;
static _Atomic int trap;

void shd_count_allocations_on_this_thread(int on) {
    if (on) {
        const char *value = getenv("SHD_MALLOC_TRAP");
        atomic_store_explicit(&trap, value != NULL && strcmp(value, "1") == 0, memory_order_relaxed);
    }
    counting = on ? COUNTING : NOT_COUNTING;
}

uint64_t shd_counted_allocations(void) {
    return atomic_load_explicit(&counted, memory_order_relaxed);
}

#if SHD_REPLACE_MALLOC

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

static inline void note(void) {
    int mode = counting;
    if (__builtin_expect(mode == NOT_COUNTING, 1)) return;
    if (mode == PROBING) {
        probed += 1;
        return;
    }
    atomic_fetch_add_explicit(&counted, 1, memory_order_relaxed);
    if (atomic_load_explicit(&trap, memory_order_relaxed)) abort();
}

void *malloc(size_t size) {
    note();
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    note();
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    note();
    return __libc_realloc(pointer, size);
}

void *memalign(size_t alignment, size_t size) {
    note();
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    note();
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    note();
    // POSIX: a power of two that is a multiple of sizeof(void *).
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0 || alignment == 0) return EINVAL;
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *result = pointer;
    return 0;
}

void *valloc(size_t size) {
    note();
    return __libc_valloc(size);
}

void *pvalloc(size_t size) {
    note();
    return __libc_pvalloc(size);
}

int shd_malloc_counter_active(void) {
    int saved = counting;
    uint64_t before = probed;
    counting = PROBING;
    // strdup allocates inside libc: counted only if libc's own reference to
    // malloc resolves to the one above. Called through a volatile pointer so
    // the compiler cannot fold the copy and its free away.
    char *(*volatile duplicate)(const char *) = strdup;
    char *copy = duplicate("probe");
    int hit = probed != before;
    counting = saved;
    free(copy);
    return hit;
}

#else

int shd_malloc_counter_active(void) { return 0; }

#endif
