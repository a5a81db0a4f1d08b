import BatonCore
import BatonStore
import Logging

/// Writes a running step's events and artifact records under its lease (see `QueueStore.appendEvent`).
struct LeasedRecorder: StepEventSink, StepArtifactSink {
    let queue: any JobSource
    let job: ClaimedJob
    let logger: Logger

    func emit(level: String, kind: String, message: String, payload: String) async {
        do {
            if try await !queue.appendEvent(job: job, level: level, kind: kind, message: message, payload: payload) {
                logger.warning("event dropped: this worker no longer holds the step's lease", metadata: ["baton.event.kind": "\(kind)"])
            }
        } catch {
            logger.error("could not record a step event", metadata: ["baton.event.kind": "\(kind)", "baton.error.message": "\(error)"])
        }
    }

    func record(_ artifact: ArtifactRecord) async {
        do {
            if try await !queue.recordArtifact(job: job, artifact) {
                logger.warning("artifact not recorded: this worker no longer holds the step's lease", metadata: ["baton.artifact.path": "\(artifact.relativePath)"])
            }
        } catch {
            logger.error("could not record an artifact", metadata: ["baton.artifact.path": "\(artifact.relativePath)", "baton.error.message": "\(error)"])
        }
    }
}
