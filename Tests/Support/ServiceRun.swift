import Foundation
import Logging
import ServiceLifecycle

/// A service (an `APIServer`, a worker) running in a task of its own, stopped as production stops it: a graceful
/// shutdown, not a cancellation. Cancelling a Hummingbird server's task can drop a connection it accepted but had not
/// yet served, and NIO then traps ("Deinited NIOAsyncWriter without calling finish()", swift-nio#2637), killing the
/// whole test process. Only if the graceful shutdown has not ended within `grace` (a failure bound) is the task
/// cancelled.
public final class ServiceRun: Sendable {
    private let group: ServiceGroup
    private let task: Task<Void, Error>

    public init(_ service: some Service) {
        var logger = Logger(label: "test-service")
        logger.logLevel = .critical
        let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: logger))
        self.group = group
        task = Task { try await group.run() }
    }

    /// Shuts the service down gracefully and waits until it has stopped.
    public func stop(grace: Duration = .seconds(60)) async {
        await group.triggerGracefulShutdown()
        let task = self.task
        let bound = Task {
            try await Task.sleep(for: grace)  // a failure bound, not a synchronisation: the stop normally ends first
            task.cancel()
        }
        _ = try? await task.value
        bound.cancel()
    }

    /// Runs `body` while `service` runs, then stops it gracefully, also when `body` throws.
    public static func with<T>(_ service: some Service, _ body: () async throws -> T) async throws -> T {
        try await scoped(ServiceRun(service), stop: { await $0.stop() }) { _ in try await body() }
    }
}
