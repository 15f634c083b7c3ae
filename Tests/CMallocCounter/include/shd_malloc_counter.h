// Counts calls into the C allocator made by chosen threads, for tests that
// assert a code path allocates nothing. Swift Testing runs tests in parallel
// in one process, so counting is switched on per thread: the allocations of
// other tests' threads are never counted.
//
// The counter replaces malloc and its relatives in the test executable (see
// shd_malloc_counter.c); calls are forwarded to glibc's allocator unchanged.
#ifndef SHD_MALLOC_COUNTER_H
#define SHD_MALLOC_COUNTER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Starts (on != 0) or stops counting the calling thread's allocations.
/// With SHD_MALLOC_TRAP=1 in the environment, a counted allocation aborts, so
/// a debugger shows what allocated.
void shd_count_allocations_on_this_thread(int on);

/// Allocations counted so far on every counting thread together.
uint64_t shd_counted_allocations(void);

/// 1 if the replacements really are what the process calls: an allocation
/// made inside libc (a shared library) on this thread reached them. 0 when
/// they are compiled out (sanitizer builds bring their own allocator) or the
/// executable does not export them.
int shd_malloc_counter_active(void);

#ifdef __cplusplus
}
#endif

#endif
