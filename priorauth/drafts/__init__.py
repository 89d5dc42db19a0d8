"""Draft review requests, free of Rasa: field validators, message parsing, storage and export.

Modules: ``validators`` (one function per field), ``parsing`` (fields out of a message),
``models`` and ``repository`` (SQL storage with an audit trail), ``export`` (FHIR PAS-shaped
bundle). Their tables are made by the migrations (``priorauth.schema``).
"""
