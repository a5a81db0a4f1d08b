.PHONY: test build demo bench
test:
	scripts/test.sh
build:
	scripts/deps.sh && swift build -c release
bench:
	scripts/bench.sh
