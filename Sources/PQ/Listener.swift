import Foundation
import Logging

/// A dedicated connection that LISTENs on channels and delivers each NOTIFY to `onNotification`.
///
/// Runs on a thread of its own. When the connection is lost it reconnects (with a growing pause), listens
/// again, and calls `onNotification` with channel `""` so the consumer re-checks what it might have missed.
public final class Listener: Sendable {
    private let stopFlag = StopFlag()

    public init(
        conninfo: String,
        channels: [String],
        logger: Logger = Logger(label: "baton.pq.listener"),
        onNotification: @escaping @Sendable (_ channel: String, _ payload: String) -> Void
    ) {
        let thread = Thread { [stopFlag] in
            var pause = 0.1
            while !stopFlag.isSet {
                do {
                    let connection = try Connection(conninfo: conninfo)
                    for channel in channels {
                        try connection.execute("LISTEN \"\(channel.replacingOccurrences(of: "\"", with: "\"\""))\"")
                    }
                    onNotification("", "")
                    pause = 0.1
                    while !stopFlag.isSet {
                        for note in try connection.waitForNotifications(timeoutMilliseconds: 200) {
                            onNotification(note.channel, note.payload)
                        }
                    }
                } catch {
                    logger.warning("listener connection lost; reconnecting", metadata: ["baton.error.message": "\(error)"])
                    Thread.sleep(forTimeInterval: pause)
                    pause = min(pause * 2, 5)
                }
            }
        }
        thread.name = "baton.pq.listener"
        thread.start()
    }

    deinit { stopFlag.set() }

    public func stop() { stopFlag.set() }
}

final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
