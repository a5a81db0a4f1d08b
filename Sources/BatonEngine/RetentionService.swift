import BatonCore
import BatonStore
import Foundation
import Logging
import ServiceLifecycle

/// The retention maintainer (docs/operations.md, "Retention"): every `serve`, `up` and `worker` runs one; every
/// `policy.interval` each tries to sweep and the advisory lock lets one of them do it (River's leader-elected
/// maintenance services are the model). A failed sweep is logged and counted (`baton_retention_sweep_failures_total`)
/// and tried again at the next interval.
public struct RetentionService: Service {
    let store: RetentionStore
    let policy: RetentionPolicy
    let removeFiles: @Sendable ([UUID]) throws -> Void
    let logger: Logger

    /// `removeFiles` deletes what this process knows of an expired run's files (artifact folders, worktrees).
    public init(store: RetentionStore, policy: RetentionPolicy, removeFiles: @escaping @Sendable ([UUID]) throws -> Void, logger: Logger) {
        self.store = store
        self.policy = policy
        self.removeFiles = removeFiles
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            // A first sweep soon after start, then one per interval; replicas started together contend once.
            try await Task.sleep(for: min(policy.interval, .seconds(30)))
            while !Task.isCancelled {
                await sweepOnce()
                try await Task.sleep(for: policy.interval)
            }
        }
    }

    /// One attempt; returns what it did (nil when it failed).
    @discardableResult
    public func sweepOnce() async -> RetentionSweep? {
        do {
            let sweep = try await store.sweep(policy, removeFiles: removeFiles)
            if sweep.swept, sweep.removed.values.contains(where: { $0 > 0 }) {
                logger.info("retention sweep", metadata: [
                    "baton.retention.removed": "\(sweep.removed.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))",
                    "baton.retention.seconds": "\(String(format: "%.2f", sweep.seconds))",
                ])
            }
            return sweep
        } catch {
            logger.warning("retention sweep failed; retrying at the next interval", metadata: ["baton.error.message": "\(error)"])
            return nil
        }
    }
}

/// Deletes the files Baton keeps per run: `<artifacts>/<folder>/<run id>` for every top-level folder of the artifacts
/// root (the spec workflow's is `spec_workflows`) and `<data>/worktrees/<run id>`.
public struct RunFiles: Sendable {
    public let artifacts: URL
    public let worktrees: URL

    public init(artifacts: URL, worktrees: URL) {
        self.artifacts = artifacts
        self.worktrees = worktrees
    }

    public func remove(_ runs: [UUID]) throws {
        let manager = FileManager.default
        let folders = ((try? manager.contentsOfDirectory(at: artifacts, includingPropertiesForKeys: nil)) ?? [])
            .filter { (try? $0.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true }
        for run in runs {
            let name = run.uuidString.lowercased()
            for folder in folders + [worktrees] {
                let path = folder.appendingPathComponent(name, isDirectory: true)
                guard manager.fileExists(atPath: path.path) else { continue }
                do { try manager.removeItem(at: path) } catch {
                    throw RunFilesError(description: "could not delete \(path.path) of expired run \(name): \(error.localizedDescription); fix its permissions, the next sweep tries again")
                }
            }
        }
    }
}

public struct RunFilesError: Error, CustomStringConvertible, Sendable {
    public let description: String
}
