"""Versioned prompt files; see nativa.agent.prompts module loader."""
