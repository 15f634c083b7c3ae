// Child-process signals in the test executable go to one thread that does
// nothing else. The tests start many processes (nats-server, Python and
// Node clients, openssl); a SIGCHLD is delivered to any thread that does
// not block it, and ThreadSanitizer's runtime crashes (a read at 0x1048)
// when that thread is in the middle of exiting. So SIGCHLD is blocked in
// the main thread before any other thread exists (every thread inherits
// the mask) and left open only in this one, which never exits.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

static void *child_signal_thread(void *arg) {
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    for (;;) pause();
    return NULL;
}

__attribute__((constructor)) static void route_child_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_t thread;
    if (pthread_create(&thread, NULL, child_signal_thread, NULL) == 0) pthread_detach(thread);
}
