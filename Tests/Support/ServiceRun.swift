import Foundation
import Logging
import ServiceLifecycle

/// A service (an `APIServer`, a worker) running in a task of its own, stopped as production stops it: a graceful
/// shutdown, not a cancellation. Cancelling a Hummingbird server's task can drop a connection it accepted but had not
/// yet served, and NIO then traps ("Deinited NIOAsyncWriter without calling finish()", swift-nio#2637), killing the
/// whole test process. Only if the graceful shutdown has not ended within 60 s (a failure bound, ServiceLifecycle's
/// `maximumGracefulShutdownDuration`) is the service cancelled.
public final class ServiceRun: Sendable {
    private let group: ServiceGroup
    private let task: Task<Void, Error>

    public init(_ service: some Service) {
        var logger = Logger(label: "test-service")
        logger.logLevel = .critical
        var configuration = ServiceGroupConfiguration(services: [.init(service: service)], logger: logger)
        // A failure bound, far above a normal stop: past it, ServiceLifecycle cancels the service.
        configuration.maximumGracefulShutdownDuration = .seconds(60)
        let group = ServiceGroup(configuration: configuration)
        self.group = group
        task = Task { try await group.run() }
    }

    /// Shuts the service down gracefully and waits until it has stopped.
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    /// Runs `body` while `service` runs, then stops it gracefully, also when `body` throws.
    public static func with<T>(_ service: some Service, _ body: () async throws -> T) async throws -> T {
        try await scoped(ServiceRun(service), stop: { await $0.stop() }) { _ in try await body() }
    }
}
