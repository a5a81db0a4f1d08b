.PHONY: test build demo console bench soak failover
test:
	scripts/test.sh
build:
	scripts/deps.sh && swift build -c release
demo:
	scripts/demo.sh
# The operator console on the same database as the demo: prints a fresh operator token, then serves
# http://127.0.0.1:8080/ until Ctrl-C (docs/console.md).
console:
	scripts/deps.sh && swift build -c release --product baton
	@echo "operator token for the console (shown once):"
	@.build/release/baton tokens create console-$$(date +%s) --role operator
	@echo "open http://127.0.0.1:8080/ and sign in with it; Ctrl-C stops the server"
	.build/release/baton serve
bench:
	scripts/bench.sh
soak:
	scripts/soak.sh --runs 1000 --kill-for 180
failover:
	scripts/failover.sh
