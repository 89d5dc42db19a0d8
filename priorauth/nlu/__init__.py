"""Rule-based entity matching built from the knowledge base (spaCy tokenizer and PhraseMatcher)."""
