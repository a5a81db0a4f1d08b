import SpecWorkflow
import Testing

@Suite("Codex exec --json events")
struct CodexEventTests {
    typealias Item = CodexEvent.Item

    @Test func parsesTheEventsBatonFollows() {
        #expect(CodexEvent.parse(#"{"type":"thread.started","thread_id":"0199a213-81c0-7800-8aa1-bbab2a035a53"}"#)
                == .threadStarted(threadID: "0199a213-81c0-7800-8aa1-bbab2a035a53"))
        #expect(CodexEvent.parse(#"{"type":"turn.started"}"#) == .turnStarted)
        #expect(CodexEvent.parse(#"{"type":"item.completed","item":{"id":"item_3","type":"file_change","changes":[{"path":"src/a.ts","kind":"update"},{"path":"src/b.ts","kind":"add"}],"status":"completed"}}"#)
                == .item(Item(phase: "completed", type: "file_change", summary: "update src/a.ts, add src/b.ts", status: "completed")))
        #expect(CodexEvent.parse(#"{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"bash -lc 'npm test'","aggregated_output":"ok","exit_code":0,"status":"completed"}}"#)
                == .item(Item(phase: "completed", type: "command_execution", summary: "bash -lc 'npm test' (exit 0)", status: "completed", exitCode: 0)))
        #expect(CodexEvent.parse(#"{"type":"item.completed","item":{"id":"item_4","type":"agent_message","text":"Done: T004 and T005."}}"#)
                == .item(phase: "completed", type: "agent_message", summary: "Done: T004 and T005."))
        #expect(CodexEvent.parse(#"{"type":"turn.completed","usage":{"input_tokens":24763,"cached_input_tokens":24448,"output_tokens":122}}"#)
                == .turnCompleted(CodexEvent.Usage(inputTokens: 24763, cachedInputTokens: 24448, outputTokens: 122)))
        #expect(CodexEvent.parse(#"{"type":"turn.failed","error":{"message":"model overloaded"}}"#) == .turnFailed(message: "model overloaded"))
        #expect(CodexEvent.parse(#"{"type":"error","message":"stream disconnected"}"#) == .error(message: "stream disconnected"))
        #expect(CodexEvent.parse("not json at all") == .other("not json at all"))
        #expect(CodexEvent.parse(#"{"type":"something.new"}"#) == .other("something.new"))
    }

    @Test func parsesStatusesExitCodesErrorsAndPlans() {
        #expect(CodexEvent.parse(#"{"type":"item.completed","item":{"id":"i","type":"command_execution","command":"rm -rf /","aggregated_output":"","exit_code":null,"status":"declined"}}"#)
                == .item(Item(phase: "completed", type: "command_execution", summary: "rm -rf /", status: "declined")))
        #expect(CodexEvent.parse(#"{"type":"item.completed","item":{"id":"i","type":"file_change","changes":[{"path":"a.ts","kind":"update"}],"status":"failed"}}"#)
                == .item(Item(phase: "completed", type: "file_change", summary: "update a.ts", status: "failed")))
        #expect(CodexEvent.parse(#"{"type":"item.completed","item":{"id":"i","type":"error","message":"Failed to apply patch"}}"#)
                == .item(Item(phase: "completed", type: "error", summary: "Failed to apply patch", error: "Failed to apply patch")))
        #expect(CodexEvent.parse(#"{"type":"item.completed","item":{"id":"i","type":"mcp_tool_call","server":"db","tool":"query","arguments":{},"result":null,"error":{"message":"connection refused"},"status":"failed"}}"#)
                == .item(Item(phase: "completed", type: "mcp_tool_call", summary: "db.query", status: "failed", error: "connection refused")))
        #expect(CodexEvent.parse(#"{"type":"item.completed","item":{"id":"i","type":"web_search","query":"swift testing"}}"#)
                == .item(Item(phase: "completed", type: "web_search", summary: "swift testing")))
        let plan = CodexEvent.parse(#"{"type":"item.updated","item":{"id":"i","type":"todo_list","items":[{"text":"a","completed":true},{"text":"b","completed":false}]}}"#)
        #expect(plan == .item(Item(phase: "updated", type: "todo_list", summary: "1/2 done: [x] a · [ ] b",
                                   plan: [.init(text: "a", completed: true), .init(text: "b", completed: false)])))
        // The older plan shape (steps with a status) reads the same way.
        let older = CodexEvent.parse(#"{"type":"item.started","item":{"id":"i","type":"plan","plan":[{"step":"a","status":"completed"},{"step":"b","status":"pending"}]}}"#)
        #expect(older == .item(Item(phase: "started", type: "plan", summary: "1/2 done: [x] a · [ ] b",
                                    plan: [.init(text: "a", completed: true), .init(text: "b", completed: false)])))
    }
}
