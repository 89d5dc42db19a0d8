"""Draft review requests, free of Rasa: field validators, message parsing, the conversation, storage and export.

Modules: ``validators`` (one function per field), ``parsing`` (fields out of a message), ``intake`` (one
message's fields read and saved), ``messages`` (what a message is: whose, what it names, answer or interruption),
``conversation`` (each turn of the draft conversation, as values), ``texts`` (the sentences about a draft),
``models`` and ``repository`` (SQL storage with an audit trail), ``export`` (FHIR PAS-shaped bundle). Their
tables are made by the migrations (``priorauth.schema``).
"""
