import BatonCore
import Synchronization

/// What a worker's parts share: the producer's wake-up, whether the worker is stopping, whether the queue was
/// drained at the last claim, and the capabilities it advertises.
final class WorkerState: Sendable {
    let wake = WakeSignal()
    private let flags = Mutex(Flags())

    private struct Flags {
        var stopping = false
        var queueDrained = false
        var advertised: [String] = []
    }

    init(advertised: [String]) {
        flags.withLock { $0.advertised = advertised }
    }

    var stopping: Bool { flags.withLock { $0.stopping } }
    func stop() { flags.withLock { $0.stopping = true } }

    /// Set while the last claim found fewer ready jobs than free slots.
    var queueDrained: Bool {
        get { flags.withLock { $0.queueDrained } }
        set { flags.withLock { $0.queueDrained = newValue } }
    }

    /// The capabilities the worker claims with: the configured ones that its preflight proved.
    var advertised: [String] {
        get { flags.withLock { $0.advertised } }
        set { flags.withLock { $0.advertised = newValue } }
    }
}
