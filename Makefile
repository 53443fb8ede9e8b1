# Common commands. Variables can be overridden from the environment or the command line:
#   make image PLATFORMS=linux/amd64,linux/arm64,linux/arm/v7 REGISTRY=localhost:5000
PLATFORMS  ?= linux/amd64,linux/arm64
REGISTRY   ?= localhost:5000
REPOSITORY ?= arch-server
TAG        ?= latest
IMAGE      ?= $(REGISTRY)/$(REPOSITORY):$(TAG)
CARGO      ?= cargo
MULTIARCH  ?= $(CARGO) run --release --quiet -p multiarch --

.PHONY: help build test dist image push verify inspect demo registry lint clean install-plugin

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## Build arch-server and multiarch
	$(CARGO) build --release --workspace

test: ## Set up the test bed and run every test
	scripts/test.sh

dist: ## Cross-compile arch-server for each platform into dist/<arch>/
	scripts/build-dist.sh $(subst $(,), ,$(PLATFORMS))

image: dist ## Build the multi-platform image (not pushed)
	$(MULTIARCH) build --tag $(IMAGE) --platform $(PLATFORMS) --build-context build=dist .

push: dist registry ## Build and push the multi-platform image
	$(MULTIARCH) build --tag $(IMAGE) --platform $(PLATFORMS) --build-context build=dist --push .

registry: ## Start the local registry (registry.yml)
	$(MULTIARCH) registry up

inspect: ## Show the pushed image's index
	$(MULTIARCH) inspect $(IMAGE)

verify: ## Prove every platform of the pushed image holds what the index claims
	$(MULTIARCH) verify $(IMAGE)

demo: dist ## The whole story: multiarch demo
	$(MULTIARCH) demo --binaries dist --platform $(PLATFORMS)

install-plugin: ## Install multiarch as the Docker CLI plugin `docker multiarch`
	$(CARGO) build --release --quiet -p multiarch
	target/release/multiarch plugin install

lint: ## Lint the Dockerfile, the pipelines and registry.yml
	scripts/lint-pipelines.sh

clean: ## Remove build outputs
	$(CARGO) clean
	rm -rf dist

, := ,
