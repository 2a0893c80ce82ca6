"""Intent: what a request asks for, decided by rules first and a schema-constrained model second.

    from nativa.intent import Intent, IntentParser, IntentContext, Rule
    intent = IntentParser(model=model).parse(question, IntentContext.from_tools(tools))
    if intent.needs_clarification:
        print(intent.question)

The parser's prompt lives with the other prompts, in `nativa/prompts/agent/intent_system.txt`.
"""

from nativa.intent.model import INTENT_KINDS, TOOL_KINDS, Intent, IntentKind
from nativa.intent.parser import IntentContext, IntentParser
from nativa.intent.rules import DEFAULT_RULES, Rule, load_rules

__all__ = ["DEFAULT_RULES", "INTENT_KINDS", "TOOL_KINDS", "Intent", "IntentContext", "IntentKind", "IntentParser",
           "Rule", "load_rules"]
