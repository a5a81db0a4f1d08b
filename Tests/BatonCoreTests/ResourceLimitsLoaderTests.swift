import BatonCore
import Testing

@Suite("workflow step limits")
struct ResourceLimitsLoaderTests {
    func load(_ limits: String, timeout: String = "30m") throws -> StepDefinition {
        let text = """
        name: spec
        steps:
          - name: submit
            handler: spec.submit
            timeout: \(timeout)
            limits: \(limits)
        """
        return try WorkflowLoader.parse(text, file: "workflows/spec.yaml").steps[0]
    }

    func problem(_ limits: String, timeout: String = "30m") -> String {
        do { _ = try load(limits, timeout: timeout); return "loaded" } catch { return String(describing: error) }
    }

    @Test func everyLimitIsRead() throws {
        let step = try load("{cpu_time: 20m, memory: 4GiB, processes: 256, open_files: 1024, wall_time: 25m}")
        #expect(step.limits == ResourceLimits(cpuTimeSeconds: 1200, memoryBytes: 4 << 30, processes: 256, openFiles: 1024, wallTime: .seconds(1500)))
        #expect(step.limits?.summary == "cpu_time 20m, memory 4GiB, processes 256, open_files 1024, wall_time 25m")
        #expect(try load("{memory: 512M}").limits == ResourceLimits(memoryBytes: 512 << 20))
        #expect(try load("{memory: 268435456}").limits == ResourceLimits(memoryBytes: 256 << 20))
        let none = try WorkflowLoader.parse("name: w\nsteps:\n  - {name: a, handler: noop}\n", file: "w.yaml").steps[0]
        #expect(none.limits == nil)
    }

    @Test func badLimitsNameTheFieldAndTheFix() {
        #expect(problem("{memroy: 4GiB}") == "workflows/spec.yaml: steps[0] (submit): field 'limits.memroy': unknown field; expected one of cpu_time, memory, open_files, processes, wall_time")
        #expect(problem("{memory: lots}").contains("field 'limits.memory': must be a size of at least 16MiB such as 512MiB, 4GiB"))
        #expect(problem("{memory: 1MiB}").contains("field 'limits.memory': must be a size of at least 16MiB"))
        #expect(problem("{processes: 0}").contains("field 'limits.processes': must be a whole number in 1...1000000 (got 0)"))
        #expect(problem("{open_files: 4}").contains("field 'limits.open_files': must be a whole number in 16...1048576"))
        #expect(problem("{cpu_time: 1500ms}").contains("field 'limits.cpu_time': must be whole seconds, at least 1s"))
        #expect(problem("{wall_time: soon}").contains("field 'limits.wall_time': must be a duration"))
        #expect(problem("{wall_time: 2h}").contains("field 'limits.wall_time': must not be longer than the step's timeout (30m)"))
        #expect(problem("{}").contains("field 'limits': sets no limit"))
        #expect(problem("4GiB").contains("field 'limits': must be a mapping"))
    }

    @Test func byteSizes() {
        #expect(ByteSizeText.parse("64KiB") == 65_536 && ByteSizeText.parse("1.5G") == 1_610_612_736 && ByteSizeText.parse("12") == 12)
        #expect(ByteSizeText.parse("-1") == nil && ByteSizeText.parse("4 parsecs") == nil)
        #expect(ByteSizeText.format(64 << 20) == "64MiB" && ByteSizeText.format(1000) == "1000B")
    }
}
