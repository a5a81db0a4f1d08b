.PHONY: test build demo bench soak failover
test:
	scripts/test.sh
build:
	scripts/deps.sh && swift build -c release
demo:
	scripts/demo.sh
bench:
	scripts/bench.sh
soak:
	scripts/soak.sh --runs 1000 --kill-for 180
failover:
	scripts/failover.sh
