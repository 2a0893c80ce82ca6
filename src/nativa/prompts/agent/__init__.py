"""The agent's and the intent parser's prompt files; read them with `nativa.prompts.load_prompt(name)`."""
