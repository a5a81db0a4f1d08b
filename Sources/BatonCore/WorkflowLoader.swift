import Foundation
import Yams

/// A workflow file that cannot be used, with the file, the step and the field at fault.
public struct WorkflowFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    /// `steps[1] (submit)`, `link_error`, or empty for the top level.
    public var location: String
    public var field: String
    public var problem: String

    public var description: String {
        var parts = [file]
        if !location.isEmpty { parts.append(location) }
        if !field.isEmpty { parts.append("field '\(field)'") }
        return parts.joined(separator: ": ") + ": " + problem
    }
}

/// Reads workflow definitions from YAML and checks every field before anything runs.
public enum WorkflowLoader {
    /// Loads every `*.yaml`/`*.yml` file in `directory`, keyed by workflow name.
    public static func loadDirectory(_ directory: URL, knownHandlers: Set<String>? = nil) throws -> [String: WorkflowDefinition] {
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { ["yaml", "yml"].contains($0.pathExtension) }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        var workflows: [String: WorkflowDefinition] = [:]
        for file in files {
            let workflow = try load(file: file, knownHandlers: knownHandlers)
            if workflows[workflow.name] != nil {
                throw WorkflowFileError(file: file.path, location: "", field: "name", problem: "workflow \"\(workflow.name)\" is defined by more than one file")
            }
            workflows[workflow.name] = workflow
        }
        return workflows
    }

    public static func load(file: URL, knownHandlers: Set<String>? = nil) throws -> WorkflowDefinition {
        let text: String
        do { text = try String(contentsOf: file, encoding: .utf8) } catch {
            throw WorkflowFileError(file: file.path, location: "", field: "", problem: "cannot read the file (\(error.localizedDescription))")
        }
        return try parse(text, file: file.path, knownHandlers: knownHandlers)
    }

    /// Parses one workflow document. `file` only names the source in errors.
    public static func parse(_ text: String, file: String, knownHandlers: Set<String>? = nil) throws -> WorkflowDefinition {
        let document: Any?
        do { document = try Yams.load(yaml: text) } catch {
            throw WorkflowFileError(file: file, location: "", field: "", problem: "not valid YAML: \(error)")
        }
        let reader = FieldReader(file: file, location: "")
        guard let root = document as? [String: Any] else {
            throw reader.error("", "the document must be a mapping with name, steps and optional version, queue, link_error")
        }
        try reader.rejectUnknown(root, allowed: ["name", "version", "queue", "steps", "link_error", "conflicts", "concurrency"])
        let name = try reader.identifier(root, "name")
        let version = try reader.integer(root, "version", default: 1, range: 1...Int(Int32.max))
        let queue = try reader.identifier(root, "queue", default: "default")
        guard let rawSteps = root["steps"] else { throw reader.error("steps", "is required: a list of at least one step") }
        guard let stepList = rawSteps as? [Any], !stepList.isEmpty else { throw reader.error("steps", "must be a non-empty list of steps") }

        var steps: [StepDefinition] = []
        for (index, rawStep) in stepList.enumerated() {
            var stepReader = FieldReader(file: file, location: "steps[\(index)]")
            let step = try stepReader.step(rawStep, knownHandlers: knownHandlers)
            if steps.contains(where: { $0.name == step.name }) {
                throw stepReader.error("name", "step name \"\(step.name)\" is used twice in this workflow")
            }
            steps.append(step)
        }
        var linkError: StepDefinition?
        if let rawLink = root["link_error"] {
            var linkReader = FieldReader(file: file, location: "link_error")
            let step = try linkReader.step(rawLink, knownHandlers: knownHandlers)
            if steps.contains(where: { $0.name == step.name }) {
                throw linkReader.error("name", "must differ from the chain's step names (\"\(step.name)\" is a chain step)")
            }
            linkError = step
        }
        var conflicts: ConflictPolicy?
        if let raw = root["conflicts"] {
            guard let text = raw as? String, let policy = ConflictPolicy(rawValue: text) else {
                throw reader.error("conflicts", "must be refuse or defer (what a new run does while its repository and feature has an active run)")
            }
            conflicts = policy
        }
        var concurrency: [ConcurrencyLimit]?
        if let raw = root["concurrency"] {
            guard let list = raw as? [Any] else { throw reader.error("concurrency", "must be a list of {capability, max, scope}") }
            concurrency = try list.enumerated().map { index, item in
                try FieldReader(file: file, location: "concurrency[\(index)]").limit(item)
            }
            let capabilities = concurrency!.map(\.capability)
            if Set(capabilities).count != capabilities.count {
                throw reader.error("concurrency", "names a capability twice; one limit per capability")
            }
        }
        return WorkflowDefinition(name: name, version: version, queue: queue, steps: steps, linkError: linkError,
                                  conflicts: conflicts, concurrency: concurrency)
    }
}

/// Reads typed fields out of YAML mappings and words every error with file, location and field.
private struct FieldReader {
    let file: String
    var location: String

    func error(_ field: String, _ problem: String) -> WorkflowFileError {
        WorkflowFileError(file: file, location: location, field: field, problem: problem)
    }

    func rejectUnknown(_ map: [String: Any], allowed: Set<String>, prefix: String = "") throws {
        if let unknown = map.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw error(prefix + unknown, "unknown field; expected one of \(allowed.sorted().joined(separator: ", "))")
        }
    }

    func identifier(_ map: [String: Any], _ key: String, default fallback: String? = nil) throws -> String {
        guard let raw = map[key] else {
            if let fallback { return fallback }
            throw error(key, "is required")
        }
        guard let value = raw as? String, !value.isEmpty,
              value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == ".") }) else {
            throw error(key, "must be a name of letters, digits, '_', '-' or '.' (got \(describe(raw)))")
        }
        return value
    }

    func integer(_ map: [String: Any], _ key: String, default fallback: Int, range: ClosedRange<Int>, field: String? = nil) throws -> Int {
        guard let raw = map[key] else { return fallback }
        guard let value = raw as? Int, range.contains(value) else {
            throw error(field ?? key, "must be a whole number in \(range.lowerBound)...\(range.upperBound) (got \(describe(raw)))")
        }
        return value
    }

    func duration(_ map: [String: Any], _ key: String, default fallback: Duration, field: String? = nil) throws -> Duration {
        guard let raw = map[key] else { return fallback }
        let text: String
        switch raw {
        case let number as Int: text = String(number)
        case let number as Double: text = String(number)
        case let string as String: text = string
        default: text = ""
        }
        guard let value = DurationText.parse(text) else {
            throw error(field ?? key, "must be a duration such as 250ms, 30s, 5m or 1h (got \(describe(raw)))")
        }
        return value
    }

    mutating func step(_ raw: Any, knownHandlers: Set<String>?) throws -> StepDefinition {
        guard let map = raw as? [String: Any] else { throw error("", "a step must be a mapping with name and handler") }
        let name = try identifier(map, "name")
        location += " (\(name))"
        try rejectUnknown(map, allowed: ["name", "handler", "timeout", "retry", "retry_on", "capabilities", "limits", "payload_version"])
        let handler = try identifier(map, "handler")
        if let knownHandlers, !knownHandlers.contains(handler) {
            throw error("handler", "no handler named \"\(handler)\" is registered; known handlers: \(knownHandlers.sorted().joined(separator: ", "))")
        }
        let timeout = try duration(map, "timeout", default: .seconds(60))
        if timeout <= .zero { throw error("timeout", "must be longer than zero") }
        let retry = try map["retry"].map { try policy($0, field: "retry") } ?? .default
        var retryOn: [String: RetryPolicy] = [:]
        if let rawMap = map["retry_on"] {
            guard let codes = rawMap as? [String: Any] else { throw error("retry_on", "must map error codes to retry policies") }
            for (code, rawPolicy) in codes { retryOn[code] = try policy(rawPolicy, field: "retry_on.\(code)") }
        }
        var capabilities: [String] = []
        if let rawCaps = map["capabilities"] {
            guard let list = rawCaps as? [String], list.allSatisfy({ !$0.isEmpty }) else {
                throw error("capabilities", "must be a list of capability names such as [git, github] (got \(describe(rawCaps)))")
            }
            capabilities = Array(Set(list)).sorted()
        }
        let limits = try map["limits"].map { try resourceLimits($0, timeout: timeout) }
        var step = StepDefinition(name: name, handler: handler, timeout: timeout, retry: retry, retryOn: retryOn, capabilities: capabilities,
                                  limits: limits)
        if map["payload_version"] != nil { step.payloadVersion = try integer(map, "payload_version", default: 1, range: 1...1000) }
        return step
    }

    func limit(_ raw: Any) throws -> ConcurrencyLimit {
        guard let map = raw as? [String: Any] else { throw error("", "a limit must be a mapping with capability, max and optional scope") }
        try rejectUnknown(map, allowed: ["capability", "max", "scope"])
        let capability = try identifier(map, "capability")
        guard map["max"] != nil else { throw error("max", "is required: how many steps needing \(capability) may run at once") }
        let max = try integer(map, "max", default: 1, range: 1...100_000)
        var scope = ConcurrencyLimit.Scope.workflow
        if let raw = map["scope"] {
            guard let text = raw as? String, let value = ConcurrencyLimit.Scope(rawValue: text) else {
                throw error("scope", "must be workflow (one count for the workflow) or repository (one count per repository)")
            }
            scope = value
        }
        return ConcurrencyLimit(capability: capability, max: max, scope: scope)
    }

    /// `limits: {cpu_time: 20m, memory: 4GiB, processes: 256, open_files: 1024, wall_time: 25m}`.
    func resourceLimits(_ raw: Any, timeout: Duration) throws -> ResourceLimits {
        guard let map = raw as? [String: Any] else {
            throw error("limits", "must be a mapping with any of cpu_time, memory, processes, open_files, wall_time (got \(describe(raw)))")
        }
        try rejectUnknown(map, allowed: ["cpu_time", "memory", "processes", "open_files", "wall_time"], prefix: "limits.")
        var limits = ResourceLimits()
        if map["cpu_time"] != nil {
            let cpu = try duration(map, "cpu_time", default: .zero, field: "limits.cpu_time")
            guard cpu >= .seconds(1), cpu.milliseconds % 1000 == 0 else {
                throw error("limits.cpu_time", "must be whole seconds, at least 1s (got \(describe(map["cpu_time"])))")
            }
            limits.cpuTimeSeconds = Int(cpu.milliseconds / 1000)
        }
        if let rawMemory = map["memory"] {
            let text = (rawMemory as? String) ?? (rawMemory as? Int).map(String.init) ?? ""
            guard let bytes = ByteSizeText.parse(text), bytes >= 16 << 20 else {
                throw error("limits.memory", "must be a size of at least 16MiB such as 512MiB, 4GiB or a number of bytes (got \(describe(rawMemory)))")
            }
            limits.memoryBytes = bytes
        }
        if map["processes"] != nil { limits.processes = try integer(map, "processes", default: 0, range: 1...1_000_000, field: "limits.processes") }
        if map["open_files"] != nil { limits.openFiles = try integer(map, "open_files", default: 0, range: 16...1_048_576, field: "limits.open_files") }
        if map["wall_time"] != nil {
            let wall = try duration(map, "wall_time", default: .zero, field: "limits.wall_time")
            if wall <= .zero { throw error("limits.wall_time", "must be longer than zero") }
            if wall > timeout {
                throw error("limits.wall_time", "must not be longer than the step's timeout (\(DurationText.format(timeout))): the timeout would stop the step first")
            }
            limits.wallTimeMilliseconds = wall.milliseconds
        }
        if limits.isEmpty { throw error("limits", "sets no limit; remove it or set any of cpu_time, memory, processes, open_files, wall_time") }
        return limits
    }

    func policy(_ raw: Any, field: String) throws -> RetryPolicy {
        guard let map = raw as? [String: Any] else { throw error(field, "must be a mapping with policy and optional base, cap, max_attempts, jitter") }
        try rejectUnknown(map, allowed: ["policy", "base", "cap", "max_attempts", "jitter"], prefix: field + ".")
        guard let kindText = map["policy"] as? String, let kind = RetryPolicy.Kind(rawValue: kindText) else {
            throw error(field + ".policy", "must be one of none, fixed, linear, exponential (got \(describe(map["policy"])))")
        }
        let base = try duration(map, "base", default: .seconds(1), field: field + ".base")
        let cap = try duration(map, "cap", default: .seconds(300), field: field + ".cap")
        if cap < base { throw error(field + ".cap", "must not be shorter than base (\(DurationText.format(base)))") }
        let maxAttempts = try integer(map, "max_attempts", default: kind == .none ? 1 : 3, range: 1...1000)
        var jitter = 0.0
        if let rawJitter = map["jitter"] {
            guard let value = (rawJitter as? Double) ?? (rawJitter as? Int).map(Double.init), (0...1).contains(value) else {
                throw error(field + ".jitter", "must be a fraction between 0 and 1 (got \(describe(rawJitter)))")
            }
            jitter = value
        }
        if kind == .none && maxAttempts != 1 {
            throw error(field + ".max_attempts", "must be 1 (or left out) when policy is none")
        }
        return RetryPolicy(kind: kind, base: base, cap: cap, maxAttempts: maxAttempts, jitter: jitter)
    }

    private func describe(_ raw: Any?) -> String {
        guard let raw else { return "nothing" }
        if let string = raw as? String { return "\"\(string)\"" }
        return "\(raw)"
    }
}
