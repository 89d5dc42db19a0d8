"""The action server's thin actions: read slots and entities, ask the core, render."""
