.PHONY: test build demo bench
test:
	scripts/test.sh
build:
	scripts/deps.sh && swift build -c release
demo:
	scripts/demo.sh
bench:
	scripts/bench.sh
