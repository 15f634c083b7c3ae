#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starts a thread that runs `body`; nil if the system refused one.
///
/// The thread blocks the asynchronous signals (it inherits the mask at its
/// creation; they are blocked from the first instruction): an event loop is
/// no place for a signal handler to run, and the process's own handlers
/// (SIGCHLD for child processes, the embedding program's) then run on the
/// threads that expect them. Faults (SIGSEGV and the like) stay unblocked.
func startThread(_ body: @escaping () -> Void) -> pthread_t? {
    let arg = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var tid = pthread_t()
    var all = sigset_t(), previous = sigset_t()
    sigfillset(&all)
    for fault in [SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT] { sigdelset(&all, fault) }
    pthread_sigmask(SIG_BLOCK, &all, &previous)
    defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
    let rc = pthread_create(&tid, nil, { arg in
        Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue().body()
        return nil
    }, arg)
    guard rc == 0 else {
        Unmanaged<ThreadBody>.fromOpaque(arg).release()
        return nil
    }
    return tid
}

private final class ThreadBody {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}
