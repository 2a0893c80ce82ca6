"""Agents: the self-correcting code agent (`CodeAgent`) and the tool-using agent (`nativa.agent.tool_agent.ToolAgent`).

The tool agent is imported from its module, not re-exported here, so that code-only callers do not load the
tools, the intent parser and their dependencies.
"""

from nativa.agent.code_agent import CodeAgent
from nativa.agent.result import AgentResult, Attempt

__all__ = ["AgentResult", "Attempt", "CodeAgent"]
