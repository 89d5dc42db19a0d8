"""Rasa-free core of the prior-authorization assistant: knowledge base, rules, drafts."""
