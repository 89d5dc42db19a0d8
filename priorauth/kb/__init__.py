"""The authorization-rules knowledge base: YAML data -> validated records -> SQL tables -> queries."""
