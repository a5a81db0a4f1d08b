import SpecWorkflow
import Testing

@Suite("Codex exec --json events")
struct CodexEventTests {
    @Test func parsesTheEventsBatonFollows() {
        #expect(CodexEvent.parse(#"{"type":"thread.started","thread_id":"0199a213-81c0-7800-8aa1-bbab2a035a53"}"#)
                == .threadStarted(threadID: "0199a213-81c0-7800-8aa1-bbab2a035a53"))
        #expect(CodexEvent.parse(#"{"type":"turn.started"}"#) == .turnStarted)
        #expect(CodexEvent.parse(#"{"type":"item.completed","item":{"id":"item_3","type":"file_change","changes":[{"path":"src/a.ts","kind":"update"},{"path":"src/b.ts","kind":"add"}],"status":"completed"}}"#)
                == .item(phase: "completed", type: "file_change", summary: "update src/a.ts, add src/b.ts"))
        #expect(CodexEvent.parse(#"{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"bash -lc 'npm test'","aggregated_output":"ok","exit_code":0,"status":"completed"}}"#)
                == .item(phase: "completed", type: "command_execution", summary: "bash -lc 'npm test' (exit 0)"))
        #expect(CodexEvent.parse(#"{"type":"item.completed","item":{"id":"item_4","type":"agent_message","text":"Done: T004 and T005."}}"#)
                == .item(phase: "completed", type: "agent_message", summary: "Done: T004 and T005."))
        #expect(CodexEvent.parse(#"{"type":"turn.completed","usage":{"input_tokens":24763,"cached_input_tokens":24448,"output_tokens":122}}"#)
                == .turnCompleted(CodexEvent.Usage(inputTokens: 24763, cachedInputTokens: 24448, outputTokens: 122)))
        #expect(CodexEvent.parse(#"{"type":"turn.failed","error":{"message":"model overloaded"}}"#) == .turnFailed(message: "model overloaded"))
        #expect(CodexEvent.parse(#"{"type":"error","message":"stream disconnected"}"#) == .error(message: "stream disconnected"))
        #expect(CodexEvent.parse("not json at all") == .other("not json at all"))
        #expect(CodexEvent.parse(#"{"type":"something.new"}"#) == .other("something.new"))
    }
}
