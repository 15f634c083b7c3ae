import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The `shaddock` executable started as a user starts it: its stderr
/// captured, stopped by its pid when the test is done with it.
final class ShaddockProcess: @unchecked Sendable {
    let process: Process
    let output: CapturedOutput

    static var binary: URL {
        // Tests run from the build folder that holds the executable.
        let bundle = Bundle.main.bundleURL
        for dir in [bundle, bundle.deletingLastPathComponent()] {
            let candidate = dir.appendingPathComponent("shaddock")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return repositoryRoot.appendingPathComponent(".build/debug/shaddock")
    }

    /// `prefix` runs it through another command that execs it (`ip netns
    /// exec NAME`, see NetworkNamespace), so the pid is still its own.
    init(_ arguments: [String], prefix: [String] = []) throws {
        (process, output) = try Self.launch(arguments, prefix: prefix)
    }

    /// Starts the executable; the caller owns the process.
    static func launch(_ arguments: [String], prefix: [String] = []) throws -> (Process, CapturedOutput) {
        let process = Process()
        if let first = prefix.first {
            process.executableURL = URL(fileURLWithPath: first)
            process.arguments = Array(prefix.dropFirst()) + [binary.path] + arguments
        } else {
            process.executableURL = binary
            process.arguments = arguments
        }
        process.currentDirectoryURL = repositoryRoot
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        // Under AddressSanitizer the binary checks for leaks at exit, and a
        // leak makes its exit status non-zero (the test runner's own check
        // is off: see docs/testing.md, "Sanitizers").
        var environment = ProcessInfo.processInfo.environment
        environment["ASAN_OPTIONS"] = "detect_leaks=1"
        process.environment = environment
        try process.run()
        return (process, CapturedOutput(err))
    }

    var pid: pid_t { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// SIGTERM (a drain), then waits; returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// SIGKILL: gone at once, announcing nothing.
    func kill() {
        if process.isRunning { Glibc.kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { if process.isRunning { kill() } }
}

/// Waits until something listens on `port` (or gives up after `timeout`).
func waitForListener(port: Int, timeout: Double = 20) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if canConnect(port: port) { return true }
        usleep(20_000)
    }
    return false
}

/// Runs `body` on a new detached POSIX thread. The body, and everything it
/// captures, is released inside the thread function. Foundation's `Thread`
/// would keep its block until the thread's exit-time TSD destructors; a
/// deinit run there that touches a run loop (NATSTestServer.stop waits on
/// its Process, which asks for the thread's run loop) makes CoreFoundation
/// tear that run loop down after ThreadSanitizer has finalized the thread,
/// and the allocation in that teardown crashes its runtime (a read at
/// 0x1048).
func detachThread(_ body: @escaping @Sendable () -> Void) {
    let arg = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var tid = pthread_t()
    let rc = pthread_create(&tid, nil, { arg in
        Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue().body()
        return nil
    }, arg)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    pthread_detach(tid)
}
