#!/bin/bash
# Stand-in for `codex exec --json`: reads the prompt on stdin, writes Codex-format JSONL, edits a file in
# its working directory. MODE=hang starts a grandchild and hangs; EXIT=n exits with n.
prompt=$(cat)
echo '{"type":"thread.started","thread_id":"thread-standin-1"}'
echo '{"type":"turn.started"}'
printf '%s\n' "$prompt" > agent-wrote.txt
echo '{"type":"item.completed","item":{"id":"item_1","type":"file_change","changes":[{"path":"agent-wrote.txt","kind":"add"}],"status":"completed"}}'
echo "{\"type\":\"item.completed\",\"item\":{\"id\":\"item_2\",\"type\":\"agent_message\",\"text\":\"secret=[${SECRET_TEST_VAR:-}] home=[${HOME:-}]\"}}"
echo "diagnostics on stderr" >&2
if [ "${MODE:-}" = hang ]; then
  sleep 300 &
  echo $! > grandchild.pid
  sleep 300
fi
echo '{"type":"turn.completed","usage":{"input_tokens":10,"cached_input_tokens":0,"output_tokens":5}}'
exit "${EXIT:-0}"
