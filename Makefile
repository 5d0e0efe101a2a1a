# The two commands of the README, and the CI entry point.
.PHONY: dev test ci schema migrations
dev:        ## set up and serve on the embedded default (embedded PostgreSQL + memory Redis)
	./scripts/dev
test:       ## install what is missing and run the whole suite
	./scripts/test
ci:         ## what CI runs: real PostgreSQL + Redis, lint, types, schema drift
	./.ci/run
schema:     ## regenerate schema.graphql
	.venv/bin/python -m app.cli export-schema
migrations: ## record model changes as migrations
	.venv/bin/tortoise -c app.infra.db.TORTOISE_ORM makemigrations
