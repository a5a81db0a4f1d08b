import BatonCore
import Foundation
import SpecWorkflow
import Testing

@Suite("finding a feature's tasks.md")
struct FeatureLocatorTests {
    func repository() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("baton-spec-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("specs/001-albums"), withIntermediateDirectories: true)
        try "## Phase 1\n- [ ] T001 do it\n".write(to: root.appendingPathComponent("specs/001-albums/tasks.md"), atomically: true, encoding: .utf8)
        return root
    }

    func code(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch { return (error as? StepError).map { "\($0.code)|\($0.message)|\($0.retryable)" } }
    }

    @Test func byKeyAndByActiveFeature() throws {
        let root = try repository()
        let byKey = try FeatureLocator.locate(repositoryRoot: root, featureKey: "001-albums")
        #expect(byKey.tasksPath == "specs/001-albums/tasks.md" && byKey.tasks.nextPhase?.remaining.first?.id == "T001")
        try FileManager.default.createDirectory(at: root.appendingPathComponent(".specify"), withIntermediateDirectories: true)
        try #"{"feature_directory": "/home/dev/app/specs/001-albums"}"#.write(to: root.appendingPathComponent(".specify/feature.json"), atomically: true, encoding: .utf8)
        #expect(try FeatureLocator.locate(repositoryRoot: root, featureKey: nil).featureKey == "001-albums")
    }

    @Test func traversalAndEscapesAreRefused() throws {
        let root = try repository()
        for key in ["../001-albums", "a/b", "..", ".", "", "x y"] {
            #expect(code { _ = try FeatureLocator.locate(repositoryRoot: root, featureKey: key) }?.hasPrefix("invalid_feature_key|") == true)
        }
        // A feature folder that is a symlink out of the repository.
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("baton-outside-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try "- [ ] T001 secret\n".write(to: outside.appendingPathComponent("tasks.md"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("specs/evil"), withDestinationURL: outside)
        #expect(code { _ = try FeatureLocator.locate(repositoryRoot: root, featureKey: "evil") }?.hasPrefix("path_outside_repository|") == true)
    }

    @Test func missingFeatureAndUnreadableTasksSayWhichPath() throws {
        let root = try repository()
        let missing = code { _ = try FeatureLocator.locate(repositoryRoot: root, featureKey: "002-nope") }
        #expect(missing?.hasPrefix("feature_not_found|no feature folder specs/002-nope/") == true && missing?.hasSuffix("|false") == true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("specs/003-empty"), withIntermediateDirectories: true)
        #expect(code { _ = try FeatureLocator.locate(repositoryRoot: root, featureKey: "003-empty") }?.contains("cannot read specs/003-empty/tasks.md") == true)
        #expect(code { _ = try FeatureLocator.locate(repositoryRoot: root, featureKey: nil) }?.contains(".specify/feature.json") == true)
    }
}
